// Shared arm64 NEON kernels, included by exactly two files, each compiled with its own flags:
// kernels_neon.cpp (baseline armv8-a, HB_ARM_DOTPROD 0: integer dots by vmull_s8 / vpadalq_s16)
// and kernels_neondot.cpp (armv8.2-a+dotprod, HB_ARM_DOTPROD 1: vdotq_s32). Everything is in an
// anonymous namespace, so each file gets private copies and nothing is merged across files at
// link time.
//
// Integer types: a tile is 4 weight rows (the 4 float lanes) x T tokens. Per block and token, each
// row's exact integer dot is reduced to one int32 (pairwise adds: exact), the 4 rows' totals form
// one vector, and acc = fma(float(isum), d_w * d_x, acc) per lane. So every output element is
//   acc = fma(float(isum_b), d_w[b] * d_x[b], acc) over blocks b in order,
// the same scalar sequence whatever the lane, the tile, the row chunking, the token batch or the
// dot instruction: plain NEON and dotprod results are bit-identical. Leftover rows (< 4) repeat the
// last row in the unused lanes and store only the valid ones.
// Q4_K / Q5_K add a second exact integer (the mins) and a second fused step per block, same everywhere.
// Float types: 8 running lanes per output (two float32x4), reduced in the reference's order.
#pragma once
#if !defined(__aarch64__)
#error "kernels_arm.h is for arm64 only"
#endif
#if !defined(HB_ARM_DOTPROD)
#error "define HB_ARM_DOTPROD (0 or 1) before including kernels_arm.h"
#endif
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "blocks.h"
#include "kernels_internal.h"

namespace hb {
namespace kern {
namespace {

#define HB_UNROLL _Pragma("GCC unroll 16")

constexpr int64_t kTokenGroup = 64;  // tokens per sweep, so their activations stay in cache

inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }

// ---------------------------------------------------------------------------------------------
// Integer dot primitive (the one place the two builds differ).

// acc + partial sums of a (16 x int8) . b (16 x int8); the lane layout differs between the builds,
// only the total over lanes is used. Plain NEON sums two products in int16: exact while
// |a * b| <= 128 * 127 (activations are within +-127).
inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if HB_ARM_DOTPROD
  return vdotq_s32(acc, a, b);
#else
  int16x8_t p = vmull_s8(vget_low_s8(a), vget_low_s8(b));
  p = vmlal_high_s8(p, a, b);
  return vpadalq_s16(acc, p);
#endif
}

// Totals of 4 lane vectors -> one vector [sum(a), sum(b), sum(c), sum(d)] (exact integer adds).
inline int32x4_t totals4(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
  return vpaddq_s32(vpaddq_s32(a, b), vpaddq_s32(c, d));
}

// 4 half-precision scales -> float32x4 (exact).
inline float32x4_t halves_to_f32(uint16_t h0, uint16_t h1, uint16_t h2, uint16_t h3) {
  const uint16_t h[4] = {h0, h1, h2, h3};
  return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
}

// ---------------------------------------------------------------------------------------------
// Activation quantization, bit-identical to the reference (llama.cpp's formats; see kernels_ref.cpp).

inline float amax_of(const float* x, int count) {
  float32x4_t m = vabsq_f32(vld1q_f32(x));
  for (int i = 4; i < count; i += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + i)));
  return vmaxvq_f32(m);
}

// 16 floats -> 16 int8; returns their sum.
inline int quantize16(const float* x, float32x4_t id, int8_t* q) {
  const float32x4_t lim = vdupq_n_f32(127.0f), nlim = vdupq_n_f32(-127.0f);
  int32x4_t v[4];
  HB_UNROLL
  for (int k = 0; k < 4; ++k) {
    float32x4_t f = vmulq_f32(vld1q_f32(x + 4 * k), id);
    f = vmaxq_f32(vminq_f32(f, lim), nlim);
    v[k] = vcvtnq_s32_f32(f);  // round to nearest, ties to even
  }
  const int16x8_t lo = vcombine_s16(vqmovn_s32(v[0]), vqmovn_s32(v[1]));
  const int16x8_t hi = vcombine_s16(vqmovn_s32(v[2]), vqmovn_s32(v[3]));
  vst1q_s8(q, vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi)));
  return vaddvq_s32(vaddq_s32(vaddq_s32(v[0], v[1]), vaddq_s32(v[2], v[3])));
}

inline float round_to_fp16(float v) {
  return vgetq_lane_f32(vcvt_f32_f16(vcvt_f16_f32(vdupq_n_f32(v))), 0);  // round to nearest even
}

// x (n,) -> ActQ8_32 (n / 32,): d = fp16(amax / 127), q = round(x * (127 / amax)), s = fp16(d_raw * sum q).
void quantize_act_q8_32_arm(const float* x, void* xq, int64_t n) {
  ActQ8_32* out = static_cast<ActQ8_32*>(xq);
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* xb = x + b * 32;
    const float amax = amax_of(xb, 32);
    const float d = amax / 127.0f;
    const float32x4_t id = vdupq_n_f32(amax != 0.0f ? 127.0f / amax : 0.0f);
    const int sum = quantize16(xb, id, out[b].qs) + quantize16(xb + 16, id, out[b].qs + 16);
    out[b].d = round_to_fp16(d);
    out[b].s = round_to_fp16(d * static_cast<float>(sum));
    out[b].sum = sum;
  }
}

