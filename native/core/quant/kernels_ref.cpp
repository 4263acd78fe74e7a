// Scalar reference kernels: the oracle every ISA-specific kernel is tested against, and the
// fallback on CPUs without a faster path. Plain loops, no intrinsics (baseline x86-64 / armv8-a).
//
// Arithmetic contract of the reference (fixed order, so results never depend on row chunking):
//   float types: 8 running float lanes over i mod 8, reduced as ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)),
//                then the n mod 8 tail in order.
//   integer types: per block an exact integer dot, then acc += (d_w * d_x) * float(isum) over blocks
//                  in order (plus the type's offset/minimum terms, see each kernel).
// Types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL (ActQ8_32 activations) and Q2_K, Q3_K,
// Q4_K, Q5_K, Q6_K, IQ4_XS (ActQ8_256 activations).
// Each dot is a noinline function so every output element runs the same machine code.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "../error.h"
#include "blocks.h"
#include "fp16.h"
#include "kernels_internal.h"
#include "../ops.h"

namespace hb {
namespace kern {

// ---------------------------------------------------------------------------------------------
// Activation quantizers.

// x (n,) -> xq (n,) floats: float weight types consume the activations as they are.
void quantize_act_f32_ref(const float* x, void* xq, int64_t n) {
  std::memcpy(xq, x, static_cast<size_t>(n) * sizeof(float));
}

// Activations are quantized exactly as llama.cpp's CPU backend does on x86 (its Q8_0 / Q8_1 /
// Q8_K "vec_dot" formats), so that the integer dot products, and hence the logits, match it closely:
//   ActQ8_32:  d = fp16(amax / 127) (kept as float), q = round(x * (127 / amax)),
//              s = fp16((amax / 127) * sum(q))   [llama.cpp's block_q8_0 / block_q8_1]
//   ActQ8_256: iscale = -127 / max (max: the first element of largest magnitude, with its sign),
//              q = round(iscale * x), d = 1 / iscale   [llama.cpp's block_q8_K; d may be negative]
// Rounding is to nearest, ties to even. The SIMD versions reproduce these bit for bit.

static inline float round_to_fp16(float v) { return fp16_to_f32(f32_to_fp16(v)); }

// v clamped to +-127 and rounded to the nearest integer, ties to even; NaN -> 0.
static inline int8_t round_q8(float v) {
  v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);  // NaN falls through
  // Adding and removing 1.5 * 2^23 rounds |v| < 2^22 to the nearest integer, ties to even.
  const float r = (v + 12582912.0f) - 12582912.0f;
  return r == r ? static_cast<int8_t>(r) : 0;
}

// x (n,) -> ActQ8_32 (n / 32,)
void quantize_act_q8_32_ref(const float* x, void* xq, int64_t n) {
  ActQ8_32* out = static_cast<ActQ8_32*>(xq);
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* xb = x + b * 32;
    ActQ8_32& blk = out[b];
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) {
      const float a = std::fabs(xb[i]);
      amax = a > amax ? a : amax;
    }
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int i = 0; i < 32; ++i) {
      blk.qs[i] = round_q8(xb[i] * id);
      sum += blk.qs[i];
    }
    blk.d = round_to_fp16(d);
    blk.s = round_to_fp16(d * static_cast<float>(sum));
    blk.sum = sum;
  }
}

// x (n,) -> ActQ8_256 (n / 256,)
void quantize_act_q8_256_ref(const float* x, void* xq, int64_t n) {
  ActQ8_256* out = static_cast<ActQ8_256*>(xq);
  for (int64_t b = 0; b < n / 256; ++b) {
    const float* xb = x + b * 256;
    ActQ8_256& blk = out[b];
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < 256; ++i) {
      const float a = std::fabs(xb[i]);
      if (a > amax) {
        amax = a;
        max = xb[i];
      }
    }
    if (amax == 0.0f) {
      std::memset(&blk, 0, sizeof(blk));
      continue;
    }
    const float iscale = -127.0f / max;
    for (int i = 0; i < 256; ++i) blk.qs[i] = round_q8(iscale * xb[i]);
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += blk.qs[16 * g + i];
      blk.bsums[g] = static_cast<int16_t>(sum);
    }
    blk.d = 1.0f / iscale;
  }
}

