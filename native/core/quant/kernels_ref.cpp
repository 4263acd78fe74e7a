// Scalar reference kernels: the oracle every ISA-specific kernel is tested against, and the
// fallback on CPUs without a faster path. Plain loops, no intrinsics (baseline x86-64 / armv8-a).
//
// Arithmetic contract of the reference (fixed order, so results never depend on row chunking):
//   float types: 8 running float lanes over i mod 8, reduced as ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)),
//                then the n mod 8 tail in order.
//   integer types: per block an exact integer dot, then acc += (d_w * d_x) * float(isum) over blocks
//                  in order (plus the type's offset terms, see each kernel).
// Each dot is a noinline function so every output element runs the same machine code.
#include <cmath>
#include <cstring>

#include "../error.h"
#include "blocks.h"
#include "fp16.h"
#include "kernels_internal.h"

namespace hb {
namespace kern {

// ---------------------------------------------------------------------------------------------
// Activation quantizers.

// x (n,) -> xq (n,) floats: float weight types consume the activations as they are.
void quantize_act_f32_ref(const float* x, void* xq, int64_t n) {
  std::memcpy(xq, x, static_cast<size_t>(n) * sizeof(float));
}

// Symmetric int8 quantization of one group: d = max|x| / 127, q = round-to-nearest-even(x / d)
// computed as x * (1 / d) (what the SIMD versions do, so they can match bit for bit).
static inline float quantize_group(const float* x, int8_t* q, int count) {
  float amax = 0.0f;
  for (int i = 0; i < count; ++i) {
    const float a = std::fabs(x[i]);
    amax = a > amax ? a : amax;
  }
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int i = 0; i < count; ++i) {
    float v = x[i] * id;
    v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);  // NaN falls through and becomes 0 below
    // Adding and removing 1.5 * 2^23 rounds |v| < 2^22 to the nearest integer, ties to even.
    const float r = (v + 12582912.0f) - 12582912.0f;
    q[i] = r == r ? static_cast<int8_t>(r) : 0;
  }
  return d;
}

// x (n,) -> ActQ8_32 (n / 32,)
void quantize_act_q8_32_ref(const float* x, void* xq, int64_t n) {
  ActQ8_32* out = static_cast<ActQ8_32*>(xq);
  for (int64_t b = 0; b < n / 32; ++b) {
    ActQ8_32& blk = out[b];
    blk.d = quantize_group(x + b * 32, blk.qs, 32);
    int sum = 0;
    for (int i = 0; i < 32; ++i) sum += blk.qs[i];
    blk.s = blk.d * static_cast<float>(sum);
  }
}

// x (n,) -> ActQ8_256 (n / 256,)
void quantize_act_q8_256_ref(const float* x, void* xq, int64_t n) {
  ActQ8_256* out = static_cast<ActQ8_256*>(xq);
  for (int64_t b = 0; b < n / 256; ++b) {
    ActQ8_256& blk = out[b];
    blk.d = quantize_group(x + b * 256, blk.qs, 256);
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += blk.qs[16 * g + i];
      blk.bsums[g] = static_cast<int16_t>(sum);
    }
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

const TypeKernels kF32 = {GgmlType::F32, ActFormat::F32, quantize_act_f32_ref, gemm_ref<dot_f32>, dequant_f32};
const TypeKernels kF16 = {GgmlType::F16, ActFormat::F32, quantize_act_f32_ref, gemm_ref<dot_f16>, dequant_f16};
const TypeKernels kBF16 = {GgmlType::BF16, ActFormat::F32, quantize_act_f32_ref, gemm_ref<dot_bf16>, dequant_bf16};
const TypeKernels kQ4_0 = {GgmlType::Q4_0, ActFormat::Q8_32, quantize_act_q8_32_ref, gemm_ref<dot_q4_0>, dequant_q4_0};
const TypeKernels kQ8_0 = {GgmlType::Q8_0, ActFormat::Q8_32, quantize_act_q8_32_ref, gemm_ref<dot_q8_0>, dequant_q8_0};
const TypeKernels kQ6_K = {GgmlType::Q6_K, ActFormat::Q8_256, quantize_act_q8_256_ref, gemm_ref<dot_q6_k>, dequant_q6_k};

}  // namespace

const TypeKernels* ref_kernels(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return &kF32;
    case GgmlType::F16: return &kF16;
    case GgmlType::BF16: return &kBF16;
    case GgmlType::Q4_0: return &kQ4_0;
    case GgmlType::Q8_0: return &kQ8_0;
    case GgmlType::Q6_K: return &kQ6_K;
    default: return nullptr;
  }
}

}  // namespace kern
}  // namespace hb
