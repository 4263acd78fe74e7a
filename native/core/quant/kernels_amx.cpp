// AMX-INT8 kernels (Intel Sapphire Rapids and later): the 8-row products of the 32-element types
// over many tokens (prefill), on tile registers. This file alone is compiled with the AVX-512
// flags plus -mamx-tile -mamx-int8, and is only called after cpu_features() reported AMX-TILE and
// AMX-INT8, the OS saves tile state (XCR0) and Linux granted this process the tile data
// (arch_prctl ARCH_REQ_XCOMP_PERM, cpu_features.cpp). The kernel set "avx512amx" is the AVX-512
// one with these gemm_x8 in place of its own; every other entry is AVX-512's.
//
// Same bits as the AVX-512 8-row kernels (kernels_x86.h, NibbleX8Ops / IQ4_NLx8Ops / Q8_0x8Ops),
// so the kernel tests compare them bit for bit. Per output element and block of 32, both compute
//   isum = the exact integer dot of the block's 32 signed weights with the 32 activation int8,
//   acc = fma(float(isum), d_w * d_x, acc), then for Q4_1 / Q5_1 acc = fma(m_w, s_x, acc),
// blocks in order. Here one tdpbssd gives isum for 16 rows x 16 tokens at once:
//   A (16 rows, 32 int8)   = weights of two packed 8-row groups, unpacked to signed int8
//                            (Q4_0: nibble - 8, Q5_0: 5-bit - 16, Q4_1/Q5_1: unsigned value,
//                            IQ4_NL: the codebook value, Q8_0: as stored);
//   B (8 rows, 64 bytes)   = 16 tokens' 32 int8 in VNNI order (row k: bytes 4k..4k+3 of each token);
//   C (16, 16) int32       = A . B: C[r][t] = isum of row r and token t,
// and the float step runs on 16 lanes per row, lane t = token t.
//
// Tokens past the last full 16 and rows past the last full 16 go to the AVX-512 kernel (the same
// arithmetic per element, so the split does not show in the results); so does a call with fewer
// than 16 tokens (decode), where AMX has nothing to gain.
// Linux only: the one system where cpu_features() asks for the tile state (and mingw-w64's GCC 12
// emits 32-bit stride registers in tile loads, which its assembler rejects).
#if defined(__x86_64__) && defined(__linux__) && defined(__AMX_INT8__) && defined(__AMX_TILE__) && defined(__AVX512BW__)
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "blocks.h"
#include "kernels_internal.h"