// x (n,) -> ActQ8_256 (n / 256,): iscale = -127 / (first element of largest magnitude),
// q = round(iscale * x), d = 1 / iscale.
void quantize_act_q8_256_arm(const float* x, void* xq, int64_t n) {
  ActQ8_256* out = static_cast<ActQ8_256*>(xq);
  for (int64_t b = 0; b < n / 256; ++b) {
    const float* xb = x + b * 256;
    const float amax = amax_of(xb, 256);
    if (amax == 0.0f) {
      __builtin_memset(&out[b], 0, sizeof(ActQ8_256));
      continue;
    }
    float max = amax;
    for (int i = 0; i < 256; ++i) {
      if (__builtin_fabsf(xb[i]) == amax) {
        max = xb[i];
        break;
      }
    }
    const float iscale = -127.0f / max;
    const float32x4_t idv = vdupq_n_f32(iscale);
    for (int g = 0; g < 16; ++g) out[b].bsums[g] = static_cast<int16_t>(quantize16(xb + 16 * g, idv, out[b].qs + 16 * g));
    out[b].d = 1.0f / iscale;
  }
}

// ---------------------------------------------------------------------------------------------
// Integer tiles: 4 rows in lanes x T tokens.

struct LaneArgs {
  int64_t n;
  const uint8_t* row[4];  // 4 weight rows (repeats of the last valid row past nvalid)
  int nvalid;
  const uint8_t* x;
  size_t x_stride;
  float* y;
  size_t y_stride;
};

inline void store_lanes(const LaneArgs& a, int t, float32x4_t v) {
  float out[4];
  vst1q_f32(out, v);
  float* y = a.y + static_cast<size_t>(t) * a.y_stride;
  for (int r = 0; r < a.nvalid; ++r) y[r] = out[r];
}

// Q4_0 / Q8_0 blocks decoded to 32 signed int8 in element order.
struct W32 {
  int8x16_t lo, hi;  // elements 0..15, 16..31
};

// 16 bytes of nibbles -> elements 0..15 (low nibbles) and 16..31 (high nibbles), unsigned.
inline void nibbles32_arm(const uint8_t* qs, uint8x16_t* lo, uint8x16_t* hi) {
  const uint8x16_t raw = vld1q_u8(qs);
  *lo = vandq_u8(raw, vdupq_n_u8(15));
  *hi = vshrq_n_u8(raw, 4);
}

// Bit j of the little-endian uint32 at qh -> 16 in byte j (elements 0..15 in lo, 16..31 in hi).
inline void fifth_bits32_arm(const uint8_t* qh, uint8x16_t* lo, uint8x16_t* hi) {
  static const uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t bit = vld1q_u8(kBit), sixteen = vdupq_n_u8(16);
  *lo = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1])), bit), sixteen);
  *hi = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3])), bit), sixteen);
}

// Each type: load (32 signed int8 values in element order), scale (fp16 bits), and for the types
// with a minimum (w = d * q + m) kHasMin and min (fp16 bits).
struct Q4_0Lanes {
  static constexpr size_t kBytes = sizeof(BlockQ4_0);
  static constexpr bool kHasMin = false;
  static inline W32 load(const uint8_t* p) {
    uint8x16_t lo, hi;
    nibbles32_arm(reinterpret_cast<const BlockQ4_0*>(p)->qs, &lo, &hi);
    const int8x16_t eight = vdupq_n_s8(8);
    return {vsubq_s8(vreinterpretq_s8_u8(lo), eight), vsubq_s8(vreinterpretq_s8_u8(hi), eight)};
  }
  static inline uint16_t scale(const uint8_t* p) { return reinterpret_cast<const BlockQ4_0*>(p)->d; }
  static inline uint16_t min(const uint8_t*) { return 0; }
};

struct Q4_1Lanes {
  static constexpr size_t kBytes = sizeof(BlockQ4_1);
  static constexpr bool kHasMin = true;
  static inline W32 load(const uint8_t* p) {
    uint8x16_t lo, hi;
    nibbles32_arm(reinterpret_cast<const BlockQ4_1*>(p)->qs, &lo, &hi);
    return {vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(hi)};
  }
  static inline uint16_t scale(const uint8_t* p) { return reinterpret_cast<const BlockQ4_1*>(p)->d; }
  static inline uint16_t min(const uint8_t* p) { return reinterpret_cast<const BlockQ4_1*>(p)->m; }
};

struct Q5_0Lanes {
  static constexpr size_t kBytes = sizeof(BlockQ5_0);
  static constexpr bool kHasMin = false;
  static inline W32 load(const uint8_t* p) {
    const BlockQ5_0* blk = reinterpret_cast<const BlockQ5_0*>(p);
    uint8x16_t lo, hi, hlo, hhi;
    nibbles32_arm(blk->qs, &lo, &hi);
    fifth_bits32_arm(blk->qh, &hlo, &hhi);
    const int8x16_t sixteen = vdupq_n_s8(16);
    return {vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, hlo)), sixteen), vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(hi, hhi)), sixteen)};
  }
  static inline uint16_t scale(const uint8_t* p) { return reinterpret_cast<const BlockQ5_0*>(p)->d; }
  static inline uint16_t min(const uint8_t*) { return 0; }
};