namespace {

// ---------------------------------------------------------------------------------------------
// Generic drivers.

using DotFn = float (*)(const void* w, const void* x, int64_t n);

// W (nrows, n) @ Xq (ntok, n)^T -> Y (ntok, nrows), one dot call per element.
template <DotFn dot>
void gemm_ref(int64_t n, const void* w, size_t w_stride, int64_t nrows, const void* xq, size_t x_stride,
              int64_t ntok, float* y, size_t y_stride) {
  const uint8_t* wb = static_cast<const uint8_t*>(w);
  const uint8_t* xb = static_cast<const uint8_t*>(xq);
  for (int64_t r = 0; r < nrows; ++r) {
    for (int64_t t = 0; t < ntok; ++t) {
      y[static_cast<size_t>(t) * y_stride + static_cast<size_t>(r)] =
          dot(wb + static_cast<size_t>(r) * w_stride, xb + static_cast<size_t>(t) * x_stride, n);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Float weights.

// w (n,) float-ish @ x (n,) float -> scalar, in the 8-lane order of the contract above.
template <typename Load>
inline float dot_float_lanes(const Load& load_w, const float* x, int64_t n) {
  float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) lane[j] += load_w(i + j) * x[i + j];
  }
  float s = ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
  for (; i < n; ++i) s += load_w(i) * x[i];
  return s;
}

__attribute__((noinline)) float dot_f32(const void* w, const void* x, int64_t n) {
  const float* wf = static_cast<const float*>(w);  // (n,)
  return dot_float_lanes([wf](int64_t i) { return wf[i]; }, static_cast<const float*>(x), n);
}
__attribute__((noinline)) float dot_f16(const void* w, const void* x, int64_t n) {
  const uint16_t* wh = static_cast<const uint16_t*>(w);  // (n,) half bits
  return dot_float_lanes([wh](int64_t i) { return fp16_to_f32(wh[i]); }, static_cast<const float*>(x), n);
}
__attribute__((noinline)) float dot_bf16(const void* w, const void* x, int64_t n) {
  const uint16_t* wh = static_cast<const uint16_t*>(w);  // (n,) bf16 bits
  return dot_float_lanes([wh](int64_t i) { return bf16_to_f32(wh[i]); }, static_cast<const float*>(x), n);
}

// w (n,) -> y (n,)
void dequant_f32(const void* w, float* y, int64_t n) { std::memcpy(y, w, static_cast<size_t>(n) * 4); }
void dequant_f16(const void* w, float* y, int64_t n) {
  const uint16_t* wh = static_cast<const uint16_t*>(w);
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_f32(wh[i]);
}
void dequant_bf16(const void* w, float* y, int64_t n) {
  const uint16_t* wh = static_cast<const uint16_t*>(w);
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_f32(wh[i]);
}

// ---------------------------------------------------------------------------------------------
// 32-element block types against ActQ8_32.

// Q4_0 row (n / 32 blocks) . ActQ8_32 row -> scalar
__attribute__((noinline)) float dot_q4_0(const void* w, const void* x, int64_t n) {
  const BlockQ4_0* wb = static_cast<const BlockQ4_0*>(w);
  const ActQ8_32* xb = static_cast<const ActQ8_32*>(x);
  float acc = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    int isum = 0;
    for (int j = 0; j < 16; ++j) {
      isum += ((wb[b].qs[j] & 15) - 8) * xb[b].qs[j];
      isum += ((wb[b].qs[j] >> 4) - 8) * xb[b].qs[j + 16];
    }
    acc += (fp16_to_f32(wb[b].d) * xb[b].d) * static_cast<float>(isum);
  }
  return acc;
}
void dequant_q4_0(const void* w, float* y, int64_t n) {
  const BlockQ4_0* wb = static_cast<const BlockQ4_0*>(w);
  for (int64_t b = 0; b < n / 32; ++b) {
    const float d = fp16_to_f32(wb[b].d);
    for (int j = 0; j < 16; ++j) {
      y[b * 32 + j] = static_cast<float>((wb[b].qs[j] & 15) - 8) * d;
      y[b * 32 + j + 16] = static_cast<float>((wb[b].qs[j] >> 4) - 8) * d;
    }
  }
}

// Q8_0 row . ActQ8_32 row -> scalar
__attribute__((noinline)) float dot_q8_0(const void* w, const void* x, int64_t n) {
  const BlockQ8_0* wb = static_cast<const BlockQ8_0*>(w);
  const ActQ8_32* xb = static_cast<const ActQ8_32*>(x);
  float acc = 0.0f;
  for (int64_t b = 0; b < n / 32; ++b) {
    int isum = 0;
    for (int j = 0; j < 32; ++j) isum += wb[b].qs[j] * xb[b].qs[j];
    acc += (fp16_to_f32(wb[b].d) * xb[b].d) * static_cast<float>(isum);
  }
  return acc;
}
void dequant_q8_0(const void* w, float* y, int64_t n) {
  const BlockQ8_0* wb = static_cast<const BlockQ8_0*>(w);
  for (int64_t b = 0; b < n / 32; ++b) {
    const float d = fp16_to_f32(wb[b].d);
    for (int j = 0; j < 32; ++j) y[b * 32 + j] = static_cast<float>(wb[b].qs[j]) * d;
  }
}

// Q4_1 / Q5_1 (w = d * q + m, q unsigned) against ActQ8_32:
// dot = (d_w * d_x) * sum(q * qx) + m * s_x, with s_x = d_x * sum(qx).
inline void unpack_q4_1(const BlockQ4_1& b, int* q) {
  for (int j = 0; j < 16; ++j) {
    q[j] = b.qs[j] & 15;
    q[j + 16] = b.qs[j] >> 4;
  }
}
inline uint32_t load_u32le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
// 5-bit values 0..31: low nibbles as Q4_0, bit j of qh is element j's 5th bit.
inline void unpack_5bit(const uint8_t* qs, const uint8_t* qh_bytes, int* q) {
  const uint32_t qh = load_u32le(qh_bytes);
  for (int j = 0; j < 16; ++j) {
    q[j] = (qs[j] & 15) | static_cast<int>(((qh >> j) & 1) << 4);
    q[j + 16] = (qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
  }
}

inline int dot32(const int* q, const int8_t* qx) {
  int isum = 0;
  for (int j = 0; j < 32; ++j) isum += q[j] * qx[j];
  return isum;
}

// Q4_1 row . ActQ8_32 row -> scalar
__attribute__((noinline)) float dot_q4_1(const void* w, const void* x, int64_t n) {
  const BlockQ4_1* wb = static_cast<const BlockQ4_1*>(w);
  const ActQ8_32* xb = static_cast<const ActQ8_32*>(x);
  float acc = 0.0f;
  int q[32];
  for (int64_t b = 0; b < n / 32; ++b) {
    unpack_q4_1(wb[b], q);
    const int isum = dot32(q, xb[b].qs);
    acc += (fp16_to_f32(wb[b].d) * xb[b].d) * static_cast<float>(isum) + fp16_to_f32(wb[b].m) * xb[b].s;
  }
  return acc;
}
void dequant_q4_1(const void* w, float* y, int64_t n) {
  const BlockQ4_1* wb = static_cast<const BlockQ4_1*>(w);
  int q[32];
  for (int64_t b = 0; b < n / 32; ++b) {
    unpack_q4_1(wb[b], q);
    const float d = fp16_to_f32(wb[b].d), m = fp16_to_f32(wb[b].m);
    for (int j = 0; j < 32; ++j) y[b * 32 + j] = static_cast<float>(q[j]) * d + m;
  }
}

// Q5_0 row . ActQ8_32 row -> scalar (values q5 - 16)
__attribute__((noinline)) float dot_q5_0(const void* w, const void* x, int64_t n) {
  const BlockQ5_0* wb = static_cast<const BlockQ5_0*>(w);
  const ActQ8_32* xb = static_cast<const ActQ8_32*>(x);
  float acc = 0.0f;
  int q[32];
  for (int64_t b = 0; b < n / 32; ++b) {
    unpack_5bit(wb[b].qs, wb[b].qh, q);
    for (int j = 0; j < 32; ++j) q[j] -= 16;
    acc += (fp16_to_f32(wb[b].d) * xb[b].d) * static_cast<float>(dot32(q, xb[b].qs));
  }
  return acc;
}
void dequant_q5_0(const void* w, float* y, int64_t n) {
  const BlockQ5_0* wb = static_cast<const BlockQ5_0*>(w);
  int q[32];
  for (int64_t b = 0; b < n / 32; ++b) {
    unpack_5bit(wb[b].qs, wb[b].qh, q);
    const float d = fp16_to_f32(wb[b].d);
    for (int j = 0; j < 32; ++j) y[b * 32 + j] = static_cast<float>(q[j] - 16) * d;
  }
}

// Q5_1 row . ActQ8_32 row -> scalar
__attribute__((noinline)) float dot_q5_1(const void* w, const void* x, int64_t n) {
  const BlockQ5_1* wb = static_cast<const BlockQ5_1*>(w);
  const ActQ8_32* xb = static_cast<const ActQ8_32*>(x);
  float acc = 0.0f;
  int q[32];
  for (int64_t b = 0; b < n / 32; ++b) {
    unpack_5bit(wb[b].qs, wb[b].qh, q);
    const int isum = dot32(q, xb[b].qs);
    acc += (fp16_to_f32(wb[b].d) * xb[b].d) * static_cast<float>(isum) + fp16_to_f32(wb[b].m) * xb[b].s;
  }
  return acc;
}
void dequant_q5_1(const void* w, float* y, int64_t n) {
  const BlockQ5_1* wb = static_cast<const BlockQ5_1*>(w);
  int q[32];
  for (int64_t b = 0; b < n / 32; ++b) {
    unpack_5bit(wb[b].qs, wb[b].qh, q);
    const float d = fp16_to_f32(wb[b].d), m = fp16_to_f32(wb[b].m);
    for (int j = 0; j < 32; ++j) y[b * 32 + j] = static_cast<float>(q[j]) * d + m;
  }
}

// IQ4_NL row . ActQ8_32 row -> scalar (values from the non-linear codebook)
inline void unpack_iq4(const uint8_t* qs, int* q) {
  for (int j = 0; j < 16; ++j) {
    q[j] = kIq4nlValues[qs[j] & 15];
    q[j + 16] = kIq4nlValues[qs[j] >> 4];
  }
}
__attribute__((noinline)) float dot_iq4_nl(const void* w, const void* x, int64_t n) {
  const BlockIQ4_NL* wb = static_cast<const BlockIQ4_NL*>(w);
  const ActQ8_32* xb = static_cast<const ActQ8_32*>(x);
  float acc = 0.0f;
  int q[32];
  for (int64_t b = 0; b < n / 32; ++b) {
    unpack_iq4(wb[b].qs, q);
    acc += (fp16_to_f32(wb[b].d) * xb[b].d) * static_cast<float>(dot32(q, xb[b].qs));
  }
  return acc;
}
void dequant_iq4_nl(const void* w, float* y, int64_t n) {
  const BlockIQ4_NL* wb = static_cast<const BlockIQ4_NL*>(w);
  int q[32];
  for (int64_t b = 0; b < n / 32; ++b) {
    unpack_iq4(wb[b].qs, q);
    const float d = fp16_to_f32(wb[b].d);
    for (int j = 0; j < 32; ++j) y[b * 32 + j] = d * static_cast<float>(q[j]);
  }
}

// ---------------------------------------------------------------------------------------------
// 256-element super-block types against ActQ8_256.

// One Q6_K super-block -> q (256,) signed 6-bit values (q6 - 32), element order of blocks.h.
inline void unpack_q6_k(const BlockQ6_K& blk, int8_t* q) {
  for (int h = 0; h < 2; ++h) {
    const uint8_t* ql = blk.ql + 64 * h;
    const uint8_t* qh = blk.qh + 32 * h;
    int8_t* out = q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      out[l] = static_cast<int8_t>(((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32);
      out[l + 32] = static_cast<int8_t>(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
      out[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
      out[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
    }
  }
}

// Q6_K row (n / 256 blocks) . ActQ8_256 row -> scalar
__attribute__((noinline)) float dot_q6_k(const void* w, const void* x, int64_t n) {
  const BlockQ6_K* wb = static_cast<const BlockQ6_K*>(w);
  const ActQ8_256* xb = static_cast<const ActQ8_256*>(x);
  float acc = 0.0f;
  int8_t q[256];
  for (int64_t b = 0; b < n / 256; ++b) {
    unpack_q6_k(wb[b], q);
    int isum = 0;
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += q[16 * g + i] * xb[b].qs[16 * g + i];
      isum += wb[b].scales[g] * s;
    }
    acc += (fp16_to_f32(wb[b].d) * xb[b].d) * static_cast<float>(isum);
  }
  return acc;
}
void dequant_q6_k(const void* w, float* y, int64_t n) {
  const BlockQ6_K* wb = static_cast<const BlockQ6_K*>(w);
  int8_t q[256];
  for (int64_t b = 0; b < n / 256; ++b) {
    unpack_q6_k(wb[b], q);
    const float d = fp16_to_f32(wb[b].d);
    // GGUF order of operations: (d * scale) * q.
    for (int e = 0; e < 256; ++e) y[b * 256 + e] = (d * static_cast<float>(wb[b].scales[e / 16])) * static_cast<float>(q[e]);
  }
}


// ---------------------------------------------------------------------------------------------
// Other k-quants, through one unpacked form: integer values q (256,), per-group integer scales and
// mins, groups of 16 or 32 elements, w = (d * scale) * q - (dmin * min).
// Dot with ActQ8_256: (d_w * d_x) * sum_g scale_g * sum(q * qx)  -  (dmin * d_x) * sum_g min_g * sum(qx),
// both integer sums exact (sum(qx) per group from bsums).

struct KBlock {
  int8_t q[256];
  int scale[16];
  int min[16];
  int group;   // 16 or 32 elements per scale
  float d, dmin;
};

// Q2_K: per 128-element half h and 32-element quarter j, element l: (qs[32h + l] >> 2j) & 3;
// scales[g] = scale (low nibble) | min (high nibble), g = element / 16.
inline void unpack_q2_k(const BlockQ2_K& b, KBlock& k) {
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, j = (e % 128) / 32, l = e % 32;
    k.q[e] = static_cast<int8_t>((b.qs[32 * h + l] >> (2 * j)) & 3);
  }
  for (int g = 0; g < 16; ++g) {
    k.scale[g] = b.scales[g] & 15;
    k.min[g] = b.scales[g] >> 4;
  }
  k.group = 16;
  k.d = fp16_to_f32(b.d);
  k.dmin = fp16_to_f32(b.dmin);
}

// Q3_K: low 2 bits as Q2_K; hmask[l] bit (4h + j) set means no -4 offset.
// 6-bit scales: low 4 bits from scales[g] (g < 8) or scales[g - 8] >> 4, high 2 bits from
// scales[8 + g % 4] >> (2 * (g / 4)); value - 32.
inline void unpack_q3_k(const BlockQ3_K& b, KBlock& k) {
  for (int e = 0; e < 256; ++e) {
    const int h = e / 128, j = (e % 128) / 32, l = e % 32;
    const int low = (b.qs[32 * h + l] >> (2 * j)) & 3;
    const bool high = (b.hmask[l] >> (4 * h + j)) & 1;
    k.q[e] = static_cast<int8_t>(low - (high ? 0 : 4));
  }
  for (int g = 0; g < 16; ++g) {
    const int lo = g < 8 ? (b.scales[g] & 15) : (b.scales[g - 8] >> 4);
    const int hi = (b.scales[8 + g % 4] >> (2 * (g / 4))) & 3;
    k.scale[g] = (lo | (hi << 4)) - 32;
    k.min[g] = 0;
  }
  k.group = 16;
  k.d = fp16_to_f32(b.d);
  k.dmin = 0.0f;
}

// 6-bit scale and min of 32-element group j of Q4_K / Q5_K, packed in 12 bytes.
inline void k4_scale_min(const uint8_t* s, int j, int* sc, int* m) {
  if (j < 4) {
    *sc = s[j] & 63;
    *m = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Q4_K: per 64 elements (32 bytes of qs): 32 low nibbles then 32 high nibbles.
inline void unpack_q4_k(const BlockQ4_K& b, KBlock& k) {
  for (int e = 0; e < 256; ++e) {
    const int chunk = e / 64, within = e % 64;
    const uint8_t byte = b.qs[32 * chunk + within % 32];
    k.q[e] = static_cast<int8_t>(within < 32 ? (byte & 15) : (byte >> 4));
  }
  for (int g = 0; g < 8; ++g) k4_scale_min(b.scales, g, &k.scale[g], &k.min[g]);
  k.group = 32;
  k.d = fp16_to_f32(b.d);
  k.dmin = fp16_to_f32(b.dmin);
}

// Q5_K: Q4_K's nibbles plus a 5th bit: element e's bit is qh[e % 32] bit (e / 32).
inline void unpack_q5_k(const BlockQ5_K& b, KBlock& k) {
  for (int e = 0; e < 256; ++e) {
    const int chunk = e / 64, within = e % 64;
    const uint8_t byte = b.qs[32 * chunk + within % 32];
    const int low = within < 32 ? (byte & 15) : (byte >> 4);
    const int high = (b.qh[e % 32] >> (e / 32)) & 1;
    k.q[e] = static_cast<int8_t>(low | (high << 4));
  }
  for (int g = 0; g < 8; ++g) k4_scale_min(b.scales, g, &k.scale[g], &k.min[g]);
  k.group = 32;
  k.d = fp16_to_f32(b.d);
  k.dmin = fp16_to_f32(b.dmin);
}

// IQ4_XS: 8 groups of 32, each as an IQ4_NL block body; 6-bit scale (low 4 bits in scales_l,
// high 2 in scales_h) minus 32.
inline void unpack_iq4_xs(const BlockIQ4_XS& b, KBlock& k) {
  int q[32];
  for (int g = 0; g < 8; ++g) {
    unpack_iq4(b.qs + 16 * g, q);
    for (int j = 0; j < 32; ++j) k.q[32 * g + j] = static_cast<int8_t>(q[j]);
    const int lo = (b.scales_l[g / 2] >> (4 * (g % 2))) & 15;
    const int hi = (b.scales_h >> (2 * g)) & 3;
    k.scale[g] = (lo | (hi << 4)) - 32;
    k.min[g] = 0;
  }
  k.group = 32;
  k.d = fp16_to_f32(b.d);
  k.dmin = 0.0f;
}

// Unpacked super-block . ActQ8_256 block -> contribution to acc.
inline float dot_kblock(const KBlock& k, const ActQ8_256& x, float acc) {
  int isum = 0, msum = 0;
  const int ngroups = 256 / k.group;
  for (int g = 0; g < ngroups; ++g) {
    int s = 0, xsum = 0;
    for (int i = 0; i < k.group; ++i) s += k.q[g * k.group + i] * x.qs[g * k.group + i];
    for (int j = 0; j < k.group / 16; ++j) xsum += x.bsums[g * (k.group / 16) + j];
    isum += k.scale[g] * s;
    msum += k.min[g] * xsum;
  }
  return acc + ((k.d * x.d) * static_cast<float>(isum) - (k.dmin * x.d) * static_cast<float>(msum));
}

// Unpacked super-block -> y (256,), GGUF order of operations: (d * scale) * q - dmin * min.
inline void dequant_kblock(const KBlock& k, float* y) {
  for (int e = 0; e < 256; ++e) {
    const int g = e / k.group;
    const float dl = k.d * static_cast<float>(k.scale[g]);
    const float ml = k.dmin * static_cast<float>(k.min[g]);
    y[e] = dl * static_cast<float>(k.q[e]) - ml;
  }
}

template <typename Block, void (*unpack)(const Block&, KBlock&)>
__attribute__((noinline)) float dot_k(const void* w, const void* x, int64_t n) {
  const Block* wb = static_cast<const Block*>(w);
  const ActQ8_256* xb = static_cast<const ActQ8_256*>(x);
  float acc = 0.0f;
  KBlock k;
  for (int64_t b = 0; b < n / 256; ++b) {
    unpack(wb[b], k);
    acc = dot_kblock(k, xb[b], acc);
  }
  return acc;
}

template <typename Block, void (*unpack)(const Block&, KBlock&)>
void dequant_k(const void* w, float* y, int64_t n) {
  const Block* wb = static_cast<const Block*>(w);
  KBlock k;
  for (int64_t b = 0; b < n / 256; ++b) {
    unpack(wb[b], k);
    dequant_kblock(k, y + b * 256);
  }
}
// ---------------------------------------------------------------------------------------------

const TypeKernels kF32 = {GgmlType::F32, ActFormat::F32, quantize_act_f32_ref, gemm_ref<dot_f32>, dequant_f32};
const TypeKernels kF16 = {GgmlType::F16, ActFormat::F32, quantize_act_f32_ref, gemm_ref<dot_f16>, dequant_f16};
const TypeKernels kBF16 = {GgmlType::BF16, ActFormat::F32, quantize_act_f32_ref, gemm_ref<dot_bf16>, dequant_bf16};
const TypeKernels kQ4_0 = {GgmlType::Q4_0, ActFormat::Q8_32, quantize_act_q8_32_ref, gemm_ref<dot_q4_0>, dequant_q4_0};
const TypeKernels kQ8_0 = {GgmlType::Q8_0, ActFormat::Q8_32, quantize_act_q8_32_ref, gemm_ref<dot_q8_0>, dequant_q8_0};
const TypeKernels kQ6_K = {GgmlType::Q6_K, ActFormat::Q8_256, quantize_act_q8_256_ref, gemm_ref<dot_q6_k>, dequant_q6_k};
const TypeKernels kQ4_1 = {GgmlType::Q4_1, ActFormat::Q8_32, quantize_act_q8_32_ref, gemm_ref<dot_q4_1>, dequant_q4_1};
const TypeKernels kQ5_0 = {GgmlType::Q5_0, ActFormat::Q8_32, quantize_act_q8_32_ref, gemm_ref<dot_q5_0>, dequant_q5_0};
const TypeKernels kQ5_1 = {GgmlType::Q5_1, ActFormat::Q8_32, quantize_act_q8_32_ref, gemm_ref<dot_q5_1>, dequant_q5_1};
const TypeKernels kIQ4_NL = {GgmlType::IQ4_NL, ActFormat::Q8_32, quantize_act_q8_32_ref, gemm_ref<dot_iq4_nl>, dequant_iq4_nl};
const TypeKernels kQ2_K = {GgmlType::Q2_K, ActFormat::Q8_256, quantize_act_q8_256_ref,
                           gemm_ref<dot_k<BlockQ2_K, unpack_q2_k>>, dequant_k<BlockQ2_K, unpack_q2_k>};
const TypeKernels kQ3_K = {GgmlType::Q3_K, ActFormat::Q8_256, quantize_act_q8_256_ref,
                           gemm_ref<dot_k<BlockQ3_K, unpack_q3_k>>, dequant_k<BlockQ3_K, unpack_q3_k>};
const TypeKernels kQ4_K = {GgmlType::Q4_K, ActFormat::Q8_256, quantize_act_q8_256_ref,
                           gemm_ref<dot_k<BlockQ4_K, unpack_q4_k>>, dequant_k<BlockQ4_K, unpack_q4_k>};
const TypeKernels kQ5_K = {GgmlType::Q5_K, ActFormat::Q8_256, quantize_act_q8_256_ref,
                           gemm_ref<dot_k<BlockQ5_K, unpack_q5_k>>, dequant_k<BlockQ5_K, unpack_q5_k>};
const TypeKernels kIQ4_XS = {GgmlType::IQ4_XS, ActFormat::Q8_256, quantize_act_q8_256_ref,
                             gemm_ref<dot_k<BlockIQ4_XS, unpack_iq4_xs>>, dequant_k<BlockIQ4_XS, unpack_iq4_xs>};

}  // namespace

}  // namespace kern

bool has_x8_layout(GgmlType t) { return x8_group_bytes(t, 256) != 0; }

size_t x8_group_bytes(GgmlType t, int64_t n) {
  switch (t) {
    case GgmlType::Q4_0: return static_cast<size_t>(n / 32) * sizeof(BlockQ4_0x8);
    case GgmlType::Q4_1: return static_cast<size_t>(n / 32) * sizeof(BlockQ4_1x8);
    case GgmlType::Q5_0: return static_cast<size_t>(n / 32) * sizeof(BlockQ5_0x8);
    case GgmlType::Q5_1: return static_cast<size_t>(n / 32) * sizeof(BlockQ5_1x8);
    case GgmlType::IQ4_NL: return static_cast<size_t>(n / 32) * sizeof(BlockIQ4_NLx8);
    case GgmlType::Q8_0: return static_cast<size_t>(n / 32) * sizeof(BlockQ8_0x8);
    case GgmlType::Q4_K: return static_cast<size_t>(n / 256) * sizeof(BlockQ4_Kx8);
    case GgmlType::Q5_K: return static_cast<size_t>(n / 256) * sizeof(BlockQ5_Kx8);
    case GgmlType::Q6_K: return static_cast<size_t>(n / 256) * sizeof(BlockQ6_Kx8);
    case GgmlType::IQ4_XS: return static_cast<size_t>(n / 256) * sizeof(BlockIQ4_XSx8);
    case GgmlType::Q2_K: return static_cast<size_t>(n / 256) * sizeof(BlockQ2_Kx8);
    case GgmlType::Q3_K: return static_cast<size_t>(n / 256) * sizeof(BlockQ3_Kx8);
    default: return 0;
  }
}

namespace {
// 4-byte piece k of each of 8 rows' `bytes` (count bytes per row) -> out[32k + 4r + i].
void interleave_pieces(const uint8_t* const* rows, int count, uint8_t* out) {
  for (int k = 0; k < count / 4; ++k)
    for (int r = 0; r < 8; ++r) std::memcpy(out + 32 * k + 4 * r, rows[r] + 4 * k, 4);
}

// Row r's 5th bits (uint32 qh, bit j = element j) regrouped as in BlockQ5_0x8: byte i holds
// bit k = element 4k + i and bit 4 + k = element 16 + 4k + i.
void regroup_fifth_bits(const uint8_t* qh, uint8_t* out4) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  for (int i = 0; i < 4; ++i) {
    uint8_t v = 0;
    for (int k = 0; k < 4; ++k) {
      v = static_cast<uint8_t>(v | (((bits >> (4 * k + i)) & 1u) << k));
      v = static_cast<uint8_t>(v | (((bits >> (16 + 4 * k + i)) & 1u) << (4 + k)));
    }
    out4[i] = v;
  }
}

// 8 rows of Block (nb blocks each) -> nb BlockX8 of the 32-element types: scales (and minimums)
// side by side, 5th bits regrouped, the quant bytes in 4-byte pieces (layouts in blocks.h).
template <class Block, class BlockX8>
void pack_x8_32(const uint8_t* w, size_t row_bytes, int64_t nb, BlockX8* dst) {
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* qs[8];
    for (int r = 0; r < 8; ++r) {
      const Block& src = reinterpret_cast<const Block*>(w + static_cast<size_t>(r) * row_bytes)[b];
      dst[b].d[r] = src.d;
      if constexpr (std::is_same_v<Block, BlockQ4_1> || std::is_same_v<Block, BlockQ5_1>) dst[b].m[r] = src.m;
      if constexpr (std::is_same_v<Block, BlockQ5_0> || std::is_same_v<Block, BlockQ5_1>)
        regroup_fifth_bits(src.qh, dst[b].qh + 4 * r);
      qs[r] = reinterpret_cast<const uint8_t*>(src.qs);
    }
    interleave_pieces(qs, sizeof(Block::qs), reinterpret_cast<uint8_t*>(dst[b].qs));
  }
}

// Q4_K / Q5_K (BlockX8 = BlockQ4_Kx8 / BlockQ5_Kx8): scales and minimums unpacked to bytes.
template <class Block, class BlockX8>
void pack_k4_x8(const uint8_t* w, size_t row_bytes, int64_t nb, BlockX8* dst) {
  constexpr bool kHasQh = std::is_same_v<Block, BlockQ5_K>;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* qs[8];
    const uint8_t* qh[8];
    for (int r = 0; r < 8; ++r) {
      const Block& src = reinterpret_cast<const Block*>(w + static_cast<size_t>(r) * row_bytes)[b];
      dst[b].d[r] = src.d;
      dst[b].dmin[r] = src.dmin;
      for (int j = 0; j < 8; ++j) {
        int sc, m;
        kern::k4_scale_min(src.scales, j, &sc, &m);
        dst[b].scales[j][r] = static_cast<uint8_t>(sc);
        dst[b].mins[j / 2][2 * r + j % 2] = static_cast<uint8_t>(m);
      }
      qs[r] = src.qs;
      if constexpr (kHasQh) qh[r] = src.qh;
    }
    interleave_pieces(qs, 128, dst[b].qs);
    if constexpr (kHasQh) interleave_pieces(qh, 32, dst[b].qh);
  }
}

// Q2_K / Q3_K: scale bytes of group pairs side by side (Q3_K's unpacked to signed bytes), quant
// bytes and Q3_K's high bits in 4-byte pieces.
template <class Block, class BlockX8>
void pack_k2_x8(const uint8_t* w, size_t row_bytes, int64_t nb, BlockX8* dst) {
  constexpr bool kQ3 = std::is_same_v<Block, BlockQ3_K>;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* qs[8];
    const uint8_t* hm[8];
    for (int r = 0; r < 8; ++r) {
      const Block& src = reinterpret_cast<const Block*>(w + static_cast<size_t>(r) * row_bytes)[b];
      dst[b].d[r] = src.d;
      for (int g = 0; g < 16; ++g) {
        if constexpr (kQ3) {
          const int lo = g < 8 ? (src.scales[g] & 15) : (src.scales[g - 8] >> 4);
          const int hi = (src.scales[8 + g % 4] >> (2 * (g / 4))) & 3;
          dst[b].scales[g / 2][2 * r + g % 2] = static_cast<int8_t>((lo | (hi << 4)) - 32);
        } else {
          dst[b].scales[g / 2][2 * r + g % 2] = src.scales[g];
        }
      }
      if constexpr (kQ3) hm[r] = src.hmask;
      else dst[b].dmin[r] = src.dmin;
      qs[r] = src.qs;
    }
    interleave_pieces(qs, 64, dst[b].qs);
    if constexpr (kQ3) interleave_pieces(hm, 32, dst[b].hmask);
  }
}

// IQ4_XS: scales unpacked to signed bytes (ls - 32), quant bytes in 4-byte pieces.
void pack_iq4_xs_x8(const uint8_t* w, size_t row_bytes, int64_t nb, BlockIQ4_XSx8* dst) {
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* qs[8];
    for (int r = 0; r < 8; ++r) {
      const BlockIQ4_XS& src = reinterpret_cast<const BlockIQ4_XS*>(w + static_cast<size_t>(r) * row_bytes)[b];
      dst[b].d[r] = src.d;
      for (int j = 0; j < 8; ++j) {
        const int lo = (src.scales_l[j / 2] >> (4 * (j % 2))) & 15;
        const int hi = (src.scales_h >> (2 * j)) & 3;
        dst[b].scales[j][r] = static_cast<int8_t>((lo | (hi << 4)) - 32);
      }
      qs[r] = src.qs;
    }
    interleave_pieces(qs, 128, dst[b].qs);
  }
}

