// Shared x86 SIMD kernels (AVX2 + FMA + F16C, 256-bit), included by exactly two files, each compiled
// with its own flags: kernels_avx2.cpp (HB_X86_VNNI 0) and kernels_avx512.cpp (HB_X86_VNNI 1: the
// integer dots use AVX-512 VNNI on 256-bit vectors). Everything is in an anonymous namespace, so
// each including file gets private copies built for its own ISA and nothing can be merged across
// files (or into baseline code) at link time.
//
// gemm works on tiles of R weight rows x T tokens: each weight block is loaded and decoded once
// per tile and reused from registers for T tokens, each activation block once for R rows.
// Arithmetic per output element (fixed, whatever the tile shape, row chunking or token batch):
//   32-element types: per block, 8 int32 lanes of the exact integer dot (lane j = bytes 4j..4j+3
//                     of the block), converted to float and accumulated as
//                     acc = fma(float(lanes), d_w * d_x, acc); Q6_K the same per 256-element
//                     super-block; float types: acc = fma(w, x, acc) over 8 lanes.
//   Finally the 8 lanes are summed as ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)) (+ a scalar fma tail
//   for float types with n % 8 != 0).
// Leftover rows/tokens run smaller instantiations of the same template, so every element goes
// through the same operations in the same order: results are bit-identical for any split.
#pragma once
#if !defined(__x86_64__)
#error "kernels_x86.h is for x86-64 only"
#endif
#if !defined(HB_X86_VNNI)
#error "define HB_X86_VNNI (0 or 1) before including kernels_x86.h"
#endif
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "blocks.h"
#include "kernels_internal.h"

namespace hb {
namespace kern {
namespace {

// Fully unroll the fixed tile loops so accumulators live in registers at any -O level.
#define HB_UNROLL _Pragma("GCC unroll 16")

// Token tiles are processed in groups of this many tokens so their activations stay in L2
// while a group of rows is swept over them.
constexpr int64_t kTokenGroup = 64;

// Weights are streamed with software prefetch: the hardware prefetcher does poorly on several
// interleaved row streams (measured: Q8_0 decode 5 -> 10 GB/s on Zen 3). Each load prefetches the
// same offset a whole number of rows ahead, at least this many bytes.
constexpr size_t kPrefetchBytes = 4096;
// The 8-row layouts are one contiguous stream, which the hardware prefetcher follows; a short
// software lead still helped a little (measured 0 to 8 KiB on Zen 3: 1 KiB best, within noise).
constexpr size_t kPrefetchBytesX8 = 1024;

inline float hsum8(__m256 v) {
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));  // l0+l4 .. l3+l7
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));                                // (l0+l4)+(l2+l6), ..
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

// hsum8 of v[0..7] at once -> (hsum8(v0), hsum8(v2), hsum8(v4), hsum8(v6), hsum8(v1), hsum8(v3),
// hsum8(v5), hsum8(v7)): halves added across pairs of vectors (l0+l4 .. l3+l7), lanes reordered
// to (l0+l4, l2+l6, l1+l5, l3+l7), then two horizontal adds give hsum8's tree in every lane.
inline __m256 hsum8_x8(const __m256* v) {
  __m256 b[4];
  HB_UNROLL
  for (int i = 0; i < 4; ++i) {
    const __m256 lo = _mm256_permute2f128_ps(v[2 * i], v[2 * i + 1], 0x20);  // v[2i].l0..3, v[2i+1].l0..3
    const __m256 hi = _mm256_permute2f128_ps(v[2 * i], v[2 * i + 1], 0x31);  // v[2i].l4..7, v[2i+1].l4..7
    b[i] = _mm256_permute_ps(_mm256_add_ps(lo, hi), 0xD8);
  }
  return _mm256_hadd_ps(_mm256_hadd_ps(b[0], b[1]), _mm256_hadd_ps(b[2], b[3]));
}

inline float half_to_f32(uint16_t h) { return _cvtsh_ss(h); }

// One fp16 scale -> 8 float lanes (broadcast, then one conversion).
inline __m256 half_to_f32x8(uint16_t h) { return _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(h))); }

// Prefetch p + ahead (integer arithmetic: the address may lie past the matrix; prefetches never fault).
// The prefetch helpers are always inlined: a call to one that GCC did not inline early was judged
// free of side effects (pure) and deleted, so the 8-row kernels ran with no prefetch at all.
__attribute__((always_inline)) inline void prefetch_ahead(const void* p, size_t ahead) {
  _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) + ahead), _MM_HINT_T0);
}

inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }

// ---------------------------------------------------------------------------------------------
// Integer dot primitives: the one place the AVX2 and AVX-512 VNNI builds differ. Both compute the
// same exact integers (callers guarantee the maddubs form cannot saturate), so the two ISAs give
// bit-identical gemm results.

// u (32 x uint8) . s (32 x int8) -> 8 int32 lanes, lane j = sum of the products of bytes 4j..4j+3.
inline __m256i dot_u8s8(__m256i u, __m256i s) {
#if HB_X86_VNNI
  return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#elif HB_X86_EMULATE_VNNI
  // Test-only: the VNNI build's arithmetic, emulated exactly with scalar code.
  alignas(32) uint8_t ub[32];
  alignas(32) int8_t sb[32];
  alignas(32) int32_t out[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(ub), u);
  _mm256_store_si256(reinterpret_cast<__m256i*>(sb), s);
  for (int j = 0; j < 8; ++j) {
    out[j] = 0;
    for (int k = 0; k < 4; ++k) out[j] += static_cast<int32_t>(ub[4 * j + k]) * sb[4 * j + k];
  }
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(out));
#else
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

// acc + a (16 x int16) . b (16 x int16) summed in adjacent pairs -> 8 int32 lanes.
inline __m256i dot_i16_acc(__m256i acc, __m256i a, __m256i b) {
#if HB_X86_VNNI
  return _mm256_dpwssd_epi32(acc, a, b);
#else
  return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

// ---------------------------------------------------------------------------------------------
// Tile driver: calls Tile<R', T'>::run for every tile, with R' <= R, T' <= T for the leftovers.

struct GemmArgs {
  int64_t n;
  const uint8_t* w;
  size_t w_stride;
  const uint8_t* x;
  size_t x_stride;
  float* y;
  size_t y_stride;
  size_t prefetch;  // bytes ahead to prefetch weights: a multiple of w_stride
};

template <template <int, int> class Tile, int R, int T>
inline void run_tile(int rr, int tt, const GemmArgs& a) {
  if constexpr (R > 1) {
    if (rr < R) return run_tile<Tile, R - 1, T>(rr, tt, a);
  }
  if constexpr (T > 1) {
    if (tt < T) return run_tile<Tile, R, T - 1>(rr, tt, a);
  }
  Tile<R, T>::run(a);
}

// W (nrows, n) @ Xq (ntok, n)^T -> Y (ntok, nrows) in R x T tiles.
template <template <int, int> class Tile, int R, int T>
void gemm_tiled(int64_t n, const void* w, size_t w_stride, int64_t nrows, const void* xq, size_t x_stride,
                int64_t ntok, float* y, size_t y_stride) {
  const uint8_t* wb = static_cast<const uint8_t*>(w);
  const uint8_t* xb = static_cast<const uint8_t*>(xq);
  const size_t prefetch = w_stride == 0 ? 0 : ((kPrefetchBytes + w_stride - 1) / w_stride) * w_stride;
  for (int64_t g0 = 0; g0 < ntok; g0 += kTokenGroup) {
    const int64_t g1 = min_i64(ntok, g0 + kTokenGroup);
    for (int64_t r0 = 0; r0 < nrows; r0 += R) {
      const int rr = static_cast<int>(min_i64(R, nrows - r0));
      for (int64_t t0 = g0; t0 < g1; t0 += T) {
        const int tt = static_cast<int>(min_i64(T, g1 - t0));
        const GemmArgs a = {n, wb + static_cast<size_t>(r0) * w_stride, w_stride,
                            xb + static_cast<size_t>(t0) * x_stride, x_stride,
                            y + static_cast<size_t>(t0) * y_stride + static_cast<size_t>(r0), y_stride, prefetch};
        run_tile<Tile, R, T>(rr, tt, a);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Activation quantization, bit-identical to the reference (llama.cpp's formats; see kernels_ref.cpp).

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

inline float hmax8(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// 32 floats -> 32 int8 (q = round(clamp(x * id))) in element order; returns their int sum.
inline int quantize32(const float* x, __m256 id, int8_t* q) {
  const __m256 lim = _mm256_set1_ps(127.0f), nlim = _mm256_set1_ps(-127.0f);
  __m256i i32[4];
  HB_UNROLL
  for (int k = 0; k < 4; ++k) {
    __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), id);
    v = _mm256_max_ps(_mm256_min_ps(v, lim), nlim);
    i32[k] = _mm256_cvtps_epi32(v);  // MXCSR default: round to nearest even
  }
  const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(i32[0], i32[1]), _mm256_add_epi32(i32[2], i32[3]));
  // packs interleave 128-bit lanes; the permute restores element order.
  const __m256i p16a = _mm256_packs_epi32(i32[0], i32[1]);
  const __m256i p16b = _mm256_packs_epi32(i32[2], i32[3]);
  __m256i p8 = _mm256_packs_epi16(p16a, p16b);
  p8 = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), p8);
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

inline float round_to_fp16(float v) { return _cvtsh_ss(_cvtss_sh(v, _MM_FROUND_TO_NEAREST_INT)); }

// x (n,) -> ActQ8_32 (n / 32,): d = fp16(amax / 127), q = round(x * (127 / amax)), s = fp16(d_raw * sum q).
inline void quantize_act_q8_32_x86(const float* x, void* xq, int64_t n) {
  ActQ8_32* out = static_cast<ActQ8_32*>(xq);
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* xb = x + b * 32;
    __m256 m = abs_ps(_mm256_loadu_ps(xb));
    HB_UNROLL
    for (int k = 1; k < 4; ++k) m = _mm256_max_ps(abs_ps(_mm256_loadu_ps(xb + 8 * k)), m);
    const float amax = hmax8(m);
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const int sum = quantize32(xb, _mm256_set1_ps(id), out[b].qs);
    out[b].d = round_to_fp16(d);
    out[b].s = round_to_fp16(d * static_cast<float>(sum));
    out[b].sum = sum;
  }
}

// x (n,) -> ActQ8_256 (n / 256,): iscale = -127 / (first element of largest magnitude),
// q = round(iscale * x), d = 1 / iscale.
inline void quantize_act_q8_256_x86(const float* x, void* xq, int64_t n) {
  ActQ8_256* out = static_cast<ActQ8_256*>(xq);
  const __m256i ones8 = _mm256_set1_epi8(1);
  for (int64_t b = 0; b < n / 256; ++b) {
    const float* xb = x + b * 256;
    __m256 m = abs_ps(_mm256_loadu_ps(xb));
    for (int k = 1; k < 32; ++k) m = _mm256_max_ps(abs_ps(_mm256_loadu_ps(xb + 8 * k)), m);
    const float amax = hmax8(m);
    if (amax == 0.0f) {
      __builtin_memset(&out[b], 0, sizeof(ActQ8_256));
      continue;
    }
    // The first element whose magnitude is amax, with its sign.
    float max = amax;
    const __m256 amax8 = _mm256_set1_ps(amax);
    for (int k = 0; k < 32; ++k) {
      const int mask = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(xb + 8 * k)), amax8, _CMP_EQ_OQ));
      if (mask) {
        max = xb[8 * k + __builtin_ctz(static_cast<unsigned>(mask))];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const __m256 idv = _mm256_set1_ps(iscale);
    for (int c = 0; c < 8; ++c) {
      quantize32(xb + 32 * c, idv, out[b].qs + 32 * c);
      // Group sums of 16: maddubs with ones gives pair sums, then madd and in-lane adds.
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(out[b].qs + 32 * c));
      const __m256i pairs = _mm256_maddubs_epi16(ones8, q);                   // 16 x int16, sums of 2
      const __m256i quads = _mm256_madd_epi16(pairs, _mm256_set1_epi16(1));  // 8 x int32, sums of 4
      // lanes 0-3: group 2c (elements 0..15), lanes 4-7: group 2c+1.
      __m128i lo = _mm256_castsi256_si128(quads), hi = _mm256_extracti128_si256(quads, 1);
      lo = _mm_add_epi32(lo, _mm_shuffle_epi32(lo, 0x4e));
      lo = _mm_add_epi32(lo, _mm_shuffle_epi32(lo, 0xb1));
      hi = _mm_add_epi32(hi, _mm_shuffle_epi32(hi, 0x4e));
      hi = _mm_add_epi32(hi, _mm_shuffle_epi32(hi, 0xb1));
      out[b].bsums[2 * c] = static_cast<int16_t>(_mm_cvtsi128_si32(lo));
      out[b].bsums[2 * c + 1] = static_cast<int16_t>(_mm_cvtsi128_si32(hi));
    }
    out[b].d = 1.0f / iscale;
  }
}

// ---------------------------------------------------------------------------------------------
// 32-element block types against ActQ8_32.

struct ActBlock32 {
  __m256i q;    // 32 int8
  __m256 d;     // broadcast scale
  __m256i off;  // types with an offset k: 8 int32 lanes of k * (sum of the lane's 4 activations)
  float s;      // fp16-rounded d * sum(q), for the types with a minimum
};