struct Q5_1Lanes {
  static constexpr size_t kBytes = sizeof(BlockQ5_1);
  static constexpr bool kHasMin = true;
  static inline W32 load(const uint8_t* p) {
    const BlockQ5_1* blk = reinterpret_cast<const BlockQ5_1*>(p);
    uint8x16_t lo, hi, hlo, hhi;
    nibbles32_arm(blk->qs, &lo, &hi);
    fifth_bits32_arm(blk->qh, &hlo, &hhi);
    return {vreinterpretq_s8_u8(vorrq_u8(lo, hlo)), vreinterpretq_s8_u8(vorrq_u8(hi, hhi))};
  }
  static inline uint16_t scale(const uint8_t* p) { return reinterpret_cast<const BlockQ5_1*>(p)->d; }
  static inline uint16_t min(const uint8_t* p) { return reinterpret_cast<const BlockQ5_1*>(p)->m; }
};

struct Q8_0Lanes {
  static constexpr size_t kBytes = sizeof(BlockQ8_0);
  static constexpr bool kHasMin = false;
  static inline W32 load(const uint8_t* p) {
    const int8_t* q = reinterpret_cast<const BlockQ8_0*>(p)->qs;
    return {vld1q_s8(q), vld1q_s8(q + 16)};
  }
  static inline uint16_t scale(const uint8_t* p) { return reinterpret_cast<const BlockQ8_0*>(p)->d; }
  static inline uint16_t min(const uint8_t*) { return 0; }
};

struct IQ4_NLLanes {
  static constexpr size_t kBytes = sizeof(BlockIQ4_NL);
  static constexpr bool kHasMin = false;
  static inline W32 load(const uint8_t* p) {
    uint8x16_t lo, hi;
    nibbles32_arm(reinterpret_cast<const BlockIQ4_NL*>(p)->qs, &lo, &hi);
    const int8x16_t table = vld1q_s8(kIq4nlValues);
    return {vqtbl1q_s8(table, lo), vqtbl1q_s8(table, hi)};  // codebook lookup
  }
  static inline uint16_t scale(const uint8_t* p) { return reinterpret_cast<const BlockIQ4_NL*>(p)->d; }
  static inline uint16_t min(const uint8_t*) { return 0; }
};

// Per lane: acc = fma(float(isum), d_w * d_x, acc) per block; types with a minimum also keep
// msum = fma(m_w, s_x, msum) per block and end with acc + msum.
template <class Ops, int T>
void tile32(const LaneArgs& a) {
  float32x4_t acc[T], msum[T];
  HB_UNROLL
  for (int t = 0; t < T; ++t) acc[t] = msum[t] = vdupq_n_f32(0.0f);
  const int64_t nb = a.n / 32;
  for (int64_t b = 0; b < nb; ++b) {
    const size_t off = static_cast<size_t>(b) * Ops::kBytes;
    W32 w[4];
    HB_UNROLL
    for (int r = 0; r < 4; ++r) {
      __builtin_prefetch(a.row[r] + off + 512);
      w[r] = Ops::load(a.row[r] + off);
    }
    const float32x4_t dw = halves_to_f32(Ops::scale(a.row[0] + off), Ops::scale(a.row[1] + off),
                                         Ops::scale(a.row[2] + off), Ops::scale(a.row[3] + off));
    float32x4_t mw = vdupq_n_f32(0.0f);
    if constexpr (Ops::kHasMin)
      mw = halves_to_f32(Ops::min(a.row[0] + off), Ops::min(a.row[1] + off), Ops::min(a.row[2] + off),
                         Ops::min(a.row[3] + off));
    HB_UNROLL
    for (int t = 0; t < T; ++t) {
      const ActQ8_32* xb = reinterpret_cast<const ActQ8_32*>(a.x + static_cast<size_t>(t) * a.x_stride) + b;
      const int8x16_t x0 = vld1q_s8(xb->qs), x1 = vld1q_s8(xb->qs + 16);
      int32x4_t s[4];
      HB_UNROLL
      for (int r = 0; r < 4; ++r) s[r] = dot16(dot16(vdupq_n_s32(0), w[r].lo, x0), w[r].hi, x1);
      const float32x4_t isum = vcvtq_f32_s32(totals4(s[0], s[1], s[2], s[3]));
      acc[t] = vfmaq_f32(acc[t], isum, vmulq_n_f32(dw, xb->d));
      if constexpr (Ops::kHasMin) msum[t] = vfmaq_n_f32(msum[t], mw, xb->s);
    }
  }
  HB_UNROLL
  for (int t = 0; t < T; ++t) store_lanes(a, t, Ops::kHasMin ? vaddq_f32(acc[t], msum[t]) : acc[t]);
}

// Super-block types with 16 groups of 16 (Q6_K, Q3_K, Q2_K): per row and super-block the values are
// unpacked once to signed int8; per token, exact integers
//   isum = sum_g scale_g * (q . qx over g),   msum = sum_g min_g * bsum_g   (Q2_K)
// and per lane acc = fma(float(isum), d * d_x, acc), then for Q2_K acc = acc - float(msum) * (dmin * d_x).
struct K16RowArm {
  int8_t q[256];
  int8_t sc[16];
  int16x8_t mins_lo, mins_hi;  // Q2_K
  uint16_t d, dmin;            // fp16 bits
};

