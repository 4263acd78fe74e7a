// GGUF quantized block layouts (little-endian, packed exactly as stored in the file).
// Each struct's size is checked against the GGUF type size; fp16 fields are raw IEEE half bits
// (convert with fp16.h). Element order inside each block is documented next to the struct.
#pragma once
#include <cstdint>

namespace hb {

constexpr int kQK = 32;    // elements per block of the 32-element types
constexpr int kQK_K = 256; // elements per k-quant super-block

// Q4_0: 32 elements; y[j] = d * ((qs[j] & 15) - 8), y[j+16] = d * ((qs[j] >> 4) - 8), j < 16.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 block is 18 bytes in GGUF");

// Q4_1: as Q4_0 without the -8 offset, plus a minimum: y = d * q + m.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_1) == 20, "Q4_1 block is 20 bytes in GGUF");

// Q5_0: 32 elements; bit j of the little-endian uint32 qh is the 5th bit of element j;
// y = d * (q5 - 16), low nibbles as in Q4_0.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_0) == 22, "Q5_0 block is 22 bytes in GGUF");

// Q5_1: as Q5_0 without the -16 offset, plus a minimum: y = d * q5 + m.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_1) == 24, "Q5_1 block is 24 bytes in GGUF");

// Q8_0: 32 elements; y[j] = d * qs[j].
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 block is 34 bytes in GGUF");

// Q8_1: as Q8_0 plus s = d * sum(qs) (fp16). Only an intermediate format in ggml.
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_1) == 36, "Q8_1 block is 36 bytes in GGUF");

// Q2_K: 256 elements in 16 groups of 16; scales[g] = scale (low nibble) | min (high nibble);
// 2-bit quants, four per byte. y = d * sc * q - dmin * m.
struct BlockQ2_K {
  uint8_t scales[16];
  uint8_t qs[64];
  uint16_t d;
  uint16_t dmin;
};
static_assert(sizeof(BlockQ2_K) == 84, "Q2_K block is 84 bytes in GGUF");

// Q3_K: 256 elements in 16 groups of 16; 2 low bits in qs, the 3rd (inverted offset) bit in hmask,
// 16 6-bit scales packed in 12 bytes (offset by 32). y = d * (sc - 32) * (q3 - 4 if bit clear).
struct BlockQ3_K {
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110, "Q3_K block is 110 bytes in GGUF");

// Q4_K: 256 elements in 8 groups of 32; 8 6-bit scales and 8 6-bit mins packed in 12 bytes.
// y = d * sc * q - dmin * m.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K block is 144 bytes in GGUF");

// Q5_K: as Q4_K with a 5th bit per element in qh.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[32];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ5_K) == 176, "Q5_K block is 176 bytes in GGUF");

// Q6_K: 256 elements in 16 groups of 16, each with an int8 scale; 6-bit quants split into 4 low
// bits (ql) and 2 high bits (qh). y = d * scales[e / 16] * (q6 - 32). Per 128-element half h
// (ql += 64h, qh += 32h), for l < 32:
//   e = l      : ql[l] & 15,      qh[l] bits 0-1     e = l + 32 : ql[l + 32] & 15, qh[l] bits 2-3
//   e = l + 64 : ql[l] >> 4,      qh[l] bits 4-5     e = l + 96 : ql[l + 32] >> 4, qh[l] bits 6-7
struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K block is 210 bytes in GGUF");

// Q8_K: ggml's activation format for k-quants (float scale, int16 group sums).
struct BlockQ8_K {
  float d;
  int8_t qs[256];
  int16_t bsums[16];
};
static_assert(sizeof(BlockQ8_K) == 292, "Q8_K block is 292 bytes in GGUF");

// IQ4_NL: 32 elements; 4-bit indices into the non-linear table kIq4nlValues, nibble order as Q4_0.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockIQ4_NL) == 18, "IQ4_NL block is 18 bytes in GGUF");

// IQ4_XS: 256 elements in 8 groups of 32, each with a 6-bit scale (low 4 bits in scales_l,
// high 2 bits in scales_h), offset by 32; indices into kIq4nlValues as IQ4_NL per group.
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[4];
  uint8_t qs[128];
};
static_assert(sizeof(BlockIQ4_XS) == 136, "IQ4_XS block is 136 bytes in GGUF");

// ---------------------------------------------------------------------------------------------
// 8-row interleaved layouts (not GGUF formats: built at load by pack_rows_x8, see kernels.h).
// Block b of rows 8g .. 8g+7 is one struct, so one 32-byte load holds 4 bytes of each of the 8
// rows and one int8 multiply-add serves 8 rows; the 8 scales load as one vector. A packed
// matrix is groups of such blocks (one per block column), group g at g * x8_group_bytes(t, n):
// the same bytes as the GGUF rows, reordered (Q4_K: slightly more, see BlockQ4_Kx8).

// Q4_0 x8: d[j] = row j's d; qs[32k + 4j + i] = row j's qs[4k + i] (k < 4, i < 4).
struct BlockQ4_0x8 {
  uint16_t d[8];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_0x8) == 8 * sizeof(BlockQ4_0), "Q4_0 x8 block holds 8 Q4_0 blocks");

// Q8_0 x8: d[j] = row j's d; qs[32k + 4j + i] = row j's qs[4k + i] (k < 8, i < 4).
struct BlockQ8_0x8 {
  uint16_t d[8];
  int8_t qs[256];
};
static_assert(sizeof(BlockQ8_0x8) == 8 * sizeof(BlockQ8_0), "Q8_0 x8 block holds 8 Q8_0 blocks");