template <int kOffset>
inline ActBlock32 load_act32(const ActQ8_32* b) {
  ActBlock32 a;
  a.q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qs));
  a.d = _mm256_broadcast_ss(&b->d);
  a.off = kOffset ? dot_u8s8(_mm256_set1_epi8(kOffset), a.q) : _mm256_setzero_si256();
  a.s = b->s;
  return a;
}

// 16 bytes of nibbles -> 32 x uint8 0..15 in element order (low nibbles, then high nibbles).
inline __m256i nibbles32(const uint8_t* qs) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  // Both 128-bit halves hold the 16 bytes; the upper half shifted by 4 gives the high nibbles.
  const __m256i both = _mm256_srlv_epi64(_mm256_broadcastsi128_si256(raw), _mm256_setr_epi64x(0, 0, 4, 4));
  return _mm256_and_si256(both, _mm256_set1_epi8(15));
}

// Bit j of the little-endian uint32 at qh -> 16 in byte j (the 5th bit of Q5_0 / Q5_1 values).
inline __m256i fifth_bits32(const uint8_t* qh) {
  uint32_t v;
  __builtin_memcpy(&v, qh, 4);
  const __m256i bytes = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(v)),
      _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit), _mm256_set1_epi8(16));
}

// Unsigned-value types (Q4_0, Q4_1, Q5_0, Q5_1): weights kept unsigned (maddubs wants an unsigned
// operand); a constant offset k (Q4_0: 8, Q5_0: 16) is removed per lane by subtracting k * sum(x)
// over the same 4 bytes, so the lanes are exact integers. Values <= 31: pair sums <= 2 * 31 * 127.
struct UnsignedW {
  __m256i q;  // 32 x uint8, element order
  __m256 d;
  float m;    // minimum (Q4_1 / Q5_1)
};

struct Q4_0Ops {
  static constexpr size_t kBytes = sizeof(BlockQ4_0);
  static constexpr int kOffset = 8;
  static constexpr bool kHasMin = false;
  using W = UnsignedW;
  static inline W load(const uint8_t* p) {
    const BlockQ4_0* blk = reinterpret_cast<const BlockQ4_0*>(p);
    return {nibbles32(blk->qs), half_to_f32x8(blk->d), 0.0f};
  }
  static inline __m256i dot(const W& w, const ActBlock32& x) { return _mm256_sub_epi32(dot_u8s8(w.q, x.q), x.off); }
};

struct Q4_1Ops {
  static constexpr size_t kBytes = sizeof(BlockQ4_1);
  static constexpr int kOffset = 0;
  static constexpr bool kHasMin = true;
  using W = UnsignedW;
  static inline W load(const uint8_t* p) {
    const BlockQ4_1* blk = reinterpret_cast<const BlockQ4_1*>(p);
    return {nibbles32(blk->qs), half_to_f32x8(blk->d), half_to_f32(blk->m)};
  }
  static inline __m256i dot(const W& w, const ActBlock32& x) { return dot_u8s8(w.q, x.q); }
};

struct Q5_0Ops {
  static constexpr size_t kBytes = sizeof(BlockQ5_0);
  static constexpr int kOffset = 16;
  static constexpr bool kHasMin = false;
  using W = UnsignedW;
  static inline W load(const uint8_t* p) {
    const BlockQ5_0* blk = reinterpret_cast<const BlockQ5_0*>(p);
    return {_mm256_or_si256(nibbles32(blk->qs), fifth_bits32(blk->qh)), half_to_f32x8(blk->d), 0.0f};
  }
  static inline __m256i dot(const W& w, const ActBlock32& x) { return _mm256_sub_epi32(dot_u8s8(w.q, x.q), x.off); }
};

struct Q5_1Ops {
  static constexpr size_t kBytes = sizeof(BlockQ5_1);
  static constexpr int kOffset = 0;
  static constexpr bool kHasMin = true;
  using W = UnsignedW;
  static inline W load(const uint8_t* p) {
    const BlockQ5_1* blk = reinterpret_cast<const BlockQ5_1*>(p);
    return {_mm256_or_si256(nibbles32(blk->qs), fifth_bits32(blk->qh)), half_to_f32x8(blk->d), half_to_f32(blk->m)};
  }
  static inline __m256i dot(const W& w, const ActBlock32& x) { return dot_u8s8(w.q, x.q); }
};

// Signed-value types (Q8_0, IQ4_NL): signed x signed via |w| * (x with w's sign).
// |w| <= 128, |x| <= 127: pair sums <= 2 * 128 * 127 = 32512, no int16 saturation.
struct SignedW {
  __m256i q;    // 32 x int8
  __m256i abs;  // |q| (128 for -128: read as unsigned, still exact)
  __m256 d;
  float m;      // unused
};

struct Q8_0Ops {
  static constexpr size_t kBytes = sizeof(BlockQ8_0);
  static constexpr int kOffset = 0;
  static constexpr bool kHasMin = false;
  using W = SignedW;
  static inline W load(const uint8_t* p) {
    const BlockQ8_0* blk = reinterpret_cast<const BlockQ8_0*>(p);
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs));
    return {q, _mm256_abs_epi8(q), half_to_f32x8(blk->d), 0.0f};
  }
  static inline __m256i dot(const W& w, const ActBlock32& x) { return dot_u8s8(w.abs, _mm256_sign_epi8(x.q, w.q)); }
};

struct IQ4_NLOps {
  static constexpr size_t kBytes = sizeof(BlockIQ4_NL);
  static constexpr int kOffset = 0;
  static constexpr bool kHasMin = false;
  using W = SignedW;
  static inline W load(const uint8_t* p) {
    const BlockIQ4_NL* blk = reinterpret_cast<const BlockIQ4_NL*>(p);
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
    const __m256i q = _mm256_shuffle_epi8(table, nibbles32(blk->qs));  // codebook lookup
    return {q, _mm256_abs_epi8(q), half_to_f32x8(blk->d), 0.0f};
  }
  static inline __m256i dot(const W& w, const ActBlock32& x) { return dot_u8s8(w.abs, _mm256_sign_epi8(x.q, w.q)); }
};

// Per element: acc = fma(float(lanes), d_w * d_x, acc) per block; types with a minimum also keep
// msum = fma(m_w, s_x, msum) per block and end with hsum8(acc) + msum.
template <class Ops>
struct Tile32 {
  template <int R, int T>
  struct Of {
    // W (R, n) rows w_stride apart @ Xq (T, n) -> Y (T, R)
    static void run(const GemmArgs& a) {
      __m256 acc[R][T];
      __m128 msum[R][T];
      HB_UNROLL
      for (int r = 0; r < R; ++r)
        HB_UNROLL
        for (int t = 0; t < T; ++t) {
          acc[r][t] = _mm256_setzero_ps();
          msum[r][t] = _mm_setzero_ps();
        }
      const int64_t nb = a.n / 32;
      for (int64_t b = 0; b < nb; ++b) {
        typename Ops::W wv[R];
        HB_UNROLL
        for (int r = 0; r < R; ++r) {
          const uint8_t* p = a.w + static_cast<size_t>(r) * a.w_stride + static_cast<size_t>(b) * Ops::kBytes;
          prefetch_ahead(p, a.prefetch);
          wv[r] = Ops::load(p);
        }
        HB_UNROLL
        for (int t = 0; t < T; ++t) {
          const ActBlock32 xv =
              load_act32<Ops::kOffset>(reinterpret_cast<const ActQ8_32*>(a.x + static_cast<size_t>(t) * a.x_stride) + b);
          HB_UNROLL
          for (int r = 0; r < R; ++r) {
            const __m256 isum = _mm256_cvtepi32_ps(Ops::dot(wv[r], xv));
            acc[r][t] = _mm256_fmadd_ps(isum, _mm256_mul_ps(wv[r].d, xv.d), acc[r][t]);
            if constexpr (Ops::kHasMin) msum[r][t] = _mm_fmadd_ss(_mm_set_ss(wv[r].m), _mm_set_ss(xv.s), msum[r][t]);
          }
        }
      }
      HB_UNROLL
      for (int t = 0; t < T; ++t)
        HB_UNROLL
        for (int r = 0; r < R; ++r) {
          float v = hsum8(acc[r][t]);
          if constexpr (Ops::kHasMin) v = _mm_cvtss_f32(_mm_add_ss(_mm_set_ss(v), msum[r][t]));
          a.y[static_cast<size_t>(t) * a.y_stride + static_cast<size_t>(r)] = v;
        }
    }
  };
};

template <int R, int T>
using TileQ4_0 = Tile32<Q4_0Ops>::Of<R, T>;
template <int R, int T>
using TileQ4_1 = Tile32<Q4_1Ops>::Of<R, T>;
template <int R, int T>
using TileQ5_0 = Tile32<Q5_0Ops>::Of<R, T>;
template <int R, int T>
using TileQ5_1 = Tile32<Q5_1Ops>::Of<R, T>;
template <int R, int T>
using TileQ8_0 = Tile32<Q8_0Ops>::Of<R, T>;
template <int R, int T>
using TileIQ4_NL = Tile32<IQ4_NLOps>::Of<R, T>;

// ---------------------------------------------------------------------------------------------
// 8-row interleaved layouts (BlockQ4_0x8, BlockQ8_0x8 in blocks.h). One 32-byte load holds bytes
// 4k..4k+3 of one block of each of 8 rows (4 bytes per 32-bit lane, lane j = row j); multiplied
// with activation bytes 4k..4k+3 broadcast to every lane, the lanes stay per-row partial dots, so
// a block ends with its 8 rows' exact integer dots in one vector and the float work (convert,
// scale, accumulate) is shared by 8 rows, with no horizontal sums. Per output element:
//   per block: isum (exact int32), then acc = fma(float(isum), d_w * d_x, acc), blocks in order.

// acc + u (32 x uint8) . s (32 x int8), lane j += the 4 products of bytes 4j..4j+3.
inline __m256i dpbusd_acc(__m256i acc, __m256i u, __m256i s) {
#if HB_X86_VNNI
  return _mm256_dpbusd_epi32(acc, u, s);
#else
  return _mm256_add_epi32(acc, dot_u8s8(u, s));
#endif
}

// 4 activation bytes broadcast to all 8 lanes.
inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// Pins an accumulator in a register at this point of its chain. GCC otherwise reassociates a
// tile's integer accumulation chains into trees (all products first, then the sums), which needs
// more than 16 registers and spills the accumulators to the stack.
inline void keep_chain(__m256i& v) { __asm__("" : "+x"(v)); }

// Leftover tokens run smaller instantiations of the same template.
template <template <int> class Tile, int T>
inline void run_tile_x8(int tt, const GemmArgs& a) {
  if constexpr (T > 1) {
    if (tt < T) return run_tile_x8<Tile, T - 1>(tt, a);
  }
  Tile<T>::run(a);
}

// W (nrows, n) packed in 8-row groups, w_stride bytes apart @ Xq (ntok, n)^T -> Y (ntok, nrows).
// A group's blocks are contiguous and groups follow each other, so the weights are one stream.
template <template <int> class Tile, int T>
void gemm_x8_tiled(int64_t n, const void* w, size_t w_stride, int64_t nrows, const void* xq, size_t x_stride,
                   int64_t ntok, float* y, size_t y_stride) {
  const uint8_t* wb = static_cast<const uint8_t*>(w);
  const uint8_t* xb = static_cast<const uint8_t*>(xq);
  for (int64_t g0 = 0; g0 < ntok; g0 += kTokenGroup) {
    const int64_t g1 = min_i64(ntok, g0 + kTokenGroup);
    for (int64_t r0 = 0; r0 + 8 <= nrows; r0 += 8) {
      for (int64_t t0 = g0; t0 < g1; t0 += T) {
        const GemmArgs a = {n, wb + static_cast<size_t>(r0 / 8) * w_stride, w_stride,
                            xb + static_cast<size_t>(t0) * x_stride, x_stride,
                            y + static_cast<size_t>(t0) * y_stride + static_cast<size_t>(r0), y_stride,
                            t0 == g0 ? kPrefetchBytesX8 : 0};
        run_tile_x8<Tile, T>(static_cast<int>(min_i64(T, g1 - t0)), a);
      }
    }
  }
}

// Prefetch the bytes [p, p + len) of a block `ahead` bytes ahead (ahead 0: none).
__attribute__((always_inline)) inline void prefetch_block(const void* p, size_t len, size_t ahead) {
  if (!ahead) return;
  for (size_t line = 0; line < len; line += 64) prefetch_ahead(static_cast<const uint8_t*>(p) + line, ahead);
}