// Q6_K: q6 - 32.
inline void unpack_q6k_arm(const BlockQ6_K* blk, K16RowArm& row) {
  const uint8x16_t m4 = vdupq_n_u8(15), m30 = vdupq_n_u8(0x30);
  const int8x16_t off = vdupq_n_s8(32);
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = blk->ql + 64 * h;
    const uint8_t* qh = blk->qh + 32 * h;
    int8_t* out = row.q + 128 * h;
    for (int half = 0; half < 2; ++half) {  // l in [16 * half, 16 * half + 16)
      const uint8x16_t qa = vld1q_u8(ql + 16 * half);       // ql[l]
      const uint8x16_t qb = vld1q_u8(ql + 32 + 16 * half);  // ql[l + 32]
      const uint8x16_t hb = vld1q_u8(qh + 16 * half);
      const uint8x16_t c0 = vorrq_u8(vandq_u8(qa, m4), vandq_u8(vshlq_n_u8(hb, 4), m30));
      const uint8x16_t c1 = vorrq_u8(vandq_u8(qb, m4), vandq_u8(vshlq_n_u8(hb, 2), m30));
      const uint8x16_t c2 = vorrq_u8(vshrq_n_u8(qa, 4), vandq_u8(hb, m30));
      const uint8x16_t c3 = vorrq_u8(vshrq_n_u8(qb, 4), vandq_u8(vshrq_n_u8(hb, 2), m30));
      vst1q_s8(out + 0 + 16 * half, vsubq_s8(vreinterpretq_s8_u8(c0), off));
      vst1q_s8(out + 32 + 16 * half, vsubq_s8(vreinterpretq_s8_u8(c1), off));
      vst1q_s8(out + 64 + 16 * half, vsubq_s8(vreinterpretq_s8_u8(c2), off));
      vst1q_s8(out + 96 + 16 * half, vsubq_s8(vreinterpretq_s8_u8(c3), off));
    }
  }
  __builtin_memcpy(row.sc, blk->scales, 16);
  row.d = blk->d;
  row.dmin = 0;
}

// Element e = 128h + 32j + l of Q2_K / Q3_K: 2 low bits at (qs[32h + l] >> 2j) & 3.
// Q3_K: minus 4 unless hmask[l] bit (4h + j) is set; 6-bit scales minus 32.
inline void unpack_q3k_arm(const BlockQ3_K* blk, K16RowArm& row) {
  const uint8x16_t three = vdupq_n_u8(3), one = vdupq_n_u8(1);
  for (int half = 0; half < 2; ++half) {
    const uint8x16_t hm = vld1q_u8(blk->hmask + 16 * half);
    for (int h = 0; h < 2; ++h) {
      const uint8x16_t qv = vld1q_u8(blk->qs + 32 * h + 16 * half);
      for (int j = 0; j < 4; ++j) {
        const uint8x16_t low = vandq_u8(vshlq_u8(qv, vdupq_n_s8(static_cast<int8_t>(-2 * j))), three);
        const uint8x16_t high = vandq_u8(vshlq_u8(hm, vdupq_n_s8(static_cast<int8_t>(-(4 * h + j)))), one);
        // low - 4 * (1 - high) = low + 4 * high - 4
        const uint8x16_t u = vorrq_u8(low, vshlq_n_u8(high, 2));
        vst1q_s8(row.q + 128 * h + 32 * j + 16 * half, vsubq_s8(vreinterpretq_s8_u8(u), vdupq_n_s8(4)));
      }
    }
  }
  for (int g = 0; g < 16; ++g) {
    const int lo = g < 8 ? (blk->scales[g] & 15) : (blk->scales[g - 8] >> 4);
    const int hi = (blk->scales[8 + g % 4] >> (2 * (g / 4))) & 3;
    row.sc[g] = static_cast<int8_t>((lo | (hi << 4)) - 32);
  }
  row.d = blk->d;
  row.dmin = 0;
}

// Q2_K: 2-bit values 0..3; scales[g] = scale (low nibble) | minimum (high nibble).
inline void unpack_q2k_arm(const BlockQ2_K* blk, K16RowArm& row) {
  const uint8x16_t three = vdupq_n_u8(3);
  for (int half = 0; half < 2; ++half)
    for (int h = 0; h < 2; ++h) {
      const uint8x16_t qv = vld1q_u8(blk->qs + 32 * h + 16 * half);
      for (int j = 0; j < 4; ++j)
        vst1q_s8(row.q + 128 * h + 32 * j + 16 * half,
                 vreinterpretq_s8_u8(vandq_u8(vshlq_u8(qv, vdupq_n_s8(static_cast<int8_t>(-2 * j))), three)));
    }
  const uint8x16_t packed = vld1q_u8(blk->scales);
  vst1q_s8(row.sc, vreinterpretq_s8_u8(vandq_u8(packed, vdupq_n_u8(15))));
  const uint8x16_t mins = vshrq_n_u8(packed, 4);
  row.mins_lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins)));
  row.mins_hi = vreinterpretq_s16_u16(vmovl_high_u8(mins));
  row.d = blk->d;
  row.dmin = blk->dmin;
}

