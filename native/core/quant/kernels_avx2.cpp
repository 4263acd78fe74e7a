// AVX2 + FMA + F16C kernels: this file alone is compiled with -mavx2 -mfma -mf16c and is only
// called after cpu_features() confirmed all three and OS support for YMM state. The kernels
// themselves are in kernels_x86.h (shared with the AVX-512 VNNI build).
#if defined(__x86_64__)
#define HB_X86_VNNI 0
#include "kernels_x86.h"

namespace hb {
namespace kern {

const VecKernels* avx2_vec_kernels() {
  static const VecKernels k = {exp_shifted_x86};
  return &k;
}

const TypeKernels* avx2_kernels(GgmlType t) {
  // Float types: AVX2 only (the AVX-512 table falls back to these). Filled on first use so
  // dequantize_row can point at the reference.
  static const TypeKernels floats[] = {
      {GgmlType::F32, ActFormat::F32, quantize_act_f32_ref, gemm_tiled<TileF32, 4, 2>, ref_kernels(GgmlType::F32)->dequantize_row},
      {GgmlType::F16, ActFormat::F32, quantize_act_f32_ref, gemm_tiled<TileF16, 4, 2>, ref_kernels(GgmlType::F16)->dequantize_row},
      {GgmlType::BF16, ActFormat::F32, quantize_act_f32_ref, gemm_tiled<TileBF16, 4, 2>,
       ref_kernels(GgmlType::BF16)->dequantize_row}};
  if (const TypeKernels* k = find_kernels(floats, t)) return k;
  if (const TypeKernels* k = x86_block32_kernels(t)) return k;
  if (const TypeKernels* k = avx2_k0_kernels(t)) return k;  // kernels_avx2_k0.cpp
  return avx2_k1_kernels(t);                                // kernels_avx2_k1.cpp
}

}  // namespace kern
}  // namespace hb

#endif  // __x86_64__