// The frame shared by the 8-row tiles: Ops::block<T> adds one block's contribution to the 8 row
// sums of each of T tokens (acc[t], lane r = row r); the frame zeroes, prefetches, finds the
// activation blocks and stores. run is not inlined into the driver: each tile shape gets its own
// register allocation (inlined, GCC kept accumulators on the stack and timings swung 3x with the
// stack address).
template <class Ops>
struct TileX8 {
  template <int T>
  struct Of {
    // W (8, n) packed @ Xq (T, n) -> Y (T, 8)
    __attribute__((noinline)) static void run(const GemmArgs& a) {
      __m256 acc[T];
      HB_UNROLL
      for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
      const typename Ops::Block* wb = reinterpret_cast<const typename Ops::Block*>(a.w);
      const int64_t nb = a.n / Ops::kElems;
      for (int64_t b = 0; b < nb; ++b) {
        prefetch_block(wb + b, sizeof(typename Ops::Block), a.prefetch);
        const typename Ops::Act* xb[T];
        HB_UNROLL
        for (int t = 0; t < T; ++t)
          xb[t] = reinterpret_cast<const typename Ops::Act*>(a.x + static_cast<size_t>(t) * a.x_stride) + b;
        Ops::template block<T>(wb[b], xb, acc);
      }
      HB_UNROLL
      for (int t = 0; t < T; ++t) _mm256_storeu_ps(a.y + static_cast<size_t>(t) * a.y_stride, acc[t]);
    }
  };
};

#define HB_X8_BLOCK(T) template <int T> __attribute__((always_inline)) static inline void block

// The nibble types Q4_0, Q4_1, Q5_0, Q5_1 (BlockQ4_0x8 .. BlockQ5_1x8): u = nibble, | 5th bit << 4
// for Q5 (kFifth), value u - kOffset (Q4_0: 8, Q5_0: 16), plus the row's minimum m (kMin: Q4_1,
// Q5_1): isum = u . x - kOffset * sum(x), acc = fma(float(isum), d * d_x, acc), then for kMin
// acc = fma(m, s_x, acc) (s_x = d_x * sum(x), ActQ8_32::s). The AVX2 build adds the int16 maddubs
// pair sums before widening: Q4 pairs are at most 2 * 15 * 127, so a whole block (8 pairs per
// lane, 30480) stays exact; Q5 pairs reach 2 * 31 * 127, so each piece is widened at once.
#if HB_X86_VNNI || HB_X86_EMULATE_VNNI
constexpr bool kDpbusdDot = true;  // the dot adds straight into int32 lanes
#else
constexpr bool kDpbusdDot = false;
#endif
// With few tokens (decode) a block's dpbusd are split over two accumulators (e.g. low and high
// nibbles), added at the block's end: two chains of 4 dependent dpbusd instead of one of 8, which
// held the decode kernels back (bench/kernels.cpp in cache, Zen 4, 1 thread, medians of 8: Q4_0
// 30.0 -> 33.5 GB/s, IQ4_NL 25.7 -> 31.1, Q5_1 27.3 -> 30.1). Integer sums: the same result in any
// order. Prefill tiles (T > 2) have the tokens' chains to overlap and keep the registers.
template <int T>
constexpr bool kTwoChains = kDpbusdDot && T <= 2;
template <class BlockX8, bool kFifth, int kOffset, bool kMin>
struct NibbleX8Ops {
  using Block = BlockX8;
  using Act = ActQ8_32;
  static constexpr int kElems = 32;
  static constexpr bool kInt16Block = !kFifth && !kDpbusdDot;
  HB_X8_BLOCK(T)(const Block& w, const Act* const (&xb)[T], __m256 (&acc)[T]) {
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256i isum[T], isum2[T];  // isum2: the second chain (kTwoChains)
    HB_UNROLL
    for (int t = 0; t < T; ++t) isum[t] = isum2[t] = _mm256_setzero_si256();
    HB_UNROLL
    for (int k = 0; k < 4; ++k) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs + 32 * k));
      __m256i lo = _mm256_and_si256(raw, m4);                         // elements 4k..4k+3
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);  // elements 16+4k..
      if constexpr (kFifth) {
        // Bit k (element 4k+i) and bit 4+k (element 16+4k+i) of each byte moved to bit 4.
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qh));
        const __m256i bit4 = _mm256_set1_epi8(0x10);
        lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(qh, 4 - k), bit4));
        hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_srli_epi16(qh, k), bit4));
      }
      HB_UNROLL
      for (int t = 0; t < T; ++t) {
        if constexpr (kDpbusdDot) {
          __m256i& high = kTwoChains<T> ? isum2[t] : isum[t];
          isum[t] = dpbusd_acc(isum[t], lo, bcast4(xb[t]->qs + 4 * k));
          high = dpbusd_acc(high, hi, bcast4(xb[t]->qs + 16 + 4 * k));
          if constexpr (kTwoChains<T>) keep_chain(isum2[t]);
        } else {
          const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, bcast4(xb[t]->qs + 4 * k)),
                                             _mm256_maddubs_epi16(hi, bcast4(xb[t]->qs + 16 + 4 * k)));
          isum[t] = kInt16Block ? _mm256_add_epi16(isum[t], p)
                                : _mm256_add_epi32(isum[t], _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
        }
        keep_chain(isum[t]);
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.d)));
    HB_UNROLL
    for (int t = 0; t < T; ++t) {
      if constexpr (kTwoChains<T>) isum[t] = _mm256_add_epi32(isum[t], isum2[t]);
      if constexpr (kInt16Block) isum[t] = _mm256_madd_epi16(isum[t], _mm256_set1_epi16(1));
      if constexpr (kOffset != 0) {
        // kOffset * sum broadcast from memory (one load) and shifted: set1_epi32(kOffset * sum)
        // compiled to a scalar load, shift, move and broadcast, in the inner loop of every tile.
        static_assert(kOffset == 8 || kOffset == 16, "offsets are powers of two");
        const __m256i sum = _mm256_castps_si256(_mm256_broadcast_ss(reinterpret_cast<const float*>(&xb[t]->sum)));
        isum[t] = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(sum, kOffset == 8 ? 3 : 4));
      }
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, _mm256_broadcast_ss(&xb[t]->d)), acc[t]);
      if constexpr (kMin) {
        const __m256 mw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.m)));
        acc[t] = _mm256_fmadd_ps(mw, _mm256_broadcast_ss(&xb[t]->s), acc[t]);
      }
    }
  }
};
using Q4_0x8Ops = NibbleX8Ops<BlockQ4_0x8, false, 8, false>;
using Q4_1x8Ops = NibbleX8Ops<BlockQ4_1x8, false, 0, true>;
using Q5_0x8Ops = NibbleX8Ops<BlockQ5_0x8, true, 16, false>;
using Q5_1x8Ops = NibbleX8Ops<BlockQ5_1x8, true, 0, true>;

// isum - 128 * sum(x) in every lane: takes off the +128 of weights made unsigned for dpbusd
// (sum(x) = ActQ8_32::sum, exact; |isum| <= 255 * 127 * 32, far inside int32).
__attribute__((always_inline)) inline __m256i offset_sum128(__m256i isum, const ActQ8_32* x) {
  const __m256i sum = _mm256_castps_si256(_mm256_broadcast_ss(reinterpret_cast<const float*>(&x->sum)));
  return _mm256_sub_epi32(isum, _mm256_slli_epi32(sum, 7));
}

// IQ4_NL x8: nibbles looked up in the codebook (signed), then as Q8_0: |w| . (x with w's sign),
// |w| <= 127 so a maddubs pair is at most 32258 and is widened at once.
struct IQ4_NLx8Ops {
  using Block = BlockIQ4_NLx8;
  using Act = ActQ8_32;
  static constexpr int kElems = 32;
  HB_X8_BLOCK(T)(const Block& w, const Act* const (&xb)[T], __m256 (&acc)[T]) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
    __m256i isum[T], isum2[T];  // isum2: the second chain (kTwoChains)
    HB_UNROLL
    for (int t = 0; t < T; ++t) isum[t] = isum2[t] = _mm256_setzero_si256();
    HB_UNROLL
    for (int k = 0; k < 4; ++k) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs + 32 * k));
      if constexpr (kDpbusdDot) {
        // The codebook + 128 (unsigned): u . x = w . x + 128 sum(x), exact in int32, so the
        // per-token sign fix-up goes and 128 sum(x) comes off once per block (offset_sum128).
        const __m256i utable = _mm256_xor_si256(table, _mm256_set1_epi8(-128));
        const __m256i lo = _mm256_shuffle_epi8(utable, _mm256_and_si256(raw, m4));
        const __m256i hi = _mm256_shuffle_epi8(utable, _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4));
        HB_UNROLL
        for (int t = 0; t < T; ++t) {
          __m256i& high = kTwoChains<T> ? isum2[t] : isum[t];
          isum[t] = dpbusd_acc(isum[t], lo, bcast4(xb[t]->qs + 4 * k));
          high = dpbusd_acc(high, hi, bcast4(xb[t]->qs + 16 + 4 * k));
          keep_chain(isum[t]);
          if constexpr (kTwoChains<T>) keep_chain(isum2[t]);
        }
      } else {
        const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(raw, m4));
        const __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4));
        const __m256i alo = _mm256_abs_epi8(lo), ahi = _mm256_abs_epi8(hi);
        HB_UNROLL
        for (int t = 0; t < T; ++t) {
          isum[t] = dpbusd_acc(isum[t], alo, _mm256_sign_epi8(bcast4(xb[t]->qs + 4 * k), lo));
          isum[t] = dpbusd_acc(isum[t], ahi, _mm256_sign_epi8(bcast4(xb[t]->qs + 16 + 4 * k), hi));
          keep_chain(isum[t]);
        }
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.d)));
    HB_UNROLL
    for (int t = 0; t < T; ++t) {
      if constexpr (kTwoChains<T>) isum[t] = _mm256_add_epi32(isum[t], isum2[t]);
      if constexpr (kDpbusdDot) isum[t] = offset_sum128(isum[t], xb[t]);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, _mm256_broadcast_ss(&xb[t]->d)), acc[t]);
    }
  }
};

// Q8_0: signed x signed as |w| . (x with w's sign); |w| <= 128, |x| <= 127, so a maddubs pair
// is at most 32512 and is widened at once.
struct Q8_0x8Ops {
  using Block = BlockQ8_0x8;
  using Act = ActQ8_32;
  static constexpr int kElems = 32;
  HB_X8_BLOCK(T)(const Block& w, const Act* const (&xb)[T], __m256 (&acc)[T]) {
    __m256i isum[T], isum2[T];  // isum2: the odd pieces' chain (kTwoChains)
    HB_UNROLL
    for (int t = 0; t < T; ++t) isum[t] = isum2[t] = _mm256_setzero_si256();
    HB_UNROLL
    for (int k = 0; k < 8; ++k) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs + 32 * k));
      if constexpr (kDpbusdDot) {
        // q + 128 as unsigned (q ^ 0x80), as for IQ4_NL above: no per-token sign fix-up.
        const __m256i u = _mm256_xor_si256(q, _mm256_set1_epi8(-128));
        HB_UNROLL
        for (int t = 0; t < T; ++t) {
          __m256i& chain = kTwoChains<T> && k % 2 ? isum2[t] : isum[t];
          chain = dpbusd_acc(chain, u, bcast4(xb[t]->qs + 4 * k));
          keep_chain(chain);
        }
      } else {
        const __m256i aq = _mm256_abs_epi8(q);
        HB_UNROLL
        for (int t = 0; t < T; ++t) {
          isum[t] = dpbusd_acc(isum[t], aq, _mm256_sign_epi8(bcast4(xb[t]->qs + 4 * k), q));
          keep_chain(isum[t]);
        }
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.d)));
    HB_UNROLL
    for (int t = 0; t < T; ++t) {
      if constexpr (kTwoChains<T>) isum[t] = _mm256_add_epi32(isum[t], isum2[t]);
      if constexpr (kDpbusdDot) isum[t] = offset_sum128(isum[t], xb[t]);
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, _mm256_broadcast_ss(&xb[t]->d)), acc[t]);
    }
  }
};

// 8 uint8 per-row values (row r at p[r]) -> 16 int16 lanes, lanes 2r and 2r+1 = row r's
// (madd with a vector whose lanes 2r, 2r+1 hold row r's pair sums multiplies them by it).
// (Bytes doubled with a shuffle: GCC compiled unpacklo(v, v) of an 8-byte load to a stack store
// and reload.)
inline __m128i dup_bytes8(const void* p) {
  const __m128i dup = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  return _mm_shuffle_epi8(_mm_loadl_epi64(static_cast<const __m128i*>(p)), dup);
}
inline __m256i row_scales_u8(const uint8_t* p) { return _mm256_cvtepu8_epi16(dup_bytes8(p)); }
// 8 uint8 per-row values -> 8 int32 lanes (lane r = row r's), i.e. int16 pairs (value, 0): a
// dpwssd (madd) with int32 lanes whose values fit int16 multiplies each by its row's value.
inline __m256i row_scales_u32(const uint8_t* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// The minimum term of Q4_K / Q5_K x8: msum = sum_j m_j * bx_j per row (bx_j = bsums[2j] +
// bsums[2j+1]), acc = fma(float(isum), d * d_x, acc), acc = fnmadd(float(msum), dmin * d_x, acc).
template <class Block, int T>
__attribute__((always_inline)) inline void k4_x8_finish(const Block& w, const ActQ8_256* const (&xb)[T],
                                                        const __m256i (&isum)[T], __m256 (&acc)[T]) {
  const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.d)));
  const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.dmin)));
  auto mins = [&](int i) { return _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.mins[i]))); };
  HB_UNROLL
  for (int t = 0; t < T; ++t) {
    // bx_0..bx_7 as int16; pairs (bx_2i, bx_2i+1) broadcast against each row's (m_2i, m_2i+1).
    const __m128i bx = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xb[t]->bsums)),
                                      _mm_loadu_si128(reinterpret_cast<const __m128i*>(xb[t]->bsums + 8)));
    __m256i msum = _mm256_madd_epi16(mins(0), _mm256_broadcastd_epi32(bx));
    msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mins(1), _mm256_broadcastd_epi32(_mm_shuffle_epi32(bx, 0x55))));
    msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mins(2), _mm256_broadcastd_epi32(_mm_shuffle_epi32(bx, 0xaa))));
    msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mins(3), _mm256_broadcastd_epi32(_mm_shuffle_epi32(bx, 0xff))));
    const __m256 dx = _mm256_broadcast_ss(&xb[t]->d);
    acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, dx), acc[t]);
    acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmin, dx), acc[t]);
  }
}