template <typename Block, void (*unpack)(const Block*, K16RowArm&), bool kHasMin, int T>
void tile_k16(const LaneArgs& a) {
  float32x4_t acc[T];
  HB_UNROLL
  for (int t = 0; t < T; ++t) acc[t] = vdupq_n_f32(0.0f);
  K16RowArm rows[4];
  const int64_t nsb = a.n / 256;
  for (int64_t b = 0; b < nsb; ++b) {
    HB_UNROLL
    for (int r = 0; r < 4; ++r) {
      const Block* blk = reinterpret_cast<const Block*>(a.row[r]) + b;
      for (size_t line = 0; line < sizeof(Block); line += 64)
        __builtin_prefetch(reinterpret_cast<const uint8_t*>(blk) + 1024 + line);
      unpack(blk, rows[r]);
    }
    const float32x4_t dw = halves_to_f32(rows[0].d, rows[1].d, rows[2].d, rows[3].d);
    const float32x4_t dmin = halves_to_f32(rows[0].dmin, rows[1].dmin, rows[2].dmin, rows[3].dmin);
    HB_UNROLL
    for (int t = 0; t < T; ++t) {
      const ActQ8_256* xb = reinterpret_cast<const ActQ8_256*>(a.x + static_cast<size_t>(t) * a.x_stride) + b;
      int32x4_t isum[4];
      HB_UNROLL
      for (int r = 0; r < 4; ++r) isum[r] = vdupq_n_s32(0);
      for (int g = 0; g < 16; ++g) {
        const int8x16_t xg = vld1q_s8(xb->qs + 16 * g);
        HB_UNROLL
        for (int r = 0; r < 4; ++r)
          isum[r] = vmlaq_n_s32(isum[r], dot16(vdupq_n_s32(0), vld1q_s8(rows[r].q + 16 * g), xg), rows[r].sc[g]);
      }
      const float32x4_t s = vcvtq_f32_s32(totals4(isum[0], isum[1], isum[2], isum[3]));
      acc[t] = vfmaq_f32(acc[t], s, vmulq_n_f32(dw, xb->d));
      if constexpr (kHasMin) {
        const int16x8_t bs_lo = vld1q_s16(xb->bsums), bs_hi = vld1q_s16(xb->bsums + 8);
        int32x4_t mp[4];
        HB_UNROLL
        for (int r = 0; r < 4; ++r) {
          int32x4_t m = vmull_s16(vget_low_s16(bs_lo), vget_low_s16(rows[r].mins_lo));
          m = vmlal_high_s16(m, bs_lo, rows[r].mins_lo);
          m = vmlal_s16(m, vget_low_s16(bs_hi), vget_low_s16(rows[r].mins_hi));
          mp[r] = vmlal_high_s16(m, bs_hi, rows[r].mins_hi);
        }
        acc[t] = vfmsq_f32(acc[t], vcvtq_f32_s32(totals4(mp[0], mp[1], mp[2], mp[3])), vmulq_n_f32(dmin, xb->d));
      }
    }
  }
  HB_UNROLL
  for (int t = 0; t < T; ++t) store_lanes(a, t, acc[t]);
}

// Q4_K / Q5_K: 8 groups of 32 unsigned values (0..15 / 0..31) with 6-bit scales and mins. Per row
// and super-block the values are unpacked once; per token, exact integers
//   isum = sum_g scale_g * (q . qx over g),   msum = sum_g min_g * sum(qx over g)
// and per lane acc = fma(float(isum), d * d_x, acc), then acc = acc - float(msum) * (dmin * d_x) (fused).
struct KRowArm {
  int8_t q[256];
  int32_t sc[8];
  int16x8_t mins;
  uint16_t d, dmin;  // fp16 bits
};

// 12 packed bytes -> 8 6-bit scales and 8 6-bit mins (GGUF k-quant scale layout).
inline void k4_scales_arm(const uint8_t* packed, KRowArm& row) {
  uint32_t w[3];
  __builtin_memcpy(w, packed, 12);
  const uint32_t sc_w[2] = {w[0] & 0x3f3f3f3fu, (w[2] & 0x0f0f0f0fu) | (((w[0] >> 6) & 0x03030303u) << 4)};
  const uint32_t mn_w[2] = {w[1] & 0x3f3f3f3fu, ((w[2] >> 4) & 0x0f0f0f0fu) | (((w[1] >> 6) & 0x03030303u) << 4)};
  uint8_t sc[8], mn[8];
  __builtin_memcpy(sc, sc_w, 8);
  __builtin_memcpy(mn, mn_w, 8);
  for (int g = 0; g < 8; ++g) row.sc[g] = sc[g];
  row.mins = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
}

inline void unpack_q4k_arm(const BlockQ4_K* blk, KRowArm& row) {
  const uint8x16_t m4 = vdupq_n_u8(15);
  for (int k = 0; k < 4; ++k) {  // 32 bytes: low nibbles = group 2k, high nibbles = group 2k+1
    for (int half = 0; half < 2; ++half) {
      const uint8x16_t v = vld1q_u8(blk->qs + 32 * k + 16 * half);
      vst1q_s8(row.q + 64 * k + 16 * half, vreinterpretq_s8_u8(vandq_u8(v, m4)));
      vst1q_s8(row.q + 64 * k + 32 + 16 * half, vreinterpretq_s8_u8(vshrq_n_u8(v, 4)));
    }
  }
  k4_scales_arm(blk->scales, row);
  row.d = blk->d;
  row.dmin = blk->dmin;
}