void pack_q6_k_x8(const uint8_t* w, size_t row_bytes, int64_t nb, BlockQ6_Kx8* dst) {
  uint8_t ql[1024], qh[512];  // 4-byte pieces of the 8 rows' ql and qh, as Q4_0 x8
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* ql_rows[8];
    const uint8_t* qh_rows[8];
    for (int r = 0; r < 8; ++r) {
      const BlockQ6_K& src = reinterpret_cast<const BlockQ6_K*>(w + static_cast<size_t>(r) * row_bytes)[b];
      dst[b].d[r] = src.d;
      for (int g = 0; g < 16; ++g) dst[b].scales[g][r] = src.scales[g];
      ql_rows[r] = src.ql;
      qh_rows[r] = src.qh;
    }
    interleave_pieces(ql_rows, 128, ql);
    interleave_pieces(qh_rows, 64, qh);
    for (int h = 0; h < 2; ++h)
      for (int k = 0; k < 8; ++k) {
        std::memcpy(dst[b].q[h][k][0], ql + 32 * (16 * h + k), 32);
        std::memcpy(dst[b].q[h][k][1], ql + 32 * (16 * h + 8 + k), 32);
        std::memcpy(dst[b].q[h][k][2], qh + 32 * (8 * h + k), 32);
      }
  }
}

}  // namespace