// Q4_K x8 (BlockQ4_Kx8): per sub-block j of 32 elements and row, s_j = u . x (u = nibble 0..15)
// from 8 maddubs added in int16 (at most 8 * 2 * 15 * 127 = 30480: exact), then
//   isum = sum_j sc_j * s_j (madd of the pair sums with the row's scale), and the minimum term of
//   k4_x8_finish -- the reference's integers, no horizontal sums.
struct Q4_Kx8Ops {
  using Block = BlockQ4_Kx8;
  using Act = ActQ8_256;
  static constexpr int kElems = 256;
  HB_X8_BLOCK(T)(const Block& w, const Act* const (&xb)[T], __m256 (&acc)[T]) {
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256i isum[T];
    HB_UNROLL
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    HB_UNROLL
    for (int j = 0; j < 8; ++j) {
      const int c = j / 2, shift = 4 * (j % 2);
      // The row scales as int16 pairs for the madd of maddubs pair sums (u <= 15: 8 pieces add up
      // to at most 30480 in int16), or with VNNI (scale, 0) pairs for one dpwssd per half
      // sub-block of dpbusd dots (|u . x| <= 16 * 15 * 127 fits int16): 10 instructions per token
      // and sub-block where the maddubs form takes 18.
      const __m256i sc = kDpbusdDot ? row_scales_u32(w.scales[j]) : row_scales_u8(w.scales[j]);
      __m256i s16[T];
      HB_UNROLL
      for (int kk = 0; kk < 8; ++kk) {
        const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs + 32 * (8 * c + kk)));
        const __m256i u = _mm256_and_si256(_mm256_srli_epi16(raw, shift), m4);
        HB_UNROLL
        for (int t = 0; t < T; ++t) {
          const __m256i xv = bcast4(xb[t]->qs + 32 * j + 4 * kk);
          if constexpr (kDpbusdDot) {
            s16[t] = dpbusd_acc(kk % 4 ? s16[t] : _mm256_setzero_si256(), u, xv);
            keep_chain(s16[t]);
            if (kk % 4 == 3) {
              isum[t] = dot_i16_acc(isum[t], s16[t], sc);
              keep_chain(isum[t]);
            }
          } else {
            s16[t] = kk ? _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(u, xv)) : _mm256_maddubs_epi16(u, xv);
            keep_chain(s16[t]);
          }
        }
      }
      if constexpr (!kDpbusdDot)
        HB_UNROLL
        for (int t = 0; t < T; ++t) {
          isum[t] = dot_i16_acc(isum[t], s16[t], sc);
          keep_chain(isum[t]);
        }
    }
    k4_x8_finish<Block, T>(w, xb, isum, acc);
  }
};

// Bits [from, from + width) of each byte moved to bits [to, to + width), the rest cleared
// (16-bit shifts: the bits a shift carries across bytes are masked off).
template <int From, int To, int Width>
inline __m256i move_bits(__m256i v) {
  const __m256i mask = _mm256_set1_epi8(static_cast<char>(((1 << Width) - 1) << To));
  if constexpr (From < To) v = _mm256_slli_epi16(v, To - From);
  if constexpr (From > To) v = _mm256_srli_epi16(v, From - To);
  return _mm256_and_si256(v, mask);
}

// Q5_K x8 (BlockQ5_Kx8): as Q4_K with u = nibble | fifth bit << 4 (0..31). A maddubs pair is at
// most 2 * 31 * 127 = 7874, so 4 are added in int16 (31496: exact) before each madd.
struct Q5_Kx8Ops {
  using Block = BlockQ5_Kx8;
  using Act = ActQ8_256;
  static constexpr int kElems = 256;
  HB_X8_BLOCK(T)(const Block& w, const Act* const (&xb)[T], __m256 (&acc)[T]) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m256i bit4 = _mm256_set1_epi8(0x10);
    __m256i isum[T];
    HB_UNROLL
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    HB_UNROLL
    for (int j = 0; j < 8; ++j) {
      // The row scales as int16 pairs (madd of maddubs pair sums), or with VNNI (scale, 0) pairs
      // (dpwssd of int32 dots that fit int16).
      const __m256i sc = kDpbusdDot ? row_scales_u32(w.scales[j]) : row_scales_u8(w.scales[j]);
      HB_UNROLL
      for (int half = 0; half < 2; ++half) {
        __m256i s16[T];
        HB_UNROLL
        for (int t = 0; t < T; ++t) s16[t] = _mm256_setzero_si256();
        HB_UNROLL
        for (int kk = 4 * half; kk < 4 * half + 4; ++kk) {
          const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs + 32 * (8 * (j / 2) + kk)));
          const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(raw, 4 * (j % 2)), m4);
          // Bit j of each qh byte moved to bit 4 (shift counts are constants once unrolled).
          const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qh + 32 * kk));
          const __m256i hi = _mm256_and_si256(j < 4 ? _mm256_slli_epi16(qh, 4 - j) : _mm256_srli_epi16(qh, j - 4), bit4);
          const __m256i u = _mm256_or_si256(lo, hi);
          HB_UNROLL
          for (int t = 0; t < T; ++t) {
            if constexpr (kDpbusdDot) {
              // VNNI: pairs of pieces (8 elements, |u . x| <= 8 * 31 * 127: fits int16) by dpbusd
              // into int32, each pair scaled by one dpwssd with (scale, 0) pairs.
              s16[t] = dpbusd_acc(kk % 2 ? s16[t] : _mm256_setzero_si256(), u, bcast4(xb[t]->qs + 32 * j + 4 * kk));
              keep_chain(s16[t]);
              if (kk % 2) {
                isum[t] = dot_i16_acc(isum[t], s16[t], sc);
                keep_chain(isum[t]);
              }
            } else {
              s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(u, bcast4(xb[t]->qs + 32 * j + 4 * kk)));
              keep_chain(s16[t]);
            }
          }
        }
        if constexpr (!kDpbusdDot)
          HB_UNROLL
          for (int t = 0; t < T; ++t) {
            isum[t] = dot_i16_acc(isum[t], s16[t], sc);
            keep_chain(isum[t]);
          }
      }
    }
    k4_x8_finish<Block, T>(w, xb, isum, acc);
  }
};

// 8 int8 per-row values (row r at p[r]) -> 16 int16 lanes, lanes 2r and 2r+1 = row r's.
inline __m256i row_scales_i8(const int8_t* p) { return _mm256_cvtepi8_epi16(dup_bytes8(p)); }

// Q6_K x8 (BlockQ6_Kx8): u = ql nibble | 2 qh bits << 4 (0..63), value u - 32. Each piece k of
// half h gives the 4 vectors of elements 128h + 32s + 4k.. (s < 4, one per 32-element sub-block)
// from 3 loads. Per group g of 16 elements and row, pairs of maddubs are added in int16 (at most
// 2 * 2 * 63 * 127 = 32004: exact) and madd'ed with the row's scale: isum = sum_g sc_g * (u . x)_g;
// the offset comes from the activation group sums: isum -= 32 * sum_g sc_g * bsum_g (madd of each
// row's scale pairs with the broadcast bsum pairs). Then acc = fma(float(isum), d * d_x, acc).
struct Q6_Kx8Ops {
  using Block = BlockQ6_Kx8;
  using Act = ActQ8_256;
  static constexpr int kElems = 256;
  HB_X8_BLOCK(T)(const Block& w, const Act* const (&xb)[T], __m256 (&acc)[T]) {
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256i isum[T], osum[T];
    HB_UNROLL
    for (int t = 0; t < T; ++t) isum[t] = osum[t] = _mm256_setzero_si256();
    HB_UNROLL
    for (int h = 0; h < 2; ++h) {
      HB_UNROLL
      for (int pair = 0; pair < 4; ++pair) {  // pieces 2 * pair, 2 * pair + 1: group 8h + 2s + pair / 2
        __m256i s16[4][T];
        HB_UNROLL
        for (int e = 0; e < 2; ++e) {
          const int k = 2 * pair + e;
          const __m256i ql02 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.q[h][k][0]));
          const __m256i ql13 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.q[h][k][1]));
          const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.q[h][k][2]));
          const __m256i u[4] = {_mm256_or_si256(_mm256_and_si256(ql02, m4), move_bits<0, 4, 2>(qh)),
                                _mm256_or_si256(_mm256_and_si256(ql13, m4), move_bits<2, 4, 2>(qh)),
                                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql02, 4), m4), move_bits<4, 4, 2>(qh)),
                                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql13, 4), m4), move_bits<6, 4, 2>(qh))};
          HB_UNROLL
          for (int sb = 0; sb < 4; ++sb) {
            HB_UNROLL
            for (int t = 0; t < T; ++t) {
              const __m256i p = _mm256_maddubs_epi16(u[sb], bcast4(xb[t]->qs + 128 * h + 32 * sb + 4 * k));
              s16[sb][t] = e == 0 ? p : _mm256_add_epi16(s16[sb][t], p);
              keep_chain(s16[sb][t]);
            }
          }
        }
        HB_UNROLL
        for (int sb = 0; sb < 4; ++sb) {
          const __m256i sc = row_scales_i8(w.scales[8 * h + 2 * sb + pair / 2]);
          HB_UNROLL
          for (int t = 0; t < T; ++t) {
            // dpwssd (VNNI) fuses the madd and the add, but chains its latency: for few tokens
            // (kTwoChains) 32 per super-block on one accumulator, so they keep the add.
            if constexpr (kTwoChains<T>) isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(s16[sb][t], sc));
            else isum[t] = dot_i16_acc(isum[t], s16[sb][t], sc);
            keep_chain(isum[t]);
          }
        }
      }
    }
    HB_UNROLL
    for (int i = 0; i < 8; ++i) {
      // Lanes 2r, 2r+1 = row r's scales of groups 2i, 2i+1.
      // (scales[2i] and scales[2i+1] are 16 contiguous bytes: one load, one shuffle.)
      const __m128i ab = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales[2 * i]));
      const __m128i pairs = _mm_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
      const __m256i sc_pairs = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(ab, pairs));
      HB_UNROLL
      for (int t = 0; t < T; ++t) {
        int32_t bsum_pair;
        __builtin_memcpy(&bsum_pair, xb[t]->bsums + 2 * i, 4);
        osum[t] = _mm256_add_epi32(osum[t], _mm256_madd_epi16(sc_pairs, _mm256_set1_epi32(bsum_pair)));
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.d)));
    HB_UNROLL
    for (int t = 0; t < T; ++t) {
      const __m256i total = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(osum[t], 5));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(dw, _mm256_broadcast_ss(&xb[t]->d)), acc[t]);
    }
  }
};
// Q2_K / Q3_K x8 (BlockQ2_Kx8 / BlockQ3_Kx8). Per half n of the super-block, 2-bit field j and
// 4-byte piece kk: u = (qs piece >> 2j) & 3, for Q3_K | (hmask piece kk's bit 4n + j) << 2, the
// elements 128n + 32j + 4kk + i, of group g = 8n + 2j + kk / 4. Per group and row, 4 maddubs
// added in int16 (Q3_K u <= 7: at most 4 * 2 * 7 * 127 = 7112), then isum += sc_g * that (madd
// with the row's scale); with VNNI, 4 dpbusd into int32 and one dpwssd with the scale (half the
// instructions: in cache, Zen 4, 1 thread, medians of 8, Q2_K decode 100 -> 115 GOP/s and
// prefill 156 -> 163, Q3_K 83 -> 87 and 139 -> 162). Then per row msum = sum_g v_g * bsums[g] (madd of group pairs), with v
// Q2_K's minimum, Q3_K's scale: Q2_K acc = fma(float(isum), d * d_x, acc) then fnmadd(float(msum),
// dmin * d_x); Q3_K's values are u - 4, so acc = fma(float(isum - 4 msum), d * d_x, acc) -- the
// reference's integers.
template <bool kQ3>
struct K2x8Ops {
  using Block = std::conditional_t<kQ3, BlockQ3_Kx8, BlockQ2_Kx8>;
  using Act = ActQ8_256;
  static constexpr int kElems = 256;
  // Group g's scale per row as 16 int16 lanes (2r and 2r + 1 = row r's).
  static inline __m256i group_scales(const Block& w, int g) {
    const __m128i even = _mm_setr_epi8(0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14);
    const __m128i odd = _mm_setr_epi8(1, 1, 3, 3, 5, 5, 7, 7, 9, 9, 11, 11, 13, 13, 15, 15);
    const __m128i v = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales[g / 2])), g % 2 ? odd : even);
    if constexpr (kQ3) return _mm256_cvtepi8_epi16(v);
    else return _mm256_cvtepu8_epi16(_mm_and_si128(v, _mm_set1_epi8(15)));
  }
  // Group g's scale per row as 8 int32 lanes holding (scale, 0) as int16 pairs: a madd (dpwssd)
  // with a lane whose int32 value fits int16 multiplies that value by the scale.
  static inline __m256i group_scales32(const Block& w, int g) {
    const __m128i pick = g % 2 ? _mm_setr_epi8(1, 3, 5, 7, 9, 11, 13, 15, -1, -1, -1, -1, -1, -1, -1, -1)
                               : _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, -1, -1, -1, -1, -1, -1, -1, -1);
    const __m128i v = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales[g / 2])), pick);
    if constexpr (kQ3) return _mm256_and_si256(_mm256_cvtepi8_epi32(v), _mm256_set1_epi32(0xffff));
    else return _mm256_cvtepu8_epi32(_mm_and_si128(v, _mm_set1_epi8(15)));
  }
  // Group pair i's minimums (Q2_K) or scales (Q3_K) as 16 int16 lanes (2r + e = group 2i + e's).
  static inline __m256i pair_values(const Block& w, int i) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales[i]));
    if constexpr (kQ3) return _mm256_cvtepi8_epi16(v);
    else return _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(15)));
  }
  HB_X8_BLOCK(T)(const Block& w, const Act* const (&xb)[T], __m256 (&acc)[T]) {
    const __m256i m2 = _mm256_set1_epi8(3);
    __m256i isum[T];
    HB_UNROLL
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    HB_UNROLL
    for (int n = 0; n < 2; ++n)
      HB_UNROLL
      for (int j = 0; j < 4; ++j)
        HB_UNROLL
        for (int half = 0; half < 2; ++half) {
          // Per token the group's dot: int16 pair sums (maddubs), or with VNNI int32 lanes (dpbusd,
          // |u . x| <= 16 * 7 * 127: fits int16, so one dpwssd with (scale, 0) pairs scales it).
          __m256i s16[T];
          HB_UNROLL
          for (int t = 0; t < T; ++t) s16[t] = _mm256_setzero_si256();
          HB_UNROLL
          for (int kk = 4 * half; kk < 4 * half + 4; ++kk) {
            const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs + 32 * (8 * n + kk)));
            __m256i u = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * j), m2);
            if constexpr (kQ3) {
              const __m256i hm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.hmask + 32 * kk));
              const int m = 4 * n + j;  // the bit moved to bit 2 (shift counts are constants once unrolled)
              const __m256i hb = m < 2 ? _mm256_slli_epi16(hm, 2 - m) : _mm256_srli_epi16(hm, m - 2);
              u = _mm256_or_si256(u, _mm256_and_si256(hb, _mm256_set1_epi8(4)));
            }
            HB_UNROLL
            for (int t = 0; t < T; ++t) {
              const __m256i xv = bcast4(xb[t]->qs + 128 * n + 32 * j + 4 * kk);
              if constexpr (kDpbusdDot) s16[t] = dpbusd_acc(s16[t], u, xv);
              else s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(u, xv));
              keep_chain(s16[t]);
            }
          }
          const int g = 8 * n + 2 * j + half;
          const __m256i sc = kDpbusdDot ? group_scales32(w, g) : group_scales(w, g);
          HB_UNROLL
          for (int t = 0; t < T; ++t) {
            isum[t] = dot_i16_acc(isum[t], s16[t], sc);
            keep_chain(isum[t]);
          }
        }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.d)));
    HB_UNROLL
    for (int t = 0; t < T; ++t) {
      __m256i msum = _mm256_setzero_si256();
      HB_UNROLL
      for (int i = 0; i < 8; ++i) {
        int32_t pair;  // bsums[2i], bsums[2i + 1]
        std::memcpy(&pair, xb[t]->bsums + 2 * i, sizeof(pair));
        msum = _mm256_add_epi32(msum, _mm256_madd_epi16(pair_values(w, i), _mm256_set1_epi32(pair)));
      }
      const __m256 dx = _mm256_broadcast_ss(&xb[t]->d);
      if constexpr (kQ3) {
        const __m256i total = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(msum, 2));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(dw, dx), acc[t]);
      } else {
        const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.dmin)));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, dx), acc[t]);
        acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmin, dx), acc[t]);
      }
    }
  }
};