inline void unpack_q5k_arm(const BlockQ5_K* blk, KRowArm& row) {
  const uint8x16_t m4 = vdupq_n_u8(15), one = vdupq_n_u8(1);
  for (int half = 0; half < 2; ++half) {
    const uint8x16_t hv = vld1q_u8(blk->qh + 16 * half);  // bit g of byte l: element 32g + l
    for (int k = 0; k < 4; ++k) {
      const uint8x16_t v = vld1q_u8(blk->qs + 32 * k + 16 * half);
      const int8x16_t sh0 = vdupq_n_s8(static_cast<int8_t>(-2 * k)), sh1 = vdupq_n_s8(static_cast<int8_t>(-2 * k - 1));
      const uint8x16_t h0 = vshlq_n_u8(vandq_u8(vshlq_u8(hv, sh0), one), 4);
      const uint8x16_t h1 = vshlq_n_u8(vandq_u8(vshlq_u8(hv, sh1), one), 4);
      vst1q_s8(row.q + 64 * k + 16 * half, vreinterpretq_s8_u8(vorrq_u8(vandq_u8(v, m4), h0)));
      vst1q_s8(row.q + 64 * k + 32 + 16 * half, vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(v, 4), h1)));
    }
  }
  k4_scales_arm(blk->scales, row);
  row.d = blk->d;
  row.dmin = blk->dmin;
}

// IQ4_XS: 8 groups of 32 codebook values (signed) with signed 6-bit scales, no minimums.
inline void unpack_iq4xs_arm(const BlockIQ4_XS* blk, KRowArm& row) {
  const int8x16_t table = vld1q_s8(kIq4nlValues);
  for (int g = 0; g < 8; ++g) {
    uint8x16_t lo, hi;
    nibbles32_arm(blk->qs + 16 * g, &lo, &hi);
    vst1q_s8(row.q + 32 * g, vqtbl1q_s8(table, lo));
    vst1q_s8(row.q + 32 * g + 16, vqtbl1q_s8(table, hi));
    const int ls = ((blk->scales_l[g / 2] >> (4 * (g % 2))) & 15) | (((blk->scales_h >> (2 * g)) & 3) << 4);
    row.sc[g] = ls - 32;
  }
  row.mins = vdupq_n_s16(0);
  row.d = blk->d;
  row.dmin = 0;
}

template <typename Block, void (*unpack)(const Block*, KRowArm&), bool kHasMin, int T>
void tile_k(const LaneArgs& a) {
  float32x4_t acc[T];
  HB_UNROLL
  for (int t = 0; t < T; ++t) acc[t] = vdupq_n_f32(0.0f);
  KRowArm rows[4];
  const int64_t nsb = a.n / 256;
  for (int64_t b = 0; b < nsb; ++b) {
    const Block* blk[4];
    HB_UNROLL
    for (int r = 0; r < 4; ++r) {
      blk[r] = reinterpret_cast<const Block*>(a.row[r]) + b;
      for (size_t line = 0; line < sizeof(Block); line += 64)
        __builtin_prefetch(reinterpret_cast<const uint8_t*>(blk[r]) + 1024 + line);
      unpack(blk[r], rows[r]);
    }
    const float32x4_t dw = halves_to_f32(rows[0].d, rows[1].d, rows[2].d, rows[3].d);
    const float32x4_t dmin = halves_to_f32(rows[0].dmin, rows[1].dmin, rows[2].dmin, rows[3].dmin);
    HB_UNROLL
    for (int t = 0; t < T; ++t) {
      const ActQ8_256* xb = reinterpret_cast<const ActQ8_256*>(a.x + static_cast<size_t>(t) * a.x_stride) + b;
      int32x4_t isum[4];
      HB_UNROLL
      for (int r = 0; r < 4; ++r) isum[r] = vdupq_n_s32(0);
      for (int g = 0; g < 8; ++g) {
        const int8x16_t x0 = vld1q_s8(xb->qs + 32 * g), x1 = vld1q_s8(xb->qs + 32 * g + 16);
        HB_UNROLL
        for (int r = 0; r < 4; ++r) {
          const int32x4_t d = dot16(dot16(vdupq_n_s32(0), vld1q_s8(rows[r].q + 32 * g), x0), vld1q_s8(rows[r].q + 32 * g + 16), x1);
          isum[r] = vmlaq_n_s32(isum[r], d, rows[r].sc[g]);
        }
      }
      const float32x4_t fi = vcvtq_f32_s32(totals4(isum[0], isum[1], isum[2], isum[3]));
      acc[t] = vfmaq_f32(acc[t], fi, vmulq_n_f32(dw, xb->d));
      if constexpr (kHasMin) {
        // Group sums of the activations (|sum| <= 32 * 127 fits int16), times each row's mins.
        const int16x8_t gs = vpaddq_s16(vld1q_s16(xb->bsums), vld1q_s16(xb->bsums + 8));
        int32x4_t mp[4];
        HB_UNROLL
        for (int r = 0; r < 4; ++r)
          mp[r] = vmlal_high_s16(vmull_s16(vget_low_s16(gs), vget_low_s16(rows[r].mins)), gs, rows[r].mins);
        acc[t] = vfmsq_f32(acc[t], vcvtq_f32_s32(totals4(mp[0], mp[1], mp[2], mp[3])), vmulq_n_f32(dmin, xb->d));
      }
    }
  }
  HB_UNROLL
  for (int t = 0; t < T; ++t) store_lanes(a, t, acc[t]);
}

template <void (*Tile1)(const LaneArgs&), void (*Tile2)(const LaneArgs&), void (*Tile3)(const LaneArgs&),
          void (*Tile4)(const LaneArgs&)>