// GCC 12 warns inside its own 512-bit intrinsics (their "undefined" source operands, written
// __Y = __Y) wherever they are inlined; nothing here reads an undefined value.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace hb {
namespace kern {
namespace {

// Tile register roles (palette 1): two blocks in flight, each with its A, B and C. Macros, not
// constants: GCC's tile intrinsics paste the register number into the instruction text.
#define HB_TILE_A0 0
#define HB_TILE_A1 1
#define HB_TILE_B0 2
#define HB_TILE_B1 3
#define HB_TILE_C0 4
#define HB_TILE_C1 5

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64, "LDTILECFG reads a 64-byte configuration");

const TileConfig& tile_config() {
  static const TileConfig cfg = [] {
    TileConfig c;
    for (int t : {HB_TILE_A0, HB_TILE_A1}) c.rows[t] = 16, c.colsb[t] = 32;  // 16 rows x 32 int8
    for (int t : {HB_TILE_B0, HB_TILE_B1}) c.rows[t] = 8, c.colsb[t] = 64;   // 8 x (16 tokens x 4 int8)
    for (int t : {HB_TILE_C0, HB_TILE_C1}) c.rows[t] = 16, c.colsb[t] = 64;  // 16 rows x 16 int32
    return c;
  }();
  return cfg;
}

// Bytes of one tile's A or B operand per block: 16 x 32 and 8 x 64.
constexpr size_t kTileBytes = 512;
// Activations of this many bytes (16 tokens x n int8 per group) are packed at a time, so a chunk
// stays in L2 while every row tile of the call sweeps over it (SPR: 2 MiB of L2 per core).
constexpr size_t kChunkBytes = size_t{1} << 20;

// Unpackers: one packed block of an 8-row group -> its 8 rows' 32 weights as signed int8, row r at
// out[32 r .. 32 r + 31] in element order, and the rows' scales (and minimums) as floats.
//
// The nibble layouts (BlockQ4_0x8 and kin): row r's byte 4k + i (elements 4k + i low and 16 + 4k + i
// high nibble) is qs[32k + 4r + i], i.e. dword 8k + r. A pair of rows (2j, 2j + 1) is one
// 16-dword vector: dwords 0-3 row 2j's low nibbles (k = 0..3), 4-7 its high ones, 8-15 row 2j + 1's.
inline __m512i nibble_pair_index(int j) {
  alignas(64) int32_t idx[16];
  for (int p = 0; p < 16; ++p) idx[p] = (p % 4) * 8 + 2 * j + p / 8;
  return _mm512_load_si512(idx);
}
constexpr __mmask16 kHighHalves = 0xF0F0;  // dwords 4-7 and 12-15: the high nibbles

// Row pair j's 32 bytes of nibbles as 64 unsigned values 0..15 (elements in order per row).
inline __m512i nibbles_pair(__m512i raw0, __m512i raw1, int j) {
  const __m512i sel = _mm512_permutex2var_epi32(raw0, nibble_pair_index(j), raw1);
  const __m512i m4 = _mm512_set1_epi8(15);
  return _mm512_mask_blend_epi32(kHighHalves, _mm512_and_si512(sel, m4), _mm512_and_si512(_mm512_srli_epi16(sel, 4), m4));
}

// Q5 layouts: bit k of qh[4r + i] is the 5th bit of row r's element 4k + i, bit 4 + k that of
// element 16 + 4k + i. Row pair j's 5th bits, at bit 4 of each byte in nibbles_pair's order.
inline __m512i fifth_bits_pair(const uint8_t* qh, int j) {
  const __m512i rows = _mm512_zextsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh)));
  alignas(64) int32_t idx[16], shift[16];
  for (int p = 0; p < 16; ++p) {
    idx[p] = 2 * j + p / 8;                         // qh dword of the lane's row
    shift[p] = (p % 4) + ((p % 8) >= 4 ? 4 : 0);    // bit k (low nibble) or 4 + k (high)
  }
  const __m512i q = _mm512_permutexvar_epi32(_mm512_load_si512(idx), rows);
  // A dword shift by s < 8 brings bit s of each byte to its bit 0.
  const __m512i bit = _mm512_and_si512(_mm512_srlv_epi32(q, _mm512_load_si512(shift)), _mm512_set1_epi8(1));
  return _mm512_slli_epi16(bit, 4);  // bit 0 -> bit 4 of each byte (no carries between bytes)
}

inline void store_scales(const uint16_t* d, float* out) {
  _mm256_storeu_ps(out, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(d))));
}

// kFifth: Q5 layouts; kOffset: subtracted from the unsigned value (Q4_0 8, Q5_0 16); kMin: the
// block carries per-row minimums (Q4_1, Q5_1).
template <class BlockX8, GgmlType kType, bool kFifth, int kOffset, bool kMin>
struct NibbleUnpack {
  using Block = BlockX8;
  static constexpr GgmlType type = kType;
  static constexpr bool has_min = kMin;
  // w (8 rows, 32) packed -> a (8, 32) int8, d (8,) and m (8,) floats
  static void rows8(const Block& w, int8_t* a, float* d, float* m) {
    const __m512i raw0 = _mm512_loadu_si512(w.qs), raw1 = _mm512_loadu_si512(w.qs + 64);
    for (int j = 0; j < 4; ++j) {
      __m512i q = nibbles_pair(raw0, raw1, j);
      if constexpr (kFifth) q = _mm512_or_si512(q, fifth_bits_pair(w.qh, j));
      if constexpr (kOffset != 0) q = _mm512_sub_epi8(q, _mm512_set1_epi8(kOffset));
      _mm512_storeu_si512(a + 64 * j, q);
    }
    store_scales(w.d, d);
    if constexpr (kMin) store_scales(w.m, m);
  }
};

struct IQ4_NLUnpack {
  using Block = BlockIQ4_NLx8;
  static constexpr GgmlType type = GgmlType::IQ4_NL;
  static constexpr bool has_min = false;
  static void rows8(const Block& w, int8_t* a, float* d, float*) {
    const __m512i raw0 = _mm512_loadu_si512(w.qs), raw1 = _mm512_loadu_si512(w.qs + 64);
    const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4nlValues)));
    for (int j = 0; j < 4; ++j) _mm512_storeu_si512(a + 64 * j, _mm512_shuffle_epi8(table, nibbles_pair(raw0, raw1, j)));
    store_scales(w.d, d);
  }
};