// IQ4_XS x8 (BlockIQ4_XSx8): per sub-block j of 32 elements and row, the codebook dot
// s_j = w . x and isum = sum_j sc_j * s_j (sc_j = ls_j - 32), the reference's integers, then
// acc = fma(float(isum), d * d_x, acc). AVX2: |w| . (x with w's sign) by maddubs (a pair is at
// most 2 * 127 * 127, so each is widened at once, by the madd with the row's scale). VNNI: the
// codebook + 128 (unsigned) by dpbusd, u . x = s_j + 128 sum_j(x) (sum_j(x) = bsums[2j] +
// bsums[2j+1]), taken off per sub-block before the scale multiplies (|s_j| <= 32 * 255 * 127).
struct IQ4_XSx8Ops {
  using Block = BlockIQ4_XSx8;
  using Act = ActQ8_256;
  static constexpr int kElems = 256;
  HB_X8_BLOCK(T)(const Block& w, const Act* const (&xb)[T], __m256 (&acc)[T]) {
    const __m256i m4 = _mm256_set1_epi8(15);
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
    __m256i isum[T];
    HB_UNROLL
    for (int t = 0; t < T; ++t) isum[t] = _mm256_setzero_si256();
    HB_UNROLL
    for (int j = 0; j < 8; ++j) {
      if constexpr (kDpbusdDot) {
        const __m256i utable = _mm256_xor_si256(table, _mm256_set1_epi8(-128));
        __m256i sj[T], sj2[T];  // sj2: the high nibbles' chain (kTwoChains)
        HB_UNROLL
        for (int t = 0; t < T; ++t) sj[t] = sj2[t] = _mm256_setzero_si256();
        HB_UNROLL
        for (int kk = 0; kk < 4; ++kk) {
          const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs + 32 * (4 * j + kk)));
          const __m256i lo = _mm256_shuffle_epi8(utable, _mm256_and_si256(raw, m4));
          const __m256i hi = _mm256_shuffle_epi8(utable, _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4));
          HB_UNROLL
          for (int t = 0; t < T; ++t) {
            __m256i& high = kTwoChains<T> ? sj2[t] : sj[t];
            sj[t] = dpbusd_acc(sj[t], lo, bcast4(xb[t]->qs + 32 * j + 4 * kk));
            high = dpbusd_acc(high, hi, bcast4(xb[t]->qs + 32 * j + 16 + 4 * kk));
            keep_chain(sj[t]);
            if constexpr (kTwoChains<T>) keep_chain(sj2[t]);
          }
        }
        if constexpr (kTwoChains<T>)
          HB_UNROLL
          for (int t = 0; t < T; ++t) sj[t] = _mm256_add_epi32(sj[t], sj2[t]);
        const __m256i sc = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(w.scales[j])));
        HB_UNROLL
        for (int t = 0; t < T; ++t) {
          const int32_t sx = static_cast<int32_t>(xb[t]->bsums[2 * j]) + xb[t]->bsums[2 * j + 1];
          const __m256i s = _mm256_sub_epi32(sj[t], _mm256_set1_epi32(sx * 128));
          isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(s, sc));
          keep_chain(isum[t]);
        }
      } else {
        const __m256i sc = row_scales_i8(w.scales[j]);
        HB_UNROLL
        for (int kk = 0; kk < 4; ++kk) {
          const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs + 32 * (4 * j + kk)));
          const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(raw, m4));
          const __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4));
          const __m256i alo = _mm256_abs_epi8(lo), ahi = _mm256_abs_epi8(hi);
          HB_UNROLL
          for (int t = 0; t < T; ++t) {
            const __m256i plo = _mm256_maddubs_epi16(alo, _mm256_sign_epi8(bcast4(xb[t]->qs + 32 * j + 4 * kk), lo));
            const __m256i phi = _mm256_maddubs_epi16(ahi, _mm256_sign_epi8(bcast4(xb[t]->qs + 32 * j + 16 + 4 * kk), hi));
            isum[t] = dot_i16_acc(dot_i16_acc(isum[t], plo, sc), phi, sc);
            keep_chain(isum[t]);
          }
        }
      }
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.d)));
    HB_UNROLL
    for (int t = 0; t < T; ++t)
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(dw, _mm256_broadcast_ss(&xb[t]->d)), acc[t]);
  }
};
#undef HB_X8_BLOCK

template <int T>
using TileQ4_0x8 = TileX8<Q4_0x8Ops>::Of<T>;
template <int T>
using TileQ4_1x8 = TileX8<Q4_1x8Ops>::Of<T>;
template <int T>
using TileQ5_0x8 = TileX8<Q5_0x8Ops>::Of<T>;
template <int T>
using TileQ5_1x8 = TileX8<Q5_1x8Ops>::Of<T>;
template <int T>
using TileIQ4_NLx8 = TileX8<IQ4_NLx8Ops>::Of<T>;
template <int T>
using TileQ8_0x8 = TileX8<Q8_0x8Ops>::Of<T>;
template <int T>
using TileQ4_Kx8 = TileX8<Q4_Kx8Ops>::Of<T>;
template <int T>
using TileQ5_Kx8 = TileX8<Q5_Kx8Ops>::Of<T>;
template <int T>
using TileQ6_Kx8 = TileX8<Q6_Kx8Ops>::Of<T>;
template <int T>
using TileIQ4_XSx8 = TileX8<IQ4_XSx8Ops>::Of<T>;
template <int T>
using TileQ2_Kx8 = TileX8<K2x8Ops<false>>::Of<T>;
template <int T>
using TileQ3_Kx8 = TileX8<K2x8Ops<true>>::Of<T>;

// ---------------------------------------------------------------------------------------------
// Super-block types with 16 groups of 16 (Q6_K, Q3_K, Q2_K) against ActQ8_256. Per row and
// super-block the values are unpacked once (unsigned, element order) into a small buffer with
// per-chunk scale vectors; each token then does 8 chunk dots of 32 bytes. All integer parts exact:
//   isum = sum_g sc_g * (u . qx over g) - k * sum_g sc_g * bsum_g   (values u - k; Q6_K k = 32, Q3_K k = 4)
//   msum = sum_g m_g * bsum_g                                        (Q2_K's minimums)
// then acc = fma(float(isum), d * d_x, acc) and, for Q2_K, acc = fnmadd(float(msum), dmin * d_x, acc).

struct K16Row {
  alignas(32) uint8_t q[256];
  __m256i sc[8];   // chunk c: int16 lanes 0-7 = scale[2c], lanes 8-15 = scale[2c+1]
  __m256i sc16;    // the 16 scales as int16
  __m256i mins16;  // the 16 minimums as int16 (Q2_K)
  __m256 d, dmin;
};

// 16 int8 group scales -> the scale vectors of K16Row.
inline void k16_scales(const __m128i s8, K16Row& row) {
  row.sc16 = _mm256_cvtepi8_epi16(s8);
  HB_UNROLL
  for (int c = 0; c < 8; ++c) {
    const __m128i pick = _mm_setr_epi8(2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c, 2 * c + 1, 2 * c + 1, 2 * c + 1,
                                       2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1, 2 * c + 1);
    row.sc[c] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(s8, pick));
  }
}

// Q6_K: u = 6-bit value 0..63 (value - 32).
inline void unpack_q6k(const BlockQ6_K* blk, K16Row& row) {
  const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
  for (int h = 0; h < 2; ++h) {
    const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->ql + 64 * h));
    const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->ql + 64 * h + 32));
    const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh + 32 * h));
    const __m256i c0 = _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30));
    const __m256i c1 = _mm256_or_si256(_mm256_and_si256(qb, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30));
    const __m256i c2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4), _mm256_and_si256(hb, m30));
    const __m256i c3 =
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4), _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
    __m256i* dst = reinterpret_cast<__m256i*>(row.q + 128 * h);
    _mm256_store_si256(dst + 0, c0);
    _mm256_store_si256(dst + 1, c1);
    _mm256_store_si256(dst + 2, c2);
    _mm256_store_si256(dst + 3, c3);
  }
  k16_scales(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->scales)), row);
  row.d = half_to_f32x8(blk->d);
}

// Element e = 128h + 32j + l of Q2_K / Q3_K: 2 low bits at (qs[32h + l] >> 2j) & 3.
inline __m256i two_bits(__m256i qv, int j) { return _mm256_and_si256(_mm256_srli_epi16(qv, 2 * j), _mm256_set1_epi8(3)); }

