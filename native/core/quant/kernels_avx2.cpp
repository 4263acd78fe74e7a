// AVX2 + FMA + F16C kernels: this file alone is compiled with -mavx2 -mfma -mf16c and is only
// called after cpu_features() confirmed all three and OS support for YMM state. The kernels
// themselves are in kernels_x86.h (shared with the AVX-512 VNNI build).
#if defined(__x86_64__)
#define HB_X86_VNNI 0
#include "kernels_x86.h"

namespace hb {
namespace kern {
namespace {

// dequantize_row stays the reference's (exact GGUF semantics, not a hot path).
// 8-row tiles: token counts per tile measured on Zen 3 (128-token prefill, 2 threads): Q4_0 and
// Q4_K best at 2 (larger tiles spill), Q8_0 at 4.
const TypeKernels kF32 = {GgmlType::F32, ActFormat::F32, quantize_act_f32_ref, gemm_tiled<TileF32, 4, 2>, nullptr};
const TypeKernels kF16 = {GgmlType::F16, ActFormat::F32, quantize_act_f32_ref, gemm_tiled<TileF16, 4, 2>, nullptr};
const TypeKernels kBF16 = {GgmlType::BF16, ActFormat::F32, quantize_act_f32_ref, gemm_tiled<TileBF16, 4, 2>, nullptr};
const TypeKernels kQ4_0 = {GgmlType::Q4_0, ActFormat::Q8_32, quantize_act_q8_32_x86, gemm_tiled<TileQ4_0, 4, 2>, nullptr,
                           gemm_x8_tiled<TileQ4_0x8, 2>};
const TypeKernels kQ8_0 = {GgmlType::Q8_0, ActFormat::Q8_32, quantize_act_q8_32_x86, gemm_tiled<TileQ8_0, 4, 2>, nullptr,
                           gemm_x8_tiled<TileQ8_0x8, 4>};
const TypeKernels kQ4_1 = {GgmlType::Q4_1, ActFormat::Q8_32, quantize_act_q8_32_x86, gemm_tiled<TileQ4_1, 4, 2>, nullptr,
                           gemm_x8_tiled<TileQ4_1x8, 2>};
const TypeKernels kQ5_0 = {GgmlType::Q5_0, ActFormat::Q8_32, quantize_act_q8_32_x86, gemm_tiled<TileQ5_0, 4, 2>, nullptr,
                           gemm_x8_tiled<TileQ5_0x8, 2>};
const TypeKernels kQ5_1 = {GgmlType::Q5_1, ActFormat::Q8_32, quantize_act_q8_32_x86, gemm_tiled<TileQ5_1, 4, 2>, nullptr,
                           gemm_x8_tiled<TileQ5_1x8, 2>};
const TypeKernels kIQ4_NL = {GgmlType::IQ4_NL, ActFormat::Q8_32, quantize_act_q8_32_x86, gemm_tiled<TileIQ4_NL, 4, 2>, nullptr,
                           gemm_x8_tiled<TileIQ4_NLx8, 2>};
const TypeKernels kQ6_K = {GgmlType::Q6_K, ActFormat::Q8_256, quantize_act_q8_256_x86, gemm_tiled<TileQ6_K, 4, 2>, nullptr,
                           gemm_x8_tiled<TileQ6_Kx8, 2>};
const TypeKernels kQ3_K = {GgmlType::Q3_K, ActFormat::Q8_256, quantize_act_q8_256_x86, gemm_tiled<TileQ3_K, 4, 2>, nullptr};
const TypeKernels kQ2_K = {GgmlType::Q2_K, ActFormat::Q8_256, quantize_act_q8_256_x86, gemm_tiled<TileQ2_K, 4, 2>, nullptr};
const TypeKernels kIQ4_XS = {GgmlType::IQ4_XS, ActFormat::Q8_256, quantize_act_q8_256_x86, gemm_tiled<TileIQ4_XS, 4, 2>,
                             nullptr};
const TypeKernels kQ4_K = {GgmlType::Q4_K, ActFormat::Q8_256, quantize_act_q8_256_x86, gemm_tiled<TileQ4_K, 4, 2>, nullptr,
                           gemm_x8_tiled<TileQ4_Kx8, 2>};
const TypeKernels kQ5_K = {GgmlType::Q5_K, ActFormat::Q8_256, quantize_act_q8_256_x86, gemm_tiled<TileQ5_K, 4, 2>, nullptr,
                           gemm_x8_tiled<TileQ5_Kx8, 2>};

TypeKernels with_ref_dequant(TypeKernels k) {
  k.dequantize_row = ref_kernels(k.type)->dequantize_row;
  return k;
}

}  // namespace

const TypeKernels* avx2_kernels(GgmlType t) {
  // Filled on first use (thread-safe static init) so dequantize_row can point at the reference.
  static const TypeKernels table[] = {with_ref_dequant(kF32),  with_ref_dequant(kF16),  with_ref_dequant(kBF16),
                                      with_ref_dequant(kQ4_0), with_ref_dequant(kQ8_0), with_ref_dequant(kQ6_K),
                                      with_ref_dequant(kQ4_K), with_ref_dequant(kQ5_K),
                                      with_ref_dequant(kQ4_1), with_ref_dequant(kQ5_0), with_ref_dequant(kQ5_1),
                                      with_ref_dequant(kIQ4_NL), with_ref_dequant(kQ3_K), with_ref_dequant(kQ2_K),
                                      with_ref_dequant(kIQ4_XS)};
  for (const TypeKernels& k : table)
    if (k.type == t) return &k;
  return nullptr;
}

}  // namespace kern
}  // namespace hb
#endif  // __x86_64__
