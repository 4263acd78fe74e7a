// AMX-INT8 kernels (Intel Sapphire Rapids and later): the 8-row products over many tokens
// (prefill), on tile registers. This file alone is compiled with the AVX-512 flags plus
// -mamx-tile -mamx-int8, and is only called after cpu_features() reported AMX-TILE and AMX-INT8,
// the OS saves tile state (XCR0) and Linux granted this process the tile data (arch_prctl
// ARCH_REQ_XCOMP_PERM, cpu_features.cpp). The kernel set "avx512amx" is the AVX-512 one with
// these gemm_x8 in place of its own; every other entry is AVX-512's.
//
// Same bits as the AVX-512 8-row kernels (kernels_x86.h), so the kernel tests compare them bit for
// bit: both compute each block's exact integer dot (here by tile products), then the same float
// steps in the same order.
//
// The 32-element types (NibbleX8Ops / IQ4_NLx8Ops / Q8_0x8Ops). Per output element and block of
// 32, isum = the exact integer dot of the block's 32 signed weights with the 32 activation int8,
// acc = fma(float(isum), d_w * d_x, acc), then for Q4_1 / Q5_1 acc = fma(m_w, s_x, acc), blocks in
// order. One tdpbssd gives isum for 16 rows x 16 tokens at once:
//   A (16 rows, 32 int8)   = weights of two packed 8-row groups, unpacked to signed int8
//                            (Q4_0: nibble - 8, Q5_0: 5-bit - 16, Q4_1/Q5_1: unsigned value,
//                            IQ4_NL: the codebook value, Q8_0: as stored);
//   B (8 rows, 64 bytes)   = 16 tokens' 32 int8 in VNNI order (row k: bytes 4k..4k+3 of each token);
//   C (16, 16) int32       = A . B: C[r][t] = isum of row r and token t,
// and the float step runs on 16 lanes per row, lane t = token t.
//
// The k-quants Q4_K, Q5_K, Q6_K (Q4_Kx8Ops / Q5_Kx8Ops / Q6_Kx8Ops): per super-block of 256 and
// row, isum = sum_e p_e x_e over its elements, p_e the weight's integer with its sub-block scale
// folded in (Q4_K / Q5_K: sc_j * u, u the 4- or 5-bit value, 0..945 / 0..1953; Q6_K: sc_g * (u - 32),
// -3968..4096), which is the AVX-512 kernels' integer (they add the same products grouped by
// sub-block). p does not fit int8, so each is split p = (hi << kShift) + lo into two int8 (Q4_K /
// Q5_K: lo = p & 127, hi = p >> 7 <= 15; Q6_K: lo = p & 63, hi = p >> 6 in -62..64), and two tile
// products over 64 elements (K = 64) accumulate the whole super-block: isum = (C_hi << kShift) +
// C_lo, exact (|isum| <= 256 * 4096 * 127 < 2^31). Q4_K / Q5_K's minimum term msum = sum_j m_j *
// (sum of sub-block j's x) is a third product, of the sub-block minimums spread over their 32
// elements. Then acc = fma(float(isum), d_w * d_x, acc) and, with minimums,
// acc = fnmadd(float(msum), dmin_w * d_x, acc), super-blocks in order.
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
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace hb {
namespace kern {
namespace {

// Tile register roles (palette 1). Macros, not constants: GCC's tile intrinsics paste the
// register number into the instruction text. The 32-element types keep two blocks in flight, each
// with its A, B and C; the k-quants have one B shared by the products of A hi, lo (and minimums).
#define HB_TILE_A0 0
#define HB_TILE_A1 1
#define HB_TILE_B0 2
#define HB_TILE_B1 3
#define HB_TILE_C0 4
#define HB_TILE_C1 5
#define HB_KTILE_A_HI 0
#define HB_KTILE_A_LO 1
#define HB_KTILE_A_MIN 2
#define HB_KTILE_B 3
#define HB_KTILE_C_HI 4
#define HB_KTILE_C_LO 5
#define HB_KTILE_C_MIN 6
#define HB_KTILE_B2 7

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64, "LDTILECFG reads a 64-byte configuration");

const TileConfig& tile_config_32() {
  static const TileConfig cfg = [] {
    TileConfig c;
    for (int t : {HB_TILE_A0, HB_TILE_A1}) c.rows[t] = 16, c.colsb[t] = 32;  // 16 rows x 32 int8
    for (int t : {HB_TILE_B0, HB_TILE_B1}) c.rows[t] = 8, c.colsb[t] = 64;   // 8 x (16 tokens x 4 int8)
    for (int t : {HB_TILE_C0, HB_TILE_C1}) c.rows[t] = 16, c.colsb[t] = 64;  // 16 rows x 16 int32
    return c;
  }();
  return cfg;
}

// k-quants: A 16 rows x 64 int8, B 16 x (16 tokens x 4 int8), C 16 rows x 16 int32.
const TileConfig& tile_config_k() {
  static const TileConfig cfg = [] {
    TileConfig c;
    for (int t = HB_KTILE_A_HI; t <= HB_KTILE_B2; ++t) c.rows[t] = 16, c.colsb[t] = 64;
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

// Row pair j's dwords from four vectors that hold dword 8k + r at row r's piece k (k < 8; v0, v1:
// k < 4, v2, v3: k >= 4): lanes 0-7 row 2j's pieces k = 0..7, lanes 8-15 row 2j + 1's.
inline __m512i row_pair_dwords(__m512i v0, __m512i v1, __m512i v2, __m512i v3, int j) {
  alignas(64) int32_t idx[16];
  for (int p = 0; p < 16; ++p) idx[p] = ((p % 8) % 4) * 8 + 2 * j + p / 8;
  const __m512i ix = _mm512_load_si512(idx);
  const __m512i first = _mm512_permutex2var_epi32(v0, ix, v1);   // k = 0..3 (lanes p % 8 < 4)
  const __m512i second = _mm512_permutex2var_epi32(v2, ix, v3);  // k = 4..7 (lanes p % 8 >= 4)
  return _mm512_mask_blend_epi32(kHighHalves, first, second);
}

// BlockQ8_0x8: row r's dword k (bytes 4k..4k+3) is dword 8k + r of qs (k < 8).
struct Q8_0Unpack {
  using Block = BlockQ8_0x8;
  static constexpr GgmlType type = GgmlType::Q8_0;
  static constexpr bool has_min = false;
  static void rows8(const Block& w, int8_t* a, float* d, float*) {
    const __m512i lo0 = _mm512_loadu_si512(w.qs), lo1 = _mm512_loadu_si512(w.qs + 64);
    const __m512i hi0 = _mm512_loadu_si512(w.qs + 128), hi1 = _mm512_loadu_si512(w.qs + 192);
    for (int j = 0; j < 4; ++j) _mm512_storeu_si512(a + 64 * j, row_pair_dwords(lo0, lo1, hi0, hi1, j));
    store_scales(w.d, d);
  }
};

// ---- k-quant unpackers: one packed super-block of an 8-row group -> its A rows, per chunk c of 64
// elements (64c .. 64c + 63) and piece (hi, lo, and for minimum types the minimums), row r's 64
// int8 at a + ((c * kPieces + piece) * 16 + r) * 64 (the rows of a 16-row tile; the second group
// of a row tile writes at a + 8 * 64), and the rows' d (and dmin) as floats.

// Bits [from, from + width) of each byte moved to bits [to, to + width), the rest cleared.
template <int From, int To, int Width>
inline __m512i move_bits(__m512i v) {
  const __m512i mask = _mm512_set1_epi8(static_cast<char>(((1 << Width) - 1) << To));
  if constexpr (From < To) v = _mm512_slli_epi16(v, To - From);
  if constexpr (From > To) v = _mm512_srli_epi16(v, From - To);
  return _mm512_and_si512(v, mask);
}
// The same with From chosen at run time among 0..7 (the unrolled loops make it a constant).
template <int To, int Width>
inline __m512i move_bits_from(__m512i v, int from) {
  switch (from) {
    case 0: return move_bits<0, To, Width>(v);
    case 1: return move_bits<1, To, Width>(v);
    case 2: return move_bits<2, To, Width>(v);
    case 3: return move_bits<3, To, Width>(v);
    case 4: return move_bits<4, To, Width>(v);
    case 5: return move_bits<5, To, Width>(v);
    case 6: return move_bits<6, To, Width>(v);
    default: return move_bits<7, To, Width>(v);
  }
}

// Row r's chunk: u (64 unsigned values, element order), sc the scale of each 16-bit lane's two
// elements -> p = (u - kOffset) * sc (fits int16) split into the A rows hi = p >> kShift
// (arithmetic) and lo = p & (2^kShift - 1), each 64 int8. Even and odd bytes are multiplied in
// place as 16-bit lanes and their parts put back with shifts and masks, without widening to
// 32-bit lanes and narrowing back (vpmovwb): 12 instructions per row and chunk instead of 18.
template <int kOffset, int kShift>
__attribute__((always_inline)) inline void split_products(__m512i u, __m512i sc, int8_t* hi, int8_t* lo) {
  __m512i even = _mm512_and_si512(u, _mm512_set1_epi16(0x00FF)), odd = _mm512_srli_epi16(u, 8);
  if constexpr (kOffset != 0) {
    even = _mm512_sub_epi16(even, _mm512_set1_epi16(kOffset));
    odd = _mm512_sub_epi16(odd, _mm512_set1_epi16(kOffset));
  }
  const __m512i pe = _mm512_mullo_epi16(even, sc), po = _mm512_mullo_epi16(odd, sc);
  constexpr int kLow = (1 << kShift) - 1;
  // lo: pe's low kShift bits, then po's at bit 8; hi: pe >> kShift's low byte, then po's (bits
  // kShift .. kShift + 7 of po moved to 8 .. 15).
  const __m512i lo_v = _mm512_or_si512(_mm512_and_si512(pe, _mm512_set1_epi16(kLow)),
                                       _mm512_and_si512(_mm512_slli_epi16(po, 8), _mm512_set1_epi16(kLow << 8)));
  const __m512i hi_v = _mm512_or_si512(_mm512_and_si512(_mm512_srai_epi16(pe, kShift), _mm512_set1_epi16(0x00FF)),
                                       _mm512_and_si512(_mm512_slli_epi16(po, 8 - kShift), _mm512_set1_epi16(static_cast<short>(0xFF00))));
  _mm512_storeu_si512(lo, lo_v);
  _mm512_storeu_si512(hi, hi_v);
}

// 16-bit lane indices that give every lane of chunk row r its scale: a chunk has kGroups scales
// per row (one per 64 / kGroups elements, i.e. 32 / kGroups lanes), scale g of row r at word 8g + r.
template <int kGroups>
inline __m512i scale_spread_index(int r) {
  alignas(64) int16_t idx[32];
  for (int k = 0; k < 32; ++k) idx[k] = static_cast<int16_t>(8 * (k / (32 / kGroups)) + r);
  return _mm512_load_si512(idx);
}

constexpr size_t kKRowBytes = 64;                 // one A row (64 elements) of a k-quant chunk
constexpr size_t kKPieceBytes = 16 * kKRowBytes;  // one 16-row A tile
// Row r of chunk c's piece q.
inline int8_t* k_row(int8_t* a, int pieces, int c, int q, int r) {
  return a + (static_cast<size_t>(c * pieces + q) * 16 + static_cast<size_t>(r)) * kKRowBytes;
}

// Q4_K / Q5_K x8 (BlockQ4_Kx8 / BlockQ5_Kx8): qs as Q4_0 x8 (row r's byte 4k + i at dword 8k + r,
// k < 32); row r's bytes 32c .. 32c + 31 hold sub-block 2c (low nibbles) and 2c + 1 (high) of
// chunk c. Q5_K: qh as Q8_0 x8 (k < 8), the 5th bit of sub-block j's element l is bit j of the
// row's qh byte l. p = sc_j * u (0..945 / 0..1953): kShift 7 (hi <= 15).
template <class BlockX8, GgmlType kType, bool kFifth>
struct K4Unpack {
  using Block = BlockX8;
  static constexpr GgmlType type = kType;
  static constexpr bool has_min = true;
  static constexpr int kPieces = 3, kShift = 7;
  static void rows8(const Block& w, int8_t* a, float* d, float* m) {
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512i h[4] = {};
    if constexpr (kFifth)
      for (int i = 0; i < 4; ++i) h[i] = _mm512_loadu_si512(w.qh + 64 * i);
    for (int c = 0; c < 4; ++c) {
      const uint8_t* q = w.qs + 256 * c;
      const __m512i q0 = _mm512_loadu_si512(q), q1 = _mm512_loadu_si512(q + 64);
      const __m512i q2 = _mm512_loadu_si512(q + 128), q3 = _mm512_loadu_si512(q + 192);
      // Words 0-7: the 8 rows' sub-block 2c scales, 8-15: 2c + 1's (scales[2c], scales[2c + 1] adjoin).
      const __m512i scales = _mm512_zextsi256_si512(
          _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.scales[2 * c]))));
      const __m512i mins = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w.mins[c])));
      for (int j = 0; j < 4; ++j) {
        const __m512i v = row_pair_dwords(q0, q1, q2, q3, j);  // rows 2j, 2j + 1: 32 bytes each
        __m512i lo = _mm512_and_si512(v, m4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        if constexpr (kFifth) {
          const __m512i qh = row_pair_dwords(h[0], h[1], h[2], h[3], j);
          lo = _mm512_or_si512(lo, move_bits_from<4, 1>(qh, 2 * c));
          hi = _mm512_or_si512(hi, move_bits_from<4, 1>(qh, 2 * c + 1));
        }
        for (int e = 0; e < 2; ++e) {
          const int r = 2 * j + e;
          // Row r: sub-block 2c then 2c + 1 (the row's halves of lo and hi).
          const __m512i u = e ? _mm512_shuffle_i64x2(lo, hi, 0xEE) : _mm512_shuffle_i64x2(lo, hi, 0x44);
          split_products<0, kShift>(u, _mm512_permutexvar_epi16(scale_spread_index<2>(r), scales),
                                    k_row(a, kPieces, c, 0, r), k_row(a, kPieces, c, 1, r));
          // Minimums: bytes 0-31 sub-block 2c's (byte 2r of mins[c]), 32-63 2c + 1's (2r + 1).
          alignas(64) int8_t pick[64];
          for (int k = 0; k < 64; ++k) pick[k] = static_cast<int8_t>(2 * r + k / 32);
          _mm512_storeu_si512(k_row(a, kPieces, c, 2, r), _mm512_shuffle_epi8(mins, _mm512_load_si512(pick)));
        }
      }
    }
    store_scales(w.d, d);
    store_scales(w.dmin, m);
  }
};