// Q3_K: u = low 2 bits | hmask bit (4h + j) << 2, 0..7 (value - 4); 6-bit scales minus 32.
inline void unpack_q3k(const BlockQ3_K* blk, K16Row& row) {
  const __m256i hm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->hmask));
  const __m256i four = _mm256_set1_epi8(4);
  __m256i* dst = reinterpret_cast<__m256i*>(row.q);
  for (int h = 0; h < 2; ++h) {
    const __m256i qv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs + 32 * h));
    HB_UNROLL
    for (int j = 0; j < 4; ++j) {
      const __m256i high = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hm, 4 * h + j), 2), four);
      _mm256_store_si256(dst + 4 * h + j, _mm256_or_si256(two_bits(qv, j), high));
    }
  }
  int8_t sc[16];
  for (int g = 0; g < 16; ++g) {
    const int lo = g < 8 ? (blk->scales[g] & 15) : (blk->scales[g - 8] >> 4);
    const int hi = (blk->scales[8 + g % 4] >> (2 * (g / 4))) & 3;
    sc[g] = static_cast<int8_t>((lo | (hi << 4)) - 32);
  }
  k16_scales(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)), row);
  row.d = half_to_f32x8(blk->d);
}

// Q2_K: u = 2 bits 0..3; scales[g] = scale (low nibble) | minimum (high nibble).
inline void unpack_q2k(const BlockQ2_K* blk, K16Row& row) {
  __m256i* dst = reinterpret_cast<__m256i*>(row.q);
  for (int h = 0; h < 2; ++h) {
    const __m256i qv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs + 32 * h));
    HB_UNROLL
    for (int j = 0; j < 4; ++j) _mm256_store_si256(dst + 4 * h + j, two_bits(qv, j));
  }
  const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk->scales));
  const __m128i m4 = _mm_set1_epi8(15);
  k16_scales(_mm_and_si128(packed, m4), row);
  row.mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), m4));
  row.d = half_to_f32x8(blk->d);
  row.dmin = half_to_f32x8(blk->dmin);
}

template <typename Block, void (*unpack)(const Block*, K16Row&), int kOffsetShift, bool kHasMin>
struct TileK16 {
  template <int R, int T>
  struct Of {
    // W (R, n) rows @ Xq (T, n) ActQ8_256 -> Y (T, R)
    static void run(const GemmArgs& a) {
      __m256 acc[R][T];
      HB_UNROLL
      for (int r = 0; r < R; ++r)
        HB_UNROLL
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
      K16Row rows[R];
      const int64_t nsb = a.n / 256;
      for (int64_t b = 0; b < nsb; ++b) {
        HB_UNROLL
        for (int r = 0; r < R; ++r) {
          const Block* blk = reinterpret_cast<const Block*>(a.w + static_cast<size_t>(r) * a.w_stride) + b;
          prefetch_block(blk, sizeof(Block), a.prefetch);
          unpack(blk, rows[r]);
        }
        HB_UNROLL
        for (int t = 0; t < T; ++t) {
          const ActQ8_256* xb = reinterpret_cast<const ActQ8_256*>(a.x + static_cast<size_t>(t) * a.x_stride) + b;
          __m256i isum[R];
          HB_UNROLL
          for (int r = 0; r < R; ++r) isum[r] = _mm256_setzero_si256();
          HB_UNROLL
          for (int c = 0; c < 8; ++c) {
            const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb->qs + 32 * c));
            HB_UNROLL
            for (int r = 0; r < R; ++r) {
              const __m256i qv = _mm256_load_si256(reinterpret_cast<const __m256i*>(rows[r].q + 32 * c));
              // u <= 63: pair sums <= 2 * 63 * 127, no int16 saturation.
              isum[r] = dot_i16_acc(isum[r], _mm256_maddubs_epi16(qv, xv), rows[r].sc[c]);
            }
          }
          const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb->bsums));
          const __m256 dx = _mm256_broadcast_ss(&xb->d);
          HB_UNROLL
          for (int r = 0; r < R; ++r) {
            __m256i is = isum[r];
            if constexpr (kOffsetShift >= 0)  // k * sum_g sc_g * bsum_g
              is = _mm256_sub_epi32(is, _mm256_slli_epi32(_mm256_madd_epi16(rows[r].sc16, bs), kOffsetShift));
            acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_mul_ps(rows[r].d, dx), acc[r][t]);
            if constexpr (kHasMin) {
              const __m256 msum = _mm256_cvtepi32_ps(_mm256_madd_epi16(rows[r].mins16, bs));
              acc[r][t] = _mm256_fnmadd_ps(msum, _mm256_mul_ps(rows[r].dmin, dx), acc[r][t]);
            }
          }
        }
      }
      HB_UNROLL
      for (int t = 0; t < T; ++t)
        HB_UNROLL
        for (int r = 0; r < R; ++r) a.y[static_cast<size_t>(t) * a.y_stride + static_cast<size_t>(r)] = hsum8(acc[r][t]);
    }
  };
};

template <int R, int T>
using TileQ6_K = TileK16<BlockQ6_K, unpack_q6k, 5, false>::Of<R, T>;
template <int R, int T>
using TileQ3_K = TileK16<BlockQ3_K, unpack_q3k, 2, false>::Of<R, T>;
template <int R, int T>
using TileQ2_K = TileK16<BlockQ2_K, unpack_q2k, -1, true>::Of<R, T>;

// ---------------------------------------------------------------------------------------------
// Q4_K / Q5_K against ActQ8_256: 8 groups of 32 unsigned values (0..15 / 0..31), each with a 6-bit
// scale and min. Per row and super-block the values are unpacked once (element order); per token
// the integer parts are exact:
//   isum lanes = sum_g scale_g * (q . qx over group g),  msum lanes = sum_g min_g * sum(qx over g),
// and acc = fma(float(isum), d * d_x, acc), then acc = fnmadd(float(msum), dmin * d_x, acc).

struct KRow {
  alignas(32) uint8_t q[256];
  __m256i sc[8];  // group g's scale in all 16 int16 lanes
  __m256i mins;   // int16 lane k = min of group k / 2 (pairs with the 16 bsums)
  __m256 d, dmin;
};

// 12 packed bytes -> 8 6-bit scales and 8 6-bit mins (GGUF k-quant scale layout).
inline void k4_scales(const uint8_t* packed, KRow& row) {
  uint32_t w[3];
  __builtin_memcpy(w, packed, 12);
  const uint32_t sc_lo = w[0] & 0x3f3f3f3fu;
  const uint32_t mn_lo = w[1] & 0x3f3f3f3fu;
  const uint32_t sc_hi = (w[2] & 0x0f0f0f0fu) | (((w[0] >> 6) & 0x03030303u) << 4);
  const uint32_t mn_hi = ((w[2] >> 4) & 0x0f0f0f0fu) | (((w[1] >> 6) & 0x03030303u) << 4);
  const __m128i sc16 = _mm_cvtepu8_epi16(_mm_setr_epi32(static_cast<int>(sc_lo), static_cast<int>(sc_hi), 0, 0));
  const __m128i mn16 = _mm_cvtepu8_epi16(_mm_setr_epi32(static_cast<int>(mn_lo), static_cast<int>(mn_hi), 0, 0));
  const __m256i sc_both = _mm256_broadcastsi128_si256(sc16);
  HB_UNROLL
  for (int g = 0; g < 8; ++g) {
    const __m256i pick = _mm256_set1_epi16(static_cast<short>((2 * g) | ((2 * g + 1) << 8)));
    row.sc[g] = _mm256_shuffle_epi8(sc_both, pick);
  }
  row.mins = _mm256_set_m128i(_mm_unpackhi_epi16(mn16, mn16), _mm_unpacklo_epi16(mn16, mn16));
}

inline void unpack_q4k(const BlockQ4_K* blk, KRow& row) {
  const __m256i m4 = _mm256_set1_epi8(15);
  __m256i* dst = reinterpret_cast<__m256i*>(row.q);
  HB_UNROLL
  for (int k = 0; k < 4; ++k) {  // 32 bytes: low nibbles = group 2k, high nibbles = group 2k+1
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs + 32 * k));
    _mm256_store_si256(dst + 2 * k, _mm256_and_si256(v, m4));
    _mm256_store_si256(dst + 2 * k + 1, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
  }
  k4_scales(blk->scales, row);
  row.d = half_to_f32x8(blk->d);
  row.dmin = half_to_f32x8(blk->dmin);
}

inline void unpack_q5k(const BlockQ5_K* blk, KRow& row) {
  const __m256i m4 = _mm256_set1_epi8(15), b4 = _mm256_set1_epi8(16);
  const __m256i hv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qh));  // bit g of byte l: element 32g + l
  __m256i* dst = reinterpret_cast<__m256i*>(row.q);
  HB_UNROLL
  for (int k = 0; k < 4; ++k) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk->qs + 32 * k));
    // 5th bit of group g, moved to bit 4 of each byte.
    const __m256i h0 = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hv, 2 * k), 4), b4);
    const __m256i h1 = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hv, 2 * k + 1), 4), b4);
    _mm256_store_si256(dst + 2 * k, _mm256_or_si256(_mm256_and_si256(v, m4), h0));
    _mm256_store_si256(dst + 2 * k + 1, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), h1));
  }
  k4_scales(blk->scales, row);
  row.d = half_to_f32x8(blk->d);
  row.dmin = half_to_f32x8(blk->dmin);
}

template <typename Block, void (*unpack)(const Block*, KRow&)>
struct TileK {
  template <int R, int T>
  struct Of {
    // W (R, n) k-quant rows @ Xq (T, n) ActQ8_256 -> Y (T, R)
    static void run(const GemmArgs& a) {
      __m256 acc[R][T];
      HB_UNROLL
      for (int r = 0; r < R; ++r)
        HB_UNROLL
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
      KRow rows[R];
      const int64_t nsb = a.n / 256;
      for (int64_t b = 0; b < nsb; ++b) {
        HB_UNROLL
        for (int r = 0; r < R; ++r) {
          const Block* blk = reinterpret_cast<const Block*>(a.w + static_cast<size_t>(r) * a.w_stride) + b;
          prefetch_block(blk, sizeof(Block), a.prefetch);
          unpack(blk, rows[r]);
        }
        HB_UNROLL
        for (int t = 0; t < T; ++t) {
          const ActQ8_256* xb = reinterpret_cast<const ActQ8_256*>(a.x + static_cast<size_t>(t) * a.x_stride) + b;
          __m256i isum[R];
          HB_UNROLL
          for (int r = 0; r < R; ++r) isum[r] = _mm256_setzero_si256();
          HB_UNROLL
          for (int g = 0; g < 8; ++g) {
            const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb->qs + 32 * g));
            HB_UNROLL
            for (int r = 0; r < R; ++r) {
              const __m256i qv = _mm256_load_si256(reinterpret_cast<const __m256i*>(rows[r].q + 32 * g));
              // q <= 31: pair sums <= 2 * 31 * 127, no int16 saturation; scale <= 63.
              isum[r] = dot_i16_acc(isum[r], _mm256_maddubs_epi16(qv, xv), rows[r].sc[g]);
            }
          }
          const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb->bsums));
          const __m256 dx = _mm256_broadcast_ss(&xb->d);
          HB_UNROLL
          for (int r = 0; r < R; ++r) {
            const __m256 msum = _mm256_cvtepi32_ps(_mm256_madd_epi16(rows[r].mins, bs));
            acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r]), _mm256_mul_ps(rows[r].d, dx), acc[r][t]);
            acc[r][t] = _mm256_fnmadd_ps(msum, _mm256_mul_ps(rows[r].dmin, dx), acc[r][t]);
          }
        }
      }
      HB_UNROLL
      for (int t = 0; t < T; ++t)
        HB_UNROLL
        for (int r = 0; r < R; ++r) a.y[static_cast<size_t>(t) * a.y_stride + static_cast<size_t>(r)] = hsum8(acc[r][t]);
    }
  };
};

template <int R, int T>
using TileQ4_K = TileK<BlockQ4_K, unpack_q4k>::Of<R, T>;
template <int R, int T>
using TileQ5_K = TileK<BlockQ5_K, unpack_q5k>::Of<R, T>;

// ---------------------------------------------------------------------------------------------
// IQ4_XS against ActQ8_256: 8 groups of 32 codebook values (signed) with signed 6-bit scales.
// Signed x signed via |w| * (x with w's sign); isum = sum_g sc_g * (w . qx over g), exact;
// acc = fma(float(isum), d * d_x, acc).

struct IQ4XSRow {
  alignas(32) int8_t q[256];    // codebook values
  alignas(32) uint8_t qa[256];  // their magnitudes
  __m256i sc[8];                // group g's scale (ls - 32) in all 16 int16 lanes
  __m256 d;
};

inline void unpack_iq4xs(const BlockIQ4_XS* blk, IQ4XSRow& row) {
  const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
  HB_UNROLL
  for (int g = 0; g < 8; ++g) {
    const __m256i v = _mm256_shuffle_epi8(table, nibbles32(blk->qs + 16 * g));
    _mm256_store_si256(reinterpret_cast<__m256i*>(row.q + 32 * g), v);
    _mm256_store_si256(reinterpret_cast<__m256i*>(row.qa + 32 * g), _mm256_abs_epi8(v));
    const int lo = (blk->scales_l[g / 2] >> (4 * (g % 2))) & 15;
    const int hi = (blk->scales_h >> (2 * g)) & 3;
    row.sc[g] = _mm256_set1_epi16(static_cast<short>((lo | (hi << 4)) - 32));
  }
  row.d = half_to_f32x8(blk->d);
}