void gemm_lanes(int64_t n, const void* w, size_t w_stride, int64_t nrows, const void* xq, size_t x_stride, int64_t ntok,
                float* y, size_t y_stride) {
  // W (nrows, n) @ Xq (ntok, n)^T -> Y (ntok, nrows), 4 rows x up to 4 tokens per tile.
  const uint8_t* wb = static_cast<const uint8_t*>(w);
  const uint8_t* xb = static_cast<const uint8_t*>(xq);
  for (int64_t g0 = 0; g0 < ntok; g0 += kTokenGroup) {
    const int64_t g1 = min_i64(ntok, g0 + kTokenGroup);
    for (int64_t r0 = 0; r0 < nrows; r0 += 4) {
      LaneArgs a;
      a.n = n;
      a.nvalid = static_cast<int>(min_i64(4, nrows - r0));
      for (int r = 0; r < 4; ++r) a.row[r] = wb + static_cast<size_t>(r0 + (r < a.nvalid ? r : a.nvalid - 1)) * w_stride;
      a.x_stride = x_stride;
      a.y_stride = y_stride;
      for (int64_t t0 = g0; t0 < g1; t0 += 4) {
        a.x = xb + static_cast<size_t>(t0) * x_stride;
        a.y = y + static_cast<size_t>(t0) * y_stride + static_cast<size_t>(r0);
        switch (min_i64(4, g1 - t0)) {
          case 1: Tile1(a); break;
          case 2: Tile2(a); break;
          case 3: Tile3(a); break;
          default: Tile4(a); break;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Float weights (F32, F16, BF16) against F32 activations: R rows x T tokens, two float32x4
// accumulators per output (elements i mod 8 in 0..3 and 4..7).

struct F32LoadArm {
  static inline float32x4_t vec(const uint8_t* row, int64_t i) { return vld1q_f32(reinterpret_cast<const float*>(row) + i); }
  static inline float one(const uint8_t* row, int64_t i) { return reinterpret_cast<const float*>(row)[i]; }
};
struct F16LoadArm {
  static inline float32x4_t vec(const uint8_t* row, int64_t i) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t*>(row) + i)));
  }
  static inline float one(const uint8_t* row, int64_t i) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vld1_dup_u16(reinterpret_cast<const uint16_t*>(row) + i))), 0);
  }
};
struct BF16LoadArm {
  static inline float32x4_t vec(const uint8_t* row, int64_t i) {
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(reinterpret_cast<const uint16_t*>(row) + i), 16));
  }
  static inline float one(const uint8_t* row, int64_t i) {
    return vgetq_lane_f32(vreinterpretq_f32_u32(vshll_n_u16(vld1_dup_u16(reinterpret_cast<const uint16_t*>(row) + i), 16)), 0);
  }
};

struct FloatArgs {
  int64_t n;
  const uint8_t* w;
  size_t w_stride;
  const uint8_t* x;
  size_t x_stride;
  float* y;
  size_t y_stride;
};

template <class Load, int R, int T>
void tile_float(const FloatArgs& a) {
  float32x4_t lo[R][T], hi[R][T];
  HB_UNROLL
  for (int r = 0; r < R; ++r)
    HB_UNROLL
    for (int t = 0; t < T; ++t) lo[r][t] = hi[r][t] = vdupq_n_f32(0.0f);
  const int64_t n8 = a.n & ~int64_t(7);
  for (int64_t i = 0; i < n8; i += 8) {
    float32x4_t wl[R], wh[R];
    HB_UNROLL
    for (int r = 0; r < R; ++r) {
      const uint8_t* row = a.w + static_cast<size_t>(r) * a.w_stride;
      wl[r] = Load::vec(row, i);
      wh[r] = Load::vec(row, i + 4);
    }
    HB_UNROLL
    for (int t = 0; t < T; ++t) {
      const float* xr = reinterpret_cast<const float*>(a.x + static_cast<size_t>(t) * a.x_stride) + i;
      const float32x4_t xl = vld1q_f32(xr), xh = vld1q_f32(xr + 4);
      HB_UNROLL
      for (int r = 0; r < R; ++r) {
        lo[r][t] = vfmaq_f32(lo[r][t], wl[r], xl);
        hi[r][t] = vfmaq_f32(hi[r][t], wh[r], xh);
      }
    }
  }
  HB_UNROLL
  for (int t = 0; t < T; ++t) {
    const float* xr = reinterpret_cast<const float*>(a.x + static_cast<size_t>(t) * a.x_stride);
    HB_UNROLL
    for (int r = 0; r < R; ++r) {
      // ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), then the tail in order.
      const float32x4_t s4 = vaddq_f32(lo[r][t], hi[r][t]);
      const float32x2_t s2 = vadd_f32(vget_low_f32(s4), vget_high_f32(s4));
      float s = vget_lane_f32(s2, 0) + vget_lane_f32(s2, 1);
      const uint8_t* row = a.w + static_cast<size_t>(r) * a.w_stride;
      for (int64_t i = n8; i < a.n; ++i) s = __builtin_fmaf(Load::one(row, i), xr[i], s);
      a.y[static_cast<size_t>(t) * a.y_stride + static_cast<size_t>(r)] = s;
    }
  }
}

template <class Load, int R, int T>
inline void run_float_tile(int rr, int tt, const FloatArgs& a) {
  if constexpr (R > 1) {
    if (rr < R) return run_float_tile<Load, R - 1, T>(rr, tt, a);
  }
  if constexpr (T > 1) {
    if (tt < T) return run_float_tile<Load, R, T - 1>(rr, tt, a);
  }
  tile_float<Load, R, T>(a);
}