// BlockQ8_0x8: row r's dword k (bytes 4k..4k+3) is dword 8k + r of qs (k < 8): dwords 0-31 hold
// k < 4, dwords 32-63 k >= 4. Row pair j: lanes 0-7 row 2j's k = 0..7, lanes 8-15 row 2j + 1's.
struct Q8_0Unpack {
  using Block = BlockQ8_0x8;
  static constexpr GgmlType type = GgmlType::Q8_0;
  static constexpr bool has_min = false;
  static void rows8(const Block& w, int8_t* a, float* d, float*) {
    const __m512i lo0 = _mm512_loadu_si512(w.qs), lo1 = _mm512_loadu_si512(w.qs + 64);
    const __m512i hi0 = _mm512_loadu_si512(w.qs + 128), hi1 = _mm512_loadu_si512(w.qs + 192);
    for (int j = 0; j < 4; ++j) {
      alignas(64) int32_t idx[16];
      for (int p = 0; p < 16; ++p) idx[p] = ((p % 8) % 4) * 8 + 2 * j + p / 8;
      const __m512i ix = _mm512_load_si512(idx);
      const __m512i first = _mm512_permutex2var_epi32(lo0, ix, lo1);   // k = 0..3 (lanes p % 8 < 4)
      const __m512i second = _mm512_permutex2var_epi32(hi0, ix, hi1);  // k = 4..7 (lanes p % 8 >= 4)
      _mm512_storeu_si512(a + 64 * j, _mm512_mask_blend_epi32(kHighHalves, first, second));
    }
    store_scales(w.d, d);
  }
};

// Per-thread scratch: packed activations of one chunk, one row tile's unpacked weights.
struct Scratch {
  std::vector<int8_t> b;   // [group][block] 512 bytes: tokens' int8 in VNNI order
  std::vector<float> dx;   // [group][block][16]: tokens' d
  std::vector<float> sx;   // [group][block][16]: tokens' s (minimum types)
  std::vector<int8_t> a;   // [block] 512 bytes: 16 rows x 32 int8
  std::vector<float> dw;   // [block][16]: rows' d
  std::vector<float> mw;   // [block][16]: rows' m (minimum types)
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// Xq tokens [0, 16 * ng) -> B tiles and scales of ng groups (gathers over the tokens' rows).
void pack_tokens(const uint8_t* xq, size_t x_stride, int64_t nb, int64_t ng, bool with_s, Scratch& s) {
  alignas(64) int32_t rows[16];
  for (int t = 0; t < 16; ++t) rows[t] = static_cast<int32_t>(static_cast<size_t>(t) * x_stride);
  const __m512i row_off = _mm512_load_si512(rows);
  for (int64_t g = 0; g < ng; ++g) {
    const uint8_t* xg = xq + static_cast<size_t>(16 * g) * x_stride;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = xg + static_cast<size_t>(b) * sizeof(ActQ8_32);
      const size_t at = static_cast<size_t>(g * nb + b);
      int8_t* dst = s.b.data() + at * kTileBytes;
      for (int k = 0; k < 8; ++k)
        _mm512_storeu_si512(dst + 64 * k, _mm512_i32gather_epi32(row_off, blk + offsetof(ActQ8_32, qs) + 4 * k, 1));
      _mm512_storeu_ps(s.dx.data() + 16 * at, _mm512_i32gather_ps(row_off, blk + offsetof(ActQ8_32, d), 1));
      if (with_s) _mm512_storeu_ps(s.sx.data() + 16 * at, _mm512_i32gather_ps(row_off, blk + offsetof(ActQ8_32, s), 1));
    }
  }
}

// One block's C (16 rows x 16 tokens, int32) into the 16 accumulators (lane t = token t):
// acc[r] = fma(float(C[r]), d_w[r] * d_x, acc[r]) (+ fma(m_w[r], s_x, acc[r])).
template <bool kMin>
__attribute__((always_inline)) inline void scale_block(const int32_t* c, const float* dw, const float* mw, const float* dx,
                                                       const float* sx, __m512 (&acc)[16]) {
  const __m512 dxv = _mm512_loadu_ps(dx);
  _Pragma("GCC unroll 16") for (int r = 0; r < 16; ++r) {
    const __m512 ci = _mm512_cvtepi32_ps(_mm512_load_si512(c + 16 * r));
    acc[r] = _mm512_fmadd_ps(ci, _mm512_mul_ps(_mm512_set1_ps(dw[r]), dxv), acc[r]);
    if constexpr (kMin) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(mw[r]), _mm512_loadu_ps(sx), acc[r]);
  }
}