template <int R, int T>
struct TileIQ4_XS {
  // W (R, n) IQ4_XS rows @ Xq (T, n) ActQ8_256 -> Y (T, R)
  static void run(const GemmArgs& a) {
    __m256 acc[R][T];
    HB_UNROLL
    for (int r = 0; r < R; ++r)
      HB_UNROLL
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
    IQ4XSRow rows[R];
    const int64_t nsb = a.n / 256;
    for (int64_t b = 0; b < nsb; ++b) {
      HB_UNROLL
      for (int r = 0; r < R; ++r) {
        const BlockIQ4_XS* blk = reinterpret_cast<const BlockIQ4_XS*>(a.w + static_cast<size_t>(r) * a.w_stride) + b;
        for (size_t line = 0; line < sizeof(BlockIQ4_XS); line += 64)
          prefetch_ahead(reinterpret_cast<const uint8_t*>(blk) + line, a.prefetch);
        unpack_iq4xs(blk, rows[r]);
      }
      HB_UNROLL
      for (int t = 0; t < T; ++t) {
        const ActQ8_256* xb = reinterpret_cast<const ActQ8_256*>(a.x + static_cast<size_t>(t) * a.x_stride) + b;
        __m256i isum[R];
        HB_UNROLL
        for (int r = 0; r < R; ++r) isum[r] = _mm256_setzero_si256();
        HB_UNROLL
        for (int g = 0; g < 8; ++g) {
          const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb->qs + 32 * g));
          HB_UNROLL
          for (int r = 0; r < R; ++r) {
            const __m256i qv = _mm256_load_si256(reinterpret_cast<const __m256i*>(rows[r].q + 32 * g));
            const __m256i qa = _mm256_load_si256(reinterpret_cast<const __m256i*>(rows[r].qa + 32 * g));
            // |w| <= 127, |x| <= 127: pair sums <= 2 * 127 * 127, no int16 saturation.
            isum[r] = dot_i16_acc(isum[r], _mm256_maddubs_epi16(qa, _mm256_sign_epi8(xv, qv)), rows[r].sc[g]);
          }
        }
        const __m256 dx = _mm256_broadcast_ss(&xb->d);
        HB_UNROLL
        for (int r = 0; r < R; ++r)
          acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r]), _mm256_mul_ps(rows[r].d, dx), acc[r][t]);
      }
    }
    HB_UNROLL
    for (int t = 0; t < T; ++t)
      HB_UNROLL
      for (int r = 0; r < R; ++r) a.y[static_cast<size_t>(t) * a.y_stride + static_cast<size_t>(r)] = hsum8(acc[r][t]);
  }
};

// ---------------------------------------------------------------------------------------------
// Float weights (F32, F16, BF16) against F32 activations.

struct F32Load {
  static constexpr int64_t kBytes = 4;
  static inline __m256 vec(const uint8_t* row, int64_t i) { return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i); }
  static inline float one(const uint8_t* row, int64_t i) { return reinterpret_cast<const float*>(row)[i]; }
};
struct F16Load {
  static constexpr int64_t kBytes = 2;
  static inline __m256 vec(const uint8_t* row, int64_t i) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + i)));
  }
  static inline float one(const uint8_t* row, int64_t i) { return half_to_f32(reinterpret_cast<const uint16_t*>(row)[i]); }
};
struct BF16Load {
  static constexpr int64_t kBytes = 2;
  static inline __m256 vec(const uint8_t* row, int64_t i) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(reinterpret_cast<const uint16_t*>(row) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static inline float one(const uint8_t* row, int64_t i) {
    const uint32_t bits = static_cast<uint32_t>(reinterpret_cast<const uint16_t*>(row)[i]) << 16;
    return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128(static_cast<int>(bits))));
  }
};

template <class Load>
struct TileFloat {
  template <int R, int T>
  struct Of {
    // W (R, n) @ X (T, n) floats -> Y (T, R)
    static void run(const GemmArgs& a) {
      __m256 acc[R][T];
      HB_UNROLL
      for (int r = 0; r < R; ++r)
        HB_UNROLL
        for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
      const int64_t n8 = a.n & ~int64_t(7);
      for (int64_t i = 0; i < n8; i += 8) {
        __m256 wv[R];
        HB_UNROLL
        for (int r = 0; r < R; ++r) {
          const uint8_t* row = a.w + static_cast<size_t>(r) * a.w_stride;
          prefetch_ahead(row + i * Load::kBytes, a.prefetch);
          wv[r] = Load::vec(row, i);
        }
        HB_UNROLL
        for (int t = 0; t < T; ++t) {
          const __m256 xv = _mm256_loadu_ps(reinterpret_cast<const float*>(a.x + static_cast<size_t>(t) * a.x_stride) + i);
          HB_UNROLL
          for (int r = 0; r < R; ++r) acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
        }
      }
      // Lane sums: 8 accumulators at a time when the tile has a multiple of 8 (hsum8_x8: a third
      // of the instructions of 8 hsum8), else one by one; the same tree either way.
      float sums[R][T];
      if constexpr ((R * T) % 8 == 0) {
        HB_UNROLL
        for (int g = 0; g < R * T; g += 8) {
          alignas(32) float out[8];
          _mm256_store_ps(out, hsum8_x8(&acc[0][0] + g));
          HB_UNROLL
          for (int j = 0; j < 8; ++j) (&sums[0][0])[g + j] = out[j % 2 == 0 ? j / 2 : 4 + j / 2];
        }
      } else {
        HB_UNROLL
        for (int r = 0; r < R; ++r)
          HB_UNROLL
          for (int t = 0; t < T; ++t) sums[r][t] = hsum8(acc[r][t]);
      }
      HB_UNROLL
      for (int t = 0; t < T; ++t) {
        const float* xr = reinterpret_cast<const float*>(a.x + static_cast<size_t>(t) * a.x_stride);
        HB_UNROLL
        for (int r = 0; r < R; ++r) {
          __m128 s = _mm_set_ss(sums[r][t]);
          for (int64_t i = n8; i < a.n; ++i)
            s = _mm_fmadd_ss(_mm_set_ss(Load::one(a.w + static_cast<size_t>(r) * a.w_stride, i)), _mm_set_ss(xr[i]), s);
          a.y[static_cast<size_t>(t) * a.y_stride + static_cast<size_t>(r)] = _mm_cvtss_f32(s);
        }
      }
    }
  };
};

template <int R, int T>
using TileF32 = TileFloat<F32Load>::Of<R, T>;
template <int R, int T>
using TileF16 = TileFloat<F16Load>::Of<R, T>;
template <int R, int T>
using TileBF16 = TileFloat<BF16Load>::Of<R, T>;

// Short float rows (attention's products over the KV cache: n = head_dim for the scores, up to a
// chunk's positions for the weighted sum). Per output element the same operations as TileFloat
// (an FMA per lane over i, hsum8's tree, the n mod 8 tail by FMA in order), so the same bits, but
// laid out for short dots, where TileFloat's horizontal sums and scalar stores cost as much as
// its FMAs: 8 rows x 2 tokens per tile, each token's 8 dots in 8 accumulators that one hsum8_x8
// reduces into the 8 outputs, stored at once. The rows are converted as they are read (a copy
// converted once into a buffer was slower: its stores did not overlap the FMAs).
constexpr int64_t kShortRowMax = 256;  // n up to this takes the short-row path

template <class Load>
struct ShortRows {
  // W rows wrow.. (8, n), w_stride apart, their tail elements tail (n - n8, 8) @ X (T, n)^T -> Y (T, 8).
  template <int T>
  static inline void tokens(const uint8_t* wrow, size_t w_stride, const float* tail, int64_t n, const uint8_t* x,
                            size_t x_stride, float* y, size_t y_stride) {
    // hsum8_x8 returns the sums of its vectors 0, 2, 4, 6, 1, 3, 5, 7: accumulator k holds row kRow[k].
    constexpr int kRow[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    const int64_t n8 = n & ~int64_t(7);
    __m256 acc[T][8];
    HB_UNROLL
    for (int t = 0; t < T; ++t)
      HB_UNROLL
      for (int k = 0; k < 8; ++k) acc[t][k] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n8; i += 8) {
      __m256 xv[T];
      HB_UNROLL
      for (int t = 0; t < T; ++t)
        xv[t] = _mm256_loadu_ps(reinterpret_cast<const float*>(x + static_cast<size_t>(t) * x_stride) + i);
      HB_UNROLL
      for (int k = 0; k < 8; ++k) {
        const __m256 wv = Load::vec(wrow + static_cast<size_t>(kRow[k]) * w_stride, i);
        HB_UNROLL
        for (int t = 0; t < T; ++t) acc[t][k] = _mm256_fmadd_ps(wv, xv[t], acc[t][k]);
      }
    }
    HB_UNROLL
    for (int t = 0; t < T; ++t) {
      const float* xr = reinterpret_cast<const float*>(x + static_cast<size_t>(t) * x_stride);
      __m256 s = hsum8_x8(acc[t]);  // rows 0..7
      for (int64_t i = n8; i < n; ++i)
        s = _mm256_fmadd_ps(_mm256_load_ps(tail + (i - n8) * 8), _mm256_set1_ps(xr[i]), s);
      _mm256_storeu_ps(y + static_cast<size_t>(t) * y_stride, s);
    }
  }

  // W (nrows, n) @ X (ntok, n)^T -> Y (ntok, nrows) for n <= kShortRowMax; the rows past the last
  // multiple of 8 go to Fallback (TileFloat's driver, the same bits).
  template <void (*Fallback)(int64_t, const void*, size_t, int64_t, const void*, size_t, int64_t, float*, size_t)>
  static void gemm(int64_t n, const void* w, size_t w_stride, int64_t nrows, const void* xq, size_t x_stride,
                   int64_t ntok, float* y, size_t y_stride) {
    if (n > kShortRowMax || nrows < 8) return Fallback(n, w, w_stride, nrows, xq, x_stride, ntok, y, y_stride);
    const uint8_t* wb = static_cast<const uint8_t*>(w);
    const uint8_t* xb = static_cast<const uint8_t*>(xq);
    const int64_t n8 = n & ~int64_t(7), r8 = nrows & ~int64_t(7);
    alignas(32) float tail[7 * 8];
    for (int64_t r0 = 0; r0 < r8; r0 += 8) {
      const uint8_t* wrow = wb + static_cast<size_t>(r0) * w_stride;
      for (int r = 0; r < 8; ++r)
        for (int64_t i = n8; i < n; ++i) tail[(i - n8) * 8 + r] = Load::one(wrow + static_cast<size_t>(r) * w_stride, i);
      auto x_of = [&](int64_t t) { return xb + static_cast<size_t>(t) * x_stride; };
      auto y_of = [&](int64_t t) { return y + static_cast<size_t>(t) * y_stride + r0; };
      int64_t t = 0;
      for (; t + 2 <= ntok; t += 2) tokens<2>(wrow, w_stride, tail, n, x_of(t), x_stride, y_of(t), y_stride);
      if (t < ntok) tokens<1>(wrow, w_stride, tail, n, x_of(t), x_stride, y_of(t), y_stride);
    }
    if (r8 < nrows)
      Fallback(n, wb + static_cast<size_t>(r8) * w_stride, w_stride, nrows - r8, xq, x_stride, ntok, y + r8, y_stride);
  }
};

// ---------------------------------------------------------------------------------------------
// Softmax of one attention chunk (ops.h exp_shifted), bit-identical to exp_shifted_ref in ops.cpp:
// per element the same float operations in the same order, 8 lanes wide, with the max and the
// sum kept in the reference's 8 lanes. The reference has no FMA (the baseline ISA), so each
// product here passes through keep_f (GCC contracts a multiply feeding an add into an FMA under
// -mfma, which rounds once instead of twice).

// Pins v in a register: what is computed before it cannot be fused with what comes after.
inline __m256 keep_f(__m256 v) {
  __asm__("" : "+x"(v));
  return v;
}

// exp_inplace of 8 lanes (ops.cpp): clamp to [-88, 88] (below ~-87.68 gives +0, not a denormal),
// Cody-Waite reduction, degree-6 polynomial, times 2^k from the rounding constant's low mantissa
// bits. NaN stays NaN
// (min/max return their second operand when either is NaN, as the reference's ?: does).
inline __m256 exp8(__m256 v) {
  v = _mm256_min_ps(_mm256_set1_ps(88.0f), v);               // hi < v ? hi : v
  v = _mm256_max_ps(_mm256_set1_ps(-88.0f), v);             // lo > v ? lo : v
  const __m256 magic = _mm256_set1_ps(12582912.0f);
  const __m256 shifted = _mm256_add_ps(keep_f(_mm256_mul_ps(v, _mm256_set1_ps(1.44269504088896341f))), magic);
  const __m256 k = _mm256_sub_ps(shifted, magic);
  const __m256 r = _mm256_add_ps(_mm256_sub_ps(v, keep_f(_mm256_mul_ps(k, _mm256_set1_ps(0.693359375f)))),
                                 keep_f(_mm256_mul_ps(k, _mm256_set1_ps(2.12194440e-4f))));
  __m256 p = _mm256_set1_ps(1.0f / 720);
  p = _mm256_add_ps(keep_f(_mm256_mul_ps(p, r)), _mm256_set1_ps(1.0f / 120));
  p = _mm256_add_ps(keep_f(_mm256_mul_ps(p, r)), _mm256_set1_ps(1.0f / 24));
  p = _mm256_add_ps(keep_f(_mm256_mul_ps(p, r)), _mm256_set1_ps(1.0f / 6));
  p = _mm256_add_ps(keep_f(_mm256_mul_ps(p, r)), _mm256_set1_ps(0.5f));
  p = _mm256_add_ps(keep_f(_mm256_mul_ps(p, r)), _mm256_set1_ps(1.0f));
  p = _mm256_add_ps(keep_f(_mm256_mul_ps(p, r)), _mm256_set1_ps(1.0f));
  const __m256i bits = _mm256_slli_epi32(
      _mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000)), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