void pack_rows_x8(GgmlType t, const void* w, size_t row_bytes, int64_t n, void* dst) {
  const uint8_t* wb = static_cast<const uint8_t*>(w);
  switch (t) {
    case GgmlType::Q4_0: return pack_x8_32<BlockQ4_0>(wb, row_bytes, n / 32, static_cast<BlockQ4_0x8*>(dst));
    case GgmlType::Q4_1: return pack_x8_32<BlockQ4_1>(wb, row_bytes, n / 32, static_cast<BlockQ4_1x8*>(dst));
    case GgmlType::Q5_0: return pack_x8_32<BlockQ5_0>(wb, row_bytes, n / 32, static_cast<BlockQ5_0x8*>(dst));
    case GgmlType::Q5_1: return pack_x8_32<BlockQ5_1>(wb, row_bytes, n / 32, static_cast<BlockQ5_1x8*>(dst));
    case GgmlType::IQ4_NL: return pack_x8_32<BlockIQ4_NL>(wb, row_bytes, n / 32, static_cast<BlockIQ4_NLx8*>(dst));
    case GgmlType::Q8_0: return pack_x8_32<BlockQ8_0>(wb, row_bytes, n / 32, static_cast<BlockQ8_0x8*>(dst));
    case GgmlType::Q4_K: return pack_k4_x8<BlockQ4_K>(wb, row_bytes, n / 256, static_cast<BlockQ4_Kx8*>(dst));
    case GgmlType::Q5_K: return pack_k4_x8<BlockQ5_K>(wb, row_bytes, n / 256, static_cast<BlockQ5_Kx8*>(dst));
    case GgmlType::Q6_K: return pack_q6_k_x8(wb, row_bytes, n / 256, static_cast<BlockQ6_Kx8*>(dst));
    case GgmlType::Q2_K: return pack_k2_x8<BlockQ2_K>(wb, row_bytes, n / 256, static_cast<BlockQ2_Kx8*>(dst));
    case GgmlType::Q3_K: return pack_k2_x8<BlockQ3_K>(wb, row_bytes, n / 256, static_cast<BlockQ3_Kx8*>(dst));
    case GgmlType::IQ4_XS: return pack_iq4_xs_x8(wb, row_bytes, n / 256, static_cast<BlockIQ4_XSx8*>(dst));
    default: fail("INVALID_ARGUMENT", std::string("Type ") + ggml_type_name(t) + " has no 8-row layout");
  }
}

namespace kern {

const VecKernels* ref_vec_kernels() {
  static const VecKernels k = {exp_shifted_ref};
  return &k;
}

const TypeKernels* ref_kernels(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return &kF32;
    case GgmlType::F16: return &kF16;
    case GgmlType::BF16: return &kBF16;
    case GgmlType::Q4_0: return &kQ4_0;
    case GgmlType::Q8_0: return &kQ8_0;
    case GgmlType::Q6_K: return &kQ6_K;
    case GgmlType::Q4_1: return &kQ4_1;
    case GgmlType::Q5_0: return &kQ5_0;
    case GgmlType::Q5_1: return &kQ5_1;
    case GgmlType::IQ4_NL: return &kIQ4_NL;
    case GgmlType::Q2_K: return &kQ2_K;
    case GgmlType::Q3_K: return &kQ3_K;
    case GgmlType::Q4_K: return &kQ4_K;
    case GgmlType::Q5_K: return &kQ5_K;
    case GgmlType::IQ4_XS: return &kIQ4_XS;
    default: return nullptr;
  }
}

}  // namespace kern
}  // namespace hb