// Q6_K x8 (BlockQ6_Kx8): chunk c is half h = c / 2's sub-blocks s = 2 (c % 2) and s + 1, element
// 128h + 32s + 4k + i from ql piece q[h][k][s % 2] (low nibbles for s < 2, high ones above) and
// bits 2s, 2s + 1 of q[h][k][2]; each piece vector holds row r's 4 bytes at 4r. Value u - 32,
// scale of group 4c + (element / 16): p -3968..4096, kShift 6 (hi -62..64, lo 0..63).
struct Q6_KUnpack {
  using Block = BlockQ6_Kx8;
  static constexpr GgmlType type = GgmlType::Q6_K;
  static constexpr bool has_min = false;
  static constexpr int kPieces = 2, kShift = 6;
  static void rows8(const Block& w, int8_t* a, float* d, float*) {
    const __m512i m4 = _mm512_set1_epi8(15);
    for (int c = 0; c < 4; ++c) {
      const int h = c / 2, high = c % 2;
      // Per source x: pieces k = 2i, 2i + 1 in vector i, so dword 8k + r is row r's piece k.
      __m512i v[3][4];
      for (int x = 0; x < 3; ++x)
        for (int i = 0; i < 4; ++i)
          v[x][i] = _mm512_inserti64x4(
              _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.q[h][2 * i][x]))),
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.q[h][2 * i + 1][x])), 1);
      // Word 8i + r: row r's group 4c + i scale (scales[4c .. 4c + 3] adjoin), sign-extended.
      const __m512i scales = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.scales[4 * c])));
      for (int j = 0; j < 4; ++j) {
        const __m512i ql0 = row_pair_dwords(v[0][0], v[0][1], v[0][2], v[0][3], j);
        const __m512i ql1 = row_pair_dwords(v[1][0], v[1][1], v[1][2], v[1][3], j);
        const __m512i qh = row_pair_dwords(v[2][0], v[2][1], v[2][2], v[2][3], j);
        const __m512i n0 = high ? _mm512_and_si512(_mm512_srli_epi16(ql0, 4), m4) : _mm512_and_si512(ql0, m4);
        const __m512i n1 = high ? _mm512_and_si512(_mm512_srli_epi16(ql1, 4), m4) : _mm512_and_si512(ql1, m4);
        const __m512i ua = _mm512_or_si512(n0, move_bits_from<4, 2>(qh, 4 * high));      // sub-block 2 high
        const __m512i ub = _mm512_or_si512(n1, move_bits_from<4, 2>(qh, 4 * high + 2));  // sub-block 2 high + 1
        for (int e = 0; e < 2; ++e) {
          const int r = 2 * j + e;
          const __m512i u = e ? _mm512_shuffle_i64x2(ua, ub, 0xEE) : _mm512_shuffle_i64x2(ua, ub, 0x44);
          split_products<32, kShift>(u, _mm512_permutexvar_epi16(scale_spread_index<4>(r), scales), k_row(a, kPieces, c, 0, r),
                                     k_row(a, kPieces, c, 1, r));
        }
      }
    }
    store_scales(w.d, d);
  }
};