template <class Load>
void gemm_float_arm(int64_t n, const void* w, size_t w_stride, int64_t nrows, const void* xq, size_t x_stride, int64_t ntok,
                    float* y, size_t y_stride) {
  // W (nrows, n) @ X (ntok, n)^T -> Y (ntok, nrows), 4 rows x 2 tokens per tile.
  constexpr int R = 4, T = 2;
  const uint8_t* wb = static_cast<const uint8_t*>(w);
  const uint8_t* xb = static_cast<const uint8_t*>(xq);
  for (int64_t g0 = 0; g0 < ntok; g0 += kTokenGroup) {
    const int64_t g1 = min_i64(ntok, g0 + kTokenGroup);
    for (int64_t r0 = 0; r0 < nrows; r0 += R) {
      for (int64_t t0 = g0; t0 < g1; t0 += T) {
        const FloatArgs a = {n, wb + static_cast<size_t>(r0) * w_stride, w_stride, xb + static_cast<size_t>(t0) * x_stride,
                             x_stride, y + static_cast<size_t>(t0) * y_stride + static_cast<size_t>(r0), y_stride};
        run_float_tile<Load, R, T>(static_cast<int>(min_i64(R, nrows - r0)), static_cast<int>(min_i64(T, g1 - t0)), a);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Kernel tables.

TypeKernels with_ref_dequant(TypeKernels k) {
  k.dequantize_row = ref_kernels(k.type)->dequantize_row;
  return k;
}

#define HB_ARM_GEMMK(Block, unpack, has_min)                                                      \
  gemm_lanes<tile_k<Block, unpack, has_min, 1>, tile_k<Block, unpack, has_min, 2>, tile_k<Block, unpack, has_min, 3>, \
             tile_k<Block, unpack, has_min, 4>>
#define HB_ARM_GEMMK16(Block, unpack, has_min)                                                            \
  gemm_lanes<tile_k16<Block, unpack, has_min, 1>, tile_k16<Block, unpack, has_min, 2>,                    \
             tile_k16<Block, unpack, has_min, 3>, tile_k16<Block, unpack, has_min, 4>>
#define HB_ARM_GEMM32(Ops) gemm_lanes<tile32<Ops, 1>, tile32<Ops, 2>, tile32<Ops, 3>, tile32<Ops, 4>>

const TypeKernels kArmQ4_0 = {GgmlType::Q4_0, ActFormat::Q8_32, quantize_act_q8_32_arm, HB_ARM_GEMM32(Q4_0Lanes), nullptr};
const TypeKernels kArmQ8_0 = {GgmlType::Q8_0, ActFormat::Q8_32, quantize_act_q8_32_arm, HB_ARM_GEMM32(Q8_0Lanes), nullptr};
const TypeKernels kArmQ4_1 = {GgmlType::Q4_1, ActFormat::Q8_32, quantize_act_q8_32_arm, HB_ARM_GEMM32(Q4_1Lanes), nullptr};
const TypeKernels kArmQ5_0 = {GgmlType::Q5_0, ActFormat::Q8_32, quantize_act_q8_32_arm, HB_ARM_GEMM32(Q5_0Lanes), nullptr};
const TypeKernels kArmQ5_1 = {GgmlType::Q5_1, ActFormat::Q8_32, quantize_act_q8_32_arm, HB_ARM_GEMM32(Q5_1Lanes), nullptr};
const TypeKernels kArmIQ4_NL = {GgmlType::IQ4_NL, ActFormat::Q8_32, quantize_act_q8_32_arm, HB_ARM_GEMM32(IQ4_NLLanes), nullptr};
const TypeKernels kArmQ6_K = {GgmlType::Q6_K, ActFormat::Q8_256, quantize_act_q8_256_arm,
                              HB_ARM_GEMMK16(BlockQ6_K, unpack_q6k_arm, false), nullptr};
const TypeKernels kArmQ4_K = {GgmlType::Q4_K, ActFormat::Q8_256, quantize_act_q8_256_arm, HB_ARM_GEMMK(BlockQ4_K, unpack_q4k_arm, true),
                              nullptr};
const TypeKernels kArmQ5_K = {GgmlType::Q5_K, ActFormat::Q8_256, quantize_act_q8_256_arm, HB_ARM_GEMMK(BlockQ5_K, unpack_q5k_arm, true),
                              nullptr};
const TypeKernels kArmIQ4_XS = {GgmlType::IQ4_XS, ActFormat::Q8_256, quantize_act_q8_256_arm,
                                HB_ARM_GEMMK(BlockIQ4_XS, unpack_iq4xs_arm, false), nullptr};
const TypeKernels kArmQ3_K = {GgmlType::Q3_K, ActFormat::Q8_256, quantize_act_q8_256_arm,
                              HB_ARM_GEMMK16(BlockQ3_K, unpack_q3k_arm, false), nullptr};
const TypeKernels kArmQ2_K = {GgmlType::Q2_K, ActFormat::Q8_256, quantize_act_q8_256_arm,
                              HB_ARM_GEMMK16(BlockQ2_K, unpack_q2k_arm, true), nullptr};
const TypeKernels kArmF32 = {GgmlType::F32, ActFormat::F32, quantize_act_f32_ref, gemm_float_arm<F32LoadArm>, nullptr};
const TypeKernels kArmF16 = {GgmlType::F16, ActFormat::F32, quantize_act_f32_ref, gemm_float_arm<F16LoadArm>, nullptr};
const TypeKernels kArmBF16 = {GgmlType::BF16, ActFormat::F32, quantize_act_f32_ref, gemm_float_arm<BF16LoadArm>, nullptr};

}  // namespace
}  // namespace kern
}  // namespace hb