// W (16, n): one row tile, unpacked in s.a / s.dw / s.mw @ group g's 16 tokens -> Y (16, 16 rows).
template <bool kMin>
void row_tile_group(int64_t nb, const Scratch& s, int64_t g, float* y, size_t y_stride) {
  __m512 acc[16];
  for (auto& v : acc) v = _mm512_setzero_ps();
  alignas(64) int32_t c[2][256];
  const int8_t* bg = s.b.data() + static_cast<size_t>(g * nb) * kTileBytes;
  const float* dxg = s.dx.data() + static_cast<size_t>(g * nb) * 16;
  const float* sxg = kMin ? s.sx.data() + static_cast<size_t>(g * nb) * 16 : nullptr;
  const int8_t* a = s.a.data();
  int64_t b = 0;
  // Two blocks in flight: one block's product overlaps the other's store and float step; each
  // lane still adds its blocks in order.
  for (; b + 2 <= nb; b += 2) {
    _tile_loadd(HB_TILE_A0, a + b * kTileBytes, 32);
    _tile_loadd(HB_TILE_B0, bg + b * kTileBytes, 64);
    _tile_zero(HB_TILE_C0);
    _tile_dpbssd(HB_TILE_C0, HB_TILE_A0, HB_TILE_B0);
    _tile_loadd(HB_TILE_A1, a + (b + 1) * kTileBytes, 32);
    _tile_loadd(HB_TILE_B1, bg + (b + 1) * kTileBytes, 64);
    _tile_zero(HB_TILE_C1);
    _tile_dpbssd(HB_TILE_C1, HB_TILE_A1, HB_TILE_B1);
    _tile_stored(HB_TILE_C0, c[0], 64);
    _tile_stored(HB_TILE_C1, c[1], 64);
    for (int h = 0; h < 2; ++h)
      scale_block<kMin>(c[h], s.dw.data() + (b + h) * 16, kMin ? s.mw.data() + (b + h) * 16 : nullptr, dxg + (b + h) * 16,
                        kMin ? sxg + (b + h) * 16 : nullptr, acc);
  }
  if (b < nb) {
    _tile_loadd(HB_TILE_A0, a + b * kTileBytes, 32);
    _tile_loadd(HB_TILE_B0, bg + b * kTileBytes, 64);
    _tile_zero(HB_TILE_C0);
    _tile_dpbssd(HB_TILE_C0, HB_TILE_A0, HB_TILE_B0);
    _tile_stored(HB_TILE_C0, c[0], 64);
    scale_block<kMin>(c[0], s.dw.data() + b * 16, kMin ? s.mw.data() + b * 16 : nullptr, dxg + b * 16,
                      kMin ? sxg + b * 16 : nullptr, acc);
  }
  alignas(64) float out[16][16];
  for (int r = 0; r < 16; ++r) _mm512_store_ps(out[r], acc[r]);
  for (int t = 0; t < 16; ++t) {
    float* yt = y + static_cast<size_t>(16 * g + t) * y_stride;
    for (int r = 0; r < 16; ++r) yt[r] = out[r][t];
  }
}