// Bytes on 64-byte boundaries: a tile row of 64 bytes then spans one cache line, not two
// (malloc's 16-byte alignment split every row of the k-quant tiles: 635 against 1450 GOP/s for the
// same tile loop, Q4_K against Q6_K, whose buffer happened to be aligned).
class LineBytes {
 public:
  void resize(size_t n) { lines_.resize((n + 63) / 64); }
  int8_t* data() { return reinterpret_cast<int8_t*>(lines_.data()); }
  const int8_t* data() const { return reinterpret_cast<const int8_t*>(lines_.data()); }

 private:
  struct alignas(64) Line {
    int8_t bytes[64];
  };
  std::vector<Line> lines_;  // C++17's aligned operator new honours alignas(64)
};

// Per-thread scratch: packed activations of one chunk, one row tile's unpacked weights.
struct Scratch {
  LineBytes b;             // [group][block] B tiles: tokens' int8 in VNNI order
  std::vector<float> dx;   // [group][block][16]: tokens' d
  std::vector<float> sx;   // [group][block][16]: tokens' s (Q4_1 / Q5_1)
  LineBytes a;             // [block] A tiles: 16 rows' int8
  std::vector<float> dw;   // [block][16]: rows' d
  std::vector<float> mw;   // [block][16]: rows' m (Q4_1 / Q5_1) or dmin (Q4_K / Q5_K)
  std::vector<__m512> acc;  // k-quants: [group][row] the 16 tokens' sums (C++17 new aligns them)
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// Every cache line of [p, p + len) into L1.
inline void prefetch_lines(const void* p, size_t len) {
  for (size_t off = 0; off < len; off += 64) _mm_prefetch(static_cast<const char*>(p) + off, _MM_HINT_T0);
}

// The 16 token rows' byte offsets, for the gathers.
inline __m512i token_offsets(size_t x_stride) {
  alignas(64) int32_t rows[16];
  for (int t = 0; t < 16; ++t) rows[t] = static_cast<int32_t>(static_cast<size_t>(t) * x_stride);
  return _mm512_load_si512(rows);
}

// Xq tokens [0, 16 * ng) (ActQ8_32 rows) -> B tiles and scales of ng groups.
void pack_tokens_32(const uint8_t* xq, size_t x_stride, int64_t nb, int64_t ng, bool with_s, Scratch& s) {
  const __m512i row_off = token_offsets(x_stride);
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

// Xq tokens [0, 16 * ng) (ActQ8_256 rows) -> per super-block and group 4 B tiles (chunk c: rows
// k = 16c .. 16c + 15, bytes 4k .. 4k + 3 of each token) and the tokens' d. Super-block major, so
// k_superblock's sweep over the groups reads forward (group major, its 32 KiB strides stalled
// every first B load on L2).
constexpr size_t kKBlockBBytes = 4 * kKPieceBytes;
void pack_tokens_256(const uint8_t* xq, size_t x_stride, int64_t nsb, int64_t ng, bool, Scratch& s) {
  const __m512i row_off = token_offsets(x_stride);
  for (int64_t g = 0; g < ng; ++g) {
    const uint8_t* xg = xq + static_cast<size_t>(16 * g) * x_stride;
    for (int64_t b = 0; b < nsb; ++b) {
      const uint8_t* blk = xg + static_cast<size_t>(b) * sizeof(ActQ8_256);
      const size_t at = static_cast<size_t>(b * ng + g);
      int8_t* dst = s.b.data() + at * kKBlockBBytes;
      for (int k = 0; k < 64; ++k)
        _mm512_storeu_si512(dst + 64 * k, _mm512_i32gather_epi32(row_off, blk + offsetof(ActQ8_256, qs) + 4 * k, 1));
      _mm512_storeu_ps(s.dx.data() + 16 * at, _mm512_i32gather_ps(row_off, blk + offsetof(ActQ8_256, d), 1));
    }
  }
}

// The 16 accumulators (row r, lane t = token t) -> Y (16 tokens, 16 rows).
inline void store_transposed(const __m512 (&acc)[16], float* y, size_t y_stride) {
  alignas(64) float out[16][16];
  for (int r = 0; r < 16; ++r) _mm512_store_ps(out[r], acc[r]);
  for (int t = 0; t < 16; ++t) {
    float* yt = y + static_cast<size_t>(t) * y_stride;
    for (int r = 0; r < 16; ++r) yt[r] = out[r][t];
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
  store_transposed(acc, y + static_cast<size_t>(16 * g) * y_stride, y_stride);
}

// W (16, 256): super-block b of one k-quant row tile, unpacked in s.a / s.dw / s.mw @ the ng token
// groups' super-block b -> their accumulators acc (ng x 16 rows x 16 tokens, lane t = token t).
// Per group: C_hi, C_lo (and C_min) over the 4 chunks, then isum = (C_hi << kShift) + C_lo,
// acc = fma(float(isum), d_w * d_x, acc) (and acc = fnmadd(float(C_min), dmin_w * d_x, acc)).
// Super-block by super-block for all groups, so its A tiles stay in L1 while the groups' B
// tiles stream from L2 (group by group over all super-blocks, Q4_K's 12 KiB of A per super-block
// came from L2 for every group: 347 against 600 GOP/s, one core, 2048 x 2048 x 128 tokens).
template <bool kMin, int kShift>
void k_superblock(int64_t nsb, int64_t b, int64_t ng, const Scratch& s, float* acc) {
  constexpr int kPieces = kMin ? 3 : 2;
  alignas(64) int32_t c[3][256];
  const int8_t* ab = s.a.data();
  const float* dw = s.dw.data() + 16 * b;
  const float* mw = kMin ? s.mw.data() + 16 * b : nullptr;
  for (int64_t g = 0; g < ng; ++g) {
    const size_t at = static_cast<size_t>(b * ng + g);
    const int8_t* bb = s.b.data() + at * kKBlockBBytes;
    _tile_zero(HB_KTILE_C_HI);
    _tile_zero(HB_KTILE_C_LO);
    if constexpr (kMin) _tile_zero(HB_KTILE_C_MIN);
    // Two B registers in turn: a chunk's B loads while the products of the last one still read theirs.
#define HB_K_CHUNK(q, B)                                                                \
  do {                                                                                  \
    const int8_t* aq = ab + static_cast<size_t>((q) * kPieces) * kKPieceBytes;          \
    _tile_loadd(B, bb + (q) * kKPieceBytes, 64);                                        \
    _tile_loadd(HB_KTILE_A_HI, aq, 64);                                                 \
    _tile_dpbssd(HB_KTILE_C_HI, HB_KTILE_A_HI, B);                                      \
    _tile_loadd(HB_KTILE_A_LO, aq + kKPieceBytes, 64);                                  \
    _tile_dpbssd(HB_KTILE_C_LO, HB_KTILE_A_LO, B);                                      \
    if constexpr (kMin) {                                                               \
      _tile_loadd(HB_KTILE_A_MIN, aq + 2 * kKPieceBytes, 64);                           \
      _tile_dpbssd(HB_KTILE_C_MIN, HB_KTILE_A_MIN, B);                                  \
    }                                                                                   \
  } while (0)
    HB_K_CHUNK(0, HB_KTILE_B);
    HB_K_CHUNK(1, HB_KTILE_B2);
    HB_K_CHUNK(2, HB_KTILE_B);
    HB_K_CHUNK(3, HB_KTILE_B2);
#undef HB_K_CHUNK
    _tile_stored(HB_KTILE_C_HI, c[0], 64);
    _tile_stored(HB_KTILE_C_LO, c[1], 64);
    if constexpr (kMin) _tile_stored(HB_KTILE_C_MIN, c[2], 64);
    const __m512 dxv = _mm512_loadu_ps(s.dx.data() + 16 * at);
    float* ag = acc + static_cast<size_t>(g) * 256;
    _Pragma("GCC unroll 16") for (int r = 0; r < 16; ++r) {
      const __m512i isum = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(c[0] + 16 * r), kShift),
                                            _mm512_load_si512(c[1] + 16 * r));
      __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(_mm512_set1_ps(dw[r]), dxv),
                                 _mm512_load_ps(ag + 16 * r));
      if constexpr (kMin)
        v = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c[2] + 16 * r)), _mm512_mul_ps(_mm512_set1_ps(mw[r]), dxv), v);
      _mm512_store_ps(ag + 16 * r, v);
    }
  }
}