// x (n,) -> exp(x * scale - m) (n,), m = max(x * scale) -> returns m, *sum (see above). Two
// passes (max, then exp and sum) where the reference makes five; x * scale is recomputed, not
// stored (the same product both times).
inline float exp_shifted_x86(float* x, int64_t n, float scale, float* sum) {
  const bool scaled = scale != 1.0f;  // the reference multiplies only then
  const __m256 vs = _mm256_set1_ps(scale);
  auto load = [&](const float* p) {
    const __m256 v = _mm256_loadu_ps(p);
    return scaled ? keep_f(_mm256_mul_ps(v, vs)) : v;
  };
  const int64_t n8 = n & ~int64_t(7);
  __m256 lanes = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < n8; i += 8) lanes = _mm256_max_ps(load(x + i), lanes);  // lanes < x ? x : lanes
  alignas(32) float l[8];
  _mm256_store_ps(l, lanes);
  for (int64_t i = n8; i < n; i++) {
    const float v = scaled ? x[i] * scale : x[i];
    l[0] = l[0] < v ? v : l[0];
  }
  float max_v = l[0];
  for (int j = 1; j < 8; j++) max_v = max_v < l[j] ? l[j] : max_v;
  const __m256 vm = _mm256_set1_ps(max_v);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n8; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(load(x + i), vm));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  _mm256_store_ps(l, acc);
  if (n8 < n) {  // the tail through the same exp8, one padded vector
    alignas(32) float t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t i = n8; i < n; i++) {
      float v = x[i];
      if (scaled) {
        v *= scale;
        __asm__("" : "+x"(v));  // not fused with the subtraction (see keep_f)
      }
      t[i - n8] = v - max_v;
    }
    _mm256_store_ps(t, exp8(_mm256_load_ps(t)));
    for (int64_t i = n8; i < n; i++) {
      x[i] = t[i - n8];
      l[0] += x[i];
    }
  }
  *sum = static_cast<float>(((double(l[0]) + l[1]) + (double(l[2]) + l[3])) + ((double(l[4]) + l[5]) + (double(l[6]) + l[7])));
  return max_v;
}

#if HB_X86_VNNI
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's avx512fintrin.h (_mm512_undefined_ps)
#endif
// The AVX-512 build's exp_shifted: exp16 is exp8's operations on 16 lanes (element-wise, so the
// same bits); the max and the sum still go through the reference's 8 lanes in its order (low
// half, then high half), so signed zeros and rounding come out as the reference's.
inline __m512 keep_f16(__m512 v) {
  __asm__("" : "+v"(v));
  return v;
}

inline __m512 exp16(__m512 v) {
  v = _mm512_min_ps(_mm512_set1_ps(88.0f), v);
  v = _mm512_max_ps(_mm512_set1_ps(-88.0f), v);
  const __m512 magic = _mm512_set1_ps(12582912.0f);
  const __m512 shifted = _mm512_add_ps(keep_f16(_mm512_mul_ps(v, _mm512_set1_ps(1.44269504088896341f))), magic);
  const __m512 k = _mm512_sub_ps(shifted, magic);
  const __m512 r = _mm512_add_ps(_mm512_sub_ps(v, keep_f16(_mm512_mul_ps(k, _mm512_set1_ps(0.693359375f)))),
                                 keep_f16(_mm512_mul_ps(k, _mm512_set1_ps(2.12194440e-4f))));
  __m512 p = _mm512_set1_ps(1.0f / 720);
  p = _mm512_add_ps(keep_f16(_mm512_mul_ps(p, r)), _mm512_set1_ps(1.0f / 120));
  p = _mm512_add_ps(keep_f16(_mm512_mul_ps(p, r)), _mm512_set1_ps(1.0f / 24));
  p = _mm512_add_ps(keep_f16(_mm512_mul_ps(p, r)), _mm512_set1_ps(1.0f / 6));
  p = _mm512_add_ps(keep_f16(_mm512_mul_ps(p, r)), _mm512_set1_ps(0.5f));
  p = _mm512_add_ps(keep_f16(_mm512_mul_ps(p, r)), _mm512_set1_ps(1.0f));
  p = _mm512_add_ps(keep_f16(_mm512_mul_ps(p, r)), _mm512_set1_ps(1.0f));
  const __m512i bits = _mm512_slli_epi32(
      _mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x4B400000)), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
}

inline float exp_shifted_x86_512(float* x, int64_t n, float scale, float* sum) {
  const bool scaled = scale != 1.0f;
  const __m512 vs16 = _mm512_set1_ps(scale);
  auto load16 = [&](const float* p) {
    const __m512 v = _mm512_loadu_ps(p);
    return scaled ? keep_f16(_mm512_mul_ps(v, vs16)) : v;
  };
  const int64_t n16 = n & ~int64_t(15), n8 = n & ~int64_t(7);
  __m256 lanes = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < n16; i += 16) {
    const __m512 v = load16(x + i);
    lanes = _mm256_max_ps(_mm512_castps512_ps256(v), lanes);
    lanes = _mm256_max_ps(_mm512_extractf32x8_ps(v, 1), lanes);
  }
  if (n16 < n8) {
    const __m256 v = _mm256_loadu_ps(x + n16);
    lanes = _mm256_max_ps(scaled ? keep_f(_mm256_mul_ps(v, _mm256_set1_ps(scale))) : v, lanes);
  }
  alignas(32) float l[8];
  _mm256_store_ps(l, lanes);
  for (int64_t i = n8; i < n; i++) {
    const float v = scaled ? x[i] * scale : x[i];
    l[0] = l[0] < v ? v : l[0];
  }
  float max_v = l[0];
  for (int j = 1; j < 8; j++) max_v = max_v < l[j] ? l[j] : max_v;
  const __m512 vm16 = _mm512_set1_ps(max_v);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n16; i += 16) {
    const __m512 e = exp16(_mm512_sub_ps(load16(x + i), vm16));
    _mm512_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, _mm512_castps512_ps256(e));
    acc = _mm256_add_ps(acc, _mm512_extractf32x8_ps(e, 1));
  }
  // The rest (under 16 elements) through one padded 16-lane vector: element-wise, same bits.
  if (n16 < n) {
    alignas(64) float t[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t i = n16; i < n; i++) {
      float v = x[i];
      if (scaled) {
        v *= scale;
        __asm__("" : "+x"(v));  // not fused with the subtraction (see keep_f)
      }
      t[i - n16] = v - max_v;
    }
    _mm512_store_ps(t, exp16(_mm512_load_ps(t)));
    for (int64_t i = n16; i < n; i++) x[i] = t[i - n16];
    if (n16 < n8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(x + n16));
  }
  _mm256_store_ps(l, acc);
  for (int64_t i = n8; i < n; i++) l[0] += x[i];
  *sum = static_cast<float>(((double(l[0]) + l[1]) + (double(l[2]) + l[3])) + ((double(l[4]) + l[5]) + (double(l[6]) + l[7])));
  return max_v;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

// ---------------------------------------------------------------------------------------------
// The integer types' table, the same for both x86 files (each compiles it with its own flags and
// dot instruction). dequantize_row stays the reference's (exact GGUF semantics, not a hot path).
// 8-row tiles, tokens per tile. AVX2 (16 vector registers), measured on Zen 3 (128-token
// prefill, 2 threads): 2 for the nibble and k-quant types (larger tiles spill), 4 for Q8_0. The
// AVX-512 build has 32 (ymm16-31), so more tokens' dot chains overlap the dot's latency;
// measured on Zen 5 (bench/kernels.cpp, 64 tokens in cache, one core, GOP/s at 2 / 4 / 8
// tokens): Q4_0 182 / 254 / 289, Q5_0 157 / 246 / 269, Q4_K 175 / 234 / 144, Q6_K 130 / 177 /
// 102; after the unsigned-weight dots of IQ4_NL and Q8_0 (offset_sum128): IQ4_NL 266 at 8, Q8_0
// 241 / 264 at 4 / 8 (229 at 4 before). The tile shape never changes results (every element's
// operations are the same). -DHB_X8_T_NIBBLE=N etc. override them for such measurements.
#ifndef HB_X8_T_NIBBLE
#define HB_X8_T_NIBBLE (HB_X86_VNNI ? 8 : 2)
#endif
#ifndef HB_X8_T_Q8
#define HB_X8_T_Q8 (HB_X86_VNNI ? 8 : 4)
#endif
#ifndef HB_X8_T_K
#define HB_X8_T_K (HB_X86_VNNI ? 4 : 2)
#endif
// The entry of type t in a kernel table, or nullptr.
template <size_t N>
const TypeKernels* find_kernels(const TypeKernels (&table)[N], GgmlType t) {
  for (const TypeKernels& k : table)
    if (k.type == t) return &k;
  return nullptr;
}

// The integer types in three tables, each instantiated by its own file per ISA: kernels_<isa>.cpp
// (the 32-element types), kernels_<isa>_k0.cpp and _k1.cpp (the 256-element ones, split by
// measured compile time), so a parallel build compiles them at once. One file holding every
// instantiation took 41 s of GCC time (most in the RTL combiner) and was the build's critical path.
// Filled on first use (thread-safe static init) so dequantize_row can point at the reference.
inline const TypeKernels* x86_block32_kernels(GgmlType t) {
  auto k32 = [](GgmlType type, auto gemm, auto gemm_x8) {
    return TypeKernels{type, ActFormat::Q8_32, quantize_act_q8_32_x86, gemm, ref_kernels(type)->dequantize_row, gemm_x8};
  };
  static const TypeKernels table[] = {
      k32(GgmlType::Q4_0, gemm_tiled<TileQ4_0, 4, 2>, gemm_x8_tiled<TileQ4_0x8, HB_X8_T_NIBBLE>),
      k32(GgmlType::Q4_1, gemm_tiled<TileQ4_1, 4, 2>, gemm_x8_tiled<TileQ4_1x8, HB_X8_T_NIBBLE>),
      k32(GgmlType::Q5_0, gemm_tiled<TileQ5_0, 4, 2>, gemm_x8_tiled<TileQ5_0x8, HB_X8_T_NIBBLE>),
      k32(GgmlType::Q5_1, gemm_tiled<TileQ5_1, 4, 2>, gemm_x8_tiled<TileQ5_1x8, HB_X8_T_NIBBLE>),
      k32(GgmlType::IQ4_NL, gemm_tiled<TileIQ4_NL, 4, 2>, gemm_x8_tiled<TileIQ4_NLx8, HB_X8_T_NIBBLE>),
      k32(GgmlType::Q8_0, gemm_tiled<TileQ8_0, 4, 2>, gemm_x8_tiled<TileQ8_0x8, HB_X8_T_Q8>),
  };
  return find_kernels(table, t);
}

// Part 0: Q2_K, Q5_K, IQ4_XS; part 1: Q3_K, Q4_K, Q6_K.
template <int Part>
const TypeKernels* x86_k_kernels(GgmlType t) {
  auto k256 = [](GgmlType type, auto gemm, auto gemm_x8) {
    return TypeKernels{type, ActFormat::Q8_256, quantize_act_q8_256_x86, gemm, ref_kernels(type)->dequantize_row, gemm_x8};
  };
  if constexpr (Part == 0) {
    static const TypeKernels table[] = {
        k256(GgmlType::Q2_K, gemm_tiled<TileQ2_K, 4, 2>, gemm_x8_tiled<TileQ2_Kx8, HB_X8_T_K>),
        k256(GgmlType::Q5_K, gemm_tiled<TileQ5_K, 4, 2>, gemm_x8_tiled<TileQ5_Kx8, HB_X8_T_K>),
        k256(GgmlType::IQ4_XS, gemm_tiled<TileIQ4_XS, 4, 2>, gemm_x8_tiled<TileIQ4_XSx8, HB_X8_T_K>),
    };
    return find_kernels(table, t);
  } else {
    static const TypeKernels table[] = {
        k256(GgmlType::Q3_K, gemm_tiled<TileQ3_K, 4, 2>, gemm_x8_tiled<TileQ3_Kx8, HB_X8_T_K>),
        k256(GgmlType::Q4_K, gemm_tiled<TileQ4_K, 4, 2>, gemm_x8_tiled<TileQ4_Kx8, HB_X8_T_K>),
        k256(GgmlType::Q6_K, gemm_tiled<TileQ6_K, 4, 2>, gemm_x8_tiled<TileQ6_Kx8, HB_X8_T_K>),
    };
    return find_kernels(table, t);
  }
}

}  // namespace
}  // namespace kern
}  // namespace hb