// W (nrows, n) packed x8 @ Xq (ntok, n)^T -> Y (ntok, nrows), as TypeKernels::gemm_x8.
template <class Unpack>
void gemm_x8_amx(int64_t n, const void* w, size_t w_stride, int64_t nrows, const void* xq, size_t x_stride, int64_t ntok,
                 float* y, size_t y_stride) {
  const auto fallback = avx512_kernels(Unpack::type)->gemm_x8;
  const int64_t ntok16 = ntok / 16 * 16, nrows16 = nrows / 16 * 16;
  // The gathers address 16 tokens' rows with int32 offsets.
  if (ntok16 == 0 || nrows16 == 0 || x_stride > (size_t{1} << 26))
    return fallback(n, w, w_stride, nrows, xq, x_stride, ntok, y, y_stride);
  const int64_t nb = n / 32;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(xq);
  const int64_t chunk_groups =
      std::max<int64_t>(1, static_cast<int64_t>(kChunkBytes / (16 * static_cast<size_t>(n))));
  const int64_t groups = ntok16 / 16;
  Scratch& s = scratch();
  const size_t chunk_blocks = static_cast<size_t>(std::min(chunk_groups, groups) * nb);
  s.b.resize(chunk_blocks * kTileBytes);
  s.dx.resize(chunk_blocks * 16);
  if (Unpack::has_min) s.sx.resize(chunk_blocks * 16), s.mw.resize(static_cast<size_t>(nb) * 16);
  s.a.resize(static_cast<size_t>(nb) * kTileBytes);
  s.dw.resize(static_cast<size_t>(nb) * 16);
  _tile_loadconfig(&tile_config());
  for (int64_t g0 = 0; g0 < groups; g0 += chunk_groups) {
    const int64_t ng = std::min(chunk_groups, groups - g0);
    pack_tokens(xb + static_cast<size_t>(16 * g0) * x_stride, x_stride, nb, ng, Unpack::has_min, s);
    for (int64_t r0 = 0; r0 < nrows16; r0 += 16) {
      const auto* g_lo = reinterpret_cast<const typename Unpack::Block*>(wb + static_cast<size_t>(r0 / 8) * w_stride);
      const auto* g_hi = reinterpret_cast<const typename Unpack::Block*>(wb + static_cast<size_t>(r0 / 8 + 1) * w_stride);
      for (int64_t b = 0; b < nb; ++b) {
        int8_t* ab = s.a.data() + static_cast<size_t>(b) * kTileBytes;
        float* db = s.dw.data() + 16 * b;
        float* mb = Unpack::has_min ? s.mw.data() + 16 * b : nullptr;
        Unpack::rows8(g_lo[b], ab, db, mb);
        Unpack::rows8(g_hi[b], ab + 256, db + 8, Unpack::has_min ? mb + 8 : nullptr);
      }
      float* yr = y + static_cast<size_t>(16 * g0) * y_stride + static_cast<size_t>(r0);
      for (int64_t g = 0; g < ng; ++g) row_tile_group<Unpack::has_min>(nb, s, g, yr, y_stride);
    }
  }
  _tile_release();  // leave the tile state unused while this thread waits for other work
  if (nrows16 < nrows)
    fallback(n, wb + static_cast<size_t>(nrows16 / 8) * w_stride, w_stride, nrows - nrows16, xq, x_stride, ntok16,
             y + nrows16, y_stride);
  if (ntok16 < ntok)
    fallback(n, w, w_stride, nrows, xb + static_cast<size_t>(ntok16) * x_stride, x_stride, ntok - ntok16,
             y + static_cast<size_t>(ntok16) * y_stride, y_stride);
}

using Q4_0Amx = NibbleUnpack<BlockQ4_0x8, GgmlType::Q4_0, false, 8, false>;
using Q4_1Amx = NibbleUnpack<BlockQ4_1x8, GgmlType::Q4_1, false, 0, true>;
using Q5_0Amx = NibbleUnpack<BlockQ5_0x8, GgmlType::Q5_0, true, 16, false>;
using Q5_1Amx = NibbleUnpack<BlockQ5_1x8, GgmlType::Q5_1, true, 0, true>;

template <class Unpack>
TypeKernels with_amx() {
  TypeKernels k = *avx512_kernels(Unpack::type);
  k.gemm_x8 = gemm_x8_amx<Unpack>;
  return k;
}

#undef HB_TILE_A0
#undef HB_TILE_A1
#undef HB_TILE_B0
#undef HB_TILE_B1
#undef HB_TILE_C0
#undef HB_TILE_C1

}  // namespace

const TypeKernels* amx_kernels(GgmlType t) {
  static const TypeKernels table[] = {with_amx<Q4_0Amx>(), with_amx<Q4_1Amx>(),     with_amx<Q5_0Amx>(),
                                      with_amx<Q5_1Amx>(), with_amx<IQ4_NLUnpack>(), with_amx<Q8_0Unpack>()};
  for (const TypeKernels& k : table)
    if (k.type == t) return &k;
  return nullptr;
}

}  // namespace kern
}  // namespace hb

#elif defined(__x86_64__)
// Not Linux, a compiler without AMX support, or the emulated AVX-512 test build: no AMX kernels.
#include "kernels_internal.h"
namespace hb {
namespace kern {
const TypeKernels* amx_kernels(GgmlType) { return nullptr; }
}  // namespace kern
}  // namespace hb
#endif  // __x86_64__