// The two families for the driver: block size, tile configuration, bytes of one block's B (per
// token group) and A (per row tile), the packer, the row tile's product with one token group.
template <class Unpack>
struct Amx32 {
  using U = Unpack;
  static constexpr int64_t kElems = 32;
  static constexpr size_t kBBytes = kTileBytes, kABytes = kTileBytes, kARowTileBytes = 0;
  static constexpr bool kTokenSums = Unpack::has_min;  // Q4_1 / Q5_1 read the tokens' s
  static const TileConfig& config() { return tile_config_32(); }
  static constexpr auto pack = pack_tokens_32;
  // Rows 16 of groups lo, hi @ the chunk's ng token groups -> y (16 ng tokens, 16 rows).
  static void row_tile(int64_t nb, const typename U::Block* lo, const typename U::Block* hi, int64_t ng, Scratch& s,
                       float* y, size_t y_stride) {
    for (int64_t b = 0; b < nb; ++b) {
      float* m = U::has_min ? s.mw.data() + 16 * b : nullptr;
      U::rows8(lo[b], s.a.data() + static_cast<size_t>(b) * kTileBytes, s.dw.data() + 16 * b, m);
      U::rows8(hi[b], s.a.data() + static_cast<size_t>(b) * kTileBytes + 256, s.dw.data() + 16 * b + 8, m ? m + 8 : nullptr);
    }
    for (int64_t g = 0; g < ng; ++g) row_tile_group<U::has_min>(nb, s, g, y, y_stride);
  }
};
template <class Unpack>
struct AmxK {
  using U = Unpack;
  static constexpr int64_t kElems = 256;
  static constexpr size_t kBBytes = kKBlockBBytes, kABytes = 0;  // one super-block's A at a time
  static constexpr size_t kARowTileBytes = 4 * U::kPieces * kKPieceBytes;
  static constexpr bool kTokenSums = false;  // the minimums are a tile product
  static const TileConfig& config() { return tile_config_k(); }
  static constexpr auto pack = pack_tokens_256;
  static void row_tile(int64_t nsb, const typename U::Block* lo, const typename U::Block* hi, int64_t ng, Scratch& s,
                       float* y, size_t y_stride) {
    s.acc.assign(static_cast<size_t>(ng) * 16, _mm512_setzero_ps());
    for (int64_t b = 0; b < nsb; ++b) {
      float* m = U::has_min ? s.mw.data() + 16 * b : nullptr;
      U::rows8(lo[b], s.a.data(), s.dw.data() + 16 * b, m);
      U::rows8(hi[b], s.a.data() + 8 * kKRowBytes, s.dw.data() + 16 * b + 8, m ? m + 8 : nullptr);
      // The next super-block's weights come from memory (read once per call): asked for now, they
      // arrive while the tile products run (unprefetched, their first loads stalled the unpacking).
      if (b + 1 < nsb) {
        prefetch_lines(lo + b + 1, sizeof(typename U::Block));
        prefetch_lines(hi + b + 1, sizeof(typename U::Block));
      }
      k_superblock<U::has_min, U::kShift>(nsb, b, ng, s, reinterpret_cast<float*>(s.acc.data()));
    }
    for (int64_t g = 0; g < ng; ++g) {
      __m512 acc[16];
      for (int r = 0; r < 16; ++r) acc[r] = s.acc[static_cast<size_t>(g) * 16 + r];
      store_transposed(acc, y + static_cast<size_t>(16 * g) * y_stride, y_stride);
    }
  }
};