// Q4_1 x8: as Q4_0 x8 plus m[r] = row r's minimum.
struct BlockQ4_1x8 {
  uint16_t d[8];
  uint16_t m[8];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_1x8) == 8 * sizeof(BlockQ4_1), "Q4_1 x8 block holds 8 Q4_1 blocks");

// Q5_0 x8: as Q4_0 x8 plus the 5th bits regrouped for the 4-byte pieces: bit k of
// qh[4r + i] is the 5th bit of row r's element 4k + i, bit 4 + k that of element 16 + 4k + i.
struct BlockQ5_0x8 {
  uint16_t d[8];
  uint8_t qh[32];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ5_0x8) == 8 * sizeof(BlockQ5_0), "Q5_0 x8 block holds 8 Q5_0 blocks");

// Q5_1 x8: Q5_0 x8 plus m[r] = row r's minimum.
struct BlockQ5_1x8 {
  uint16_t d[8];
  uint16_t m[8];
  uint8_t qh[32];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ5_1x8) == 8 * sizeof(BlockQ5_1), "Q5_1 x8 block holds 8 Q5_1 blocks");

// IQ4_NL x8: the Q4_0 x8 layout (codebook indices instead of offset nibbles).
using BlockIQ4_NLx8 = BlockQ4_0x8;

// Q4_K x8 (not the same size as 8 Q4_K blocks: the 6-bit scales and minimums are stored unpacked,
// 8 bits each, 1184 bytes instead of 1152): d[r], dmin[r] = row r's; scales[j][r] = sub-block j's
// scale of row r; mins[i][2r + e] = sub-block 2i+e's minimum of row r; qs as Q4_0 x8 (k < 32).
struct BlockQ4_Kx8 {
  uint16_t d[8];
  uint16_t dmin[8];
  uint8_t scales[8][8];
  uint8_t mins[4][16];
  uint8_t qs[1024];
};
static_assert(sizeof(BlockQ4_Kx8) == 1184, "Q4_K x8 block layout");

// Q5_K x8: as Q4_K x8 plus the 5th bits, qh[32k + 4r + i] = row r's qh[4k + i] (k < 8), so
// element 32j + 4k + i of row r is bit j of byte 32k + 4r + i. 1440 bytes instead of 1408.
struct BlockQ5_Kx8 {
  uint16_t d[8];
  uint16_t dmin[8];
  uint8_t scales[8][8];
  uint8_t mins[4][16];
  uint8_t qh[256];
  uint8_t qs[1024];
};
static_assert(sizeof(BlockQ5_Kx8) == 1440, "Q5_K x8 block layout");

// Q6_K x8 (the same bytes as 8 Q6_K blocks): d[r] = row r's d; scales[g][r] = group g's scale of
// row r; then the quants in the order the kernel reads them, so one pass streams forward: per half
// h and piece k < 8, three 32-byte vectors of 4-byte pieces (byte 4r + i = row r's byte):
//   q[h][k][0] = ql[64h + 4k + i]       (low nibbles: elements 128h + 4k + i, high: + 64)
//   q[h][k][1] = ql[64h + 32 + 4k + i]  (low nibbles: elements 128h + 32 + 4k + i, high: + 64)
//   q[h][k][2] = qh[32h + 4k + i]       (bits 2s, 2s+1: element 128h + 32s + 4k + i)
struct BlockQ6_Kx8 {
  uint16_t d[8];
  int8_t scales[16][8];
  uint8_t q[2][8][3][32];
};
static_assert(sizeof(BlockQ6_Kx8) == 8 * sizeof(BlockQ6_K), "Q6_K x8 block holds 8 Q6_K blocks");

// Q2_K x8 (the same bytes as 8 Q2_K blocks): d[r], dmin[r] = row r's; scales[i][2r + e] = row r's
// scale byte (scale | min << 4) of group 2i + e; qs[32k + 4r + i] = row r's qs[4k + i] (k < 16).
struct BlockQ2_Kx8 {
  uint16_t d[8];
  uint16_t dmin[8];
  uint8_t scales[8][16];
  uint8_t qs[512];
};
static_assert(sizeof(BlockQ2_Kx8) == 8 * sizeof(BlockQ2_K), "Q2_K x8 block holds 8 Q2_K blocks");

// Q3_K x8 (32 bytes more than 8 Q3_K blocks: the 6-bit scales are stored unpacked): d[r] = row r's
// d; scales[i][2r + e] = row r's group 2i + e scale minus 32 (-32..31); qs as Q2_K x8;
// hmask[32k + 4r + i] = row r's hmask[4k + i] (k < 8).
struct BlockQ3_Kx8 {
  uint16_t d[8];
  int8_t scales[8][16];
  uint8_t qs[512];
  uint8_t hmask[256];
};
static_assert(sizeof(BlockQ3_Kx8) == 912, "Q3_K x8 block layout");

// IQ4_XS x8 (16 bytes more than 8 IQ4_XS blocks: the 6-bit scales are stored unpacked): d[r] =
// row r's d; scales[j][r] = row r's sub-block j scale minus 32 (-32..31, from scales_l and
// scales_h); qs[32k + 4r + i] = row r's qs[4k + i] (k < 32), so sub-block j is pieces 4j..4j+3,
// their low nibbles its elements 0..15 and high nibbles 16..31, as in the GGUF block.
struct BlockIQ4_XSx8 {
  uint16_t d[8];
  int8_t scales[8][8];
  uint8_t qs[1024];
};
static_assert(sizeof(BlockIQ4_XSx8) == 1104, "IQ4_XS x8 block layout");

// The IQ4_NL / IQ4_XS codebook (GGUF format constant).
static constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

}  // namespace hb
