// AVX-512 kernels: this file alone is compiled with -mavx512f/bw/vl/dq/vnni (+AVX2/FMA/F16C). Since
// the compiler may then use any of those instructions anywhere in it, the whole file is only called
// when cpu_features() reports all of them, VNNI included (CPUs with AVX-512 but no VNNI use AVX2).
//
// The kernels are the shared 256-bit ones of kernels_x86.h with the integer dots done by VNNI
// (vpdpbusd / vpdpwssd on YMM registers): same exact integers as the AVX2 build, so results are
// bit-identical to AVX2 (the tests check that wherever the CPU has AVX-512 VNNI). Only the integer
// types are here; the float types fall back to the AVX2 table.
//
// NOT RUN on the development machine (no AVX-512 there). What was checked: the build with
// -DHB_TEST_EMULATE_AVX512 compiles this file with AVX2 flags and an exact scalar emulation of
// vpdpbusd, and kernels_test.cpp then checks it bit-identical to AVX2 and within bound of the
// reference:
//   g++ -O2 -std=c++17 -mavx2 -mfma -mf16c -DHB_TEST_EMULATE_AVX512 -c native/core/quant/kernels_avx512.cpp
//   g++ -O2 -std=c++17 -DHB_TEST_EMULATE_AVX512 -c native/core/quant/kernels_test.cpp   (+ the rest)
#if defined(__x86_64__)
#if defined(HB_TEST_EMULATE_AVX512)
#define HB_X86_VNNI 0
#define HB_X86_EMULATE_VNNI 1
#else
#define HB_X86_VNNI 1
#endif
#include "kernels_x86.h"

namespace hb {
namespace kern {
namespace {

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

const TypeKernels* avx512_kernels(GgmlType t) {
  static const TypeKernels table[] = {with_ref_dequant(kQ4_0), with_ref_dequant(kQ8_0), with_ref_dequant(kQ6_K),
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