// W (nrows, n) packed x8 @ Xq (ntok, n)^T -> Y (ntok, nrows), as TypeKernels::gemm_x8.
template <class Family>
void gemm_x8_amx(int64_t n, const void* w, size_t w_stride, int64_t nrows, const void* xq, size_t x_stride, int64_t ntok,
                 float* y, size_t y_stride) {
  using U = typename Family::U;
  const auto fallback = avx512_kernels(U::type)->gemm_x8;
  const int64_t ntok16 = ntok / 16 * 16, nrows16 = nrows / 16 * 16;
  // The gathers address 16 tokens' rows with int32 offsets.
  if (ntok16 == 0 || nrows16 == 0 || x_stride > (size_t{1} << 26))
    return fallback(n, w, w_stride, nrows, xq, x_stride, ntok, y, y_stride);
  const int64_t nb = n / Family::kElems;
  const auto* wb = static_cast<const uint8_t*>(w);
  const auto* xb = static_cast<const uint8_t*>(xq);
  const int64_t chunk_groups =
      std::max<int64_t>(1, static_cast<int64_t>(kChunkBytes / (16 * static_cast<size_t>(n))));
  const int64_t groups = ntok16 / 16;
  Scratch& s = scratch();
  const size_t chunk_blocks = static_cast<size_t>(std::min(chunk_groups, groups) * nb);
  s.b.resize(chunk_blocks * Family::kBBytes);
  s.dx.resize(chunk_blocks * 16);
  if (Family::kTokenSums) s.sx.resize(chunk_blocks * 16);
  if (U::has_min) s.mw.resize(static_cast<size_t>(nb) * 16);
  s.a.resize(static_cast<size_t>(nb) * Family::kABytes + Family::kARowTileBytes);
  s.dw.resize(static_cast<size_t>(nb) * 16);
  _tile_loadconfig(&Family::config());
  for (int64_t g0 = 0; g0 < groups; g0 += chunk_groups) {
    const int64_t ng = std::min(chunk_groups, groups - g0);
    Family::pack(xb + static_cast<size_t>(16 * g0) * x_stride, x_stride, nb, ng, Family::kTokenSums, s);
    for (int64_t r0 = 0; r0 < nrows16; r0 += 16) {
      const auto* g_lo = reinterpret_cast<const typename U::Block*>(wb + static_cast<size_t>(r0 / 8) * w_stride);
      const auto* g_hi = reinterpret_cast<const typename U::Block*>(wb + static_cast<size_t>(r0 / 8 + 1) * w_stride);
      Family::row_tile(nb, g_lo, g_hi, ng, s, y + static_cast<size_t>(16 * g0) * y_stride + static_cast<size_t>(r0), y_stride);
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
using Q4_KAmx = K4Unpack<BlockQ4_Kx8, GgmlType::Q4_K, false>;
using Q5_KAmx = K4Unpack<BlockQ5_Kx8, GgmlType::Q5_K, true>;

template <class Family>
TypeKernels with_amx() {
  TypeKernels k = *avx512_kernels(Family::U::type);
  k.gemm_x8 = gemm_x8_amx<Family>;
  return k;
}

#undef HB_TILE_A0
#undef HB_TILE_A1
#undef HB_TILE_B0
#undef HB_TILE_B1
#undef HB_TILE_C0
#undef HB_TILE_C1
#undef HB_KTILE_A_HI
#undef HB_KTILE_A_LO
#undef HB_KTILE_A_MIN
#undef HB_KTILE_B
#undef HB_KTILE_C_HI
#undef HB_KTILE_C_LO
#undef HB_KTILE_C_MIN
#undef HB_KTILE_B2

}  // namespace

const TypeKernels* amx_kernels(GgmlType t) {
  static const TypeKernels table[] = {
      with_amx<Amx32<Q4_0Amx>>(),       with_amx<Amx32<Q4_1Amx>>(),     with_amx<Amx32<Q5_0Amx>>(),
      with_amx<Amx32<Q5_1Amx>>(),       with_amx<Amx32<IQ4_NLUnpack>>(), with_amx<Amx32<Q8_0Unpack>>(),
      with_amx<AmxK<Q4_KAmx>>(),        with_amx<AmxK<Q5_KAmx>>(),      with_amx<AmxK<Q6_KUnpack>>()};
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
