// AVX-512 kernels: this file alone is compiled with -mavx512f/bw/vl/dq/vnni (+AVX2/FMA/F16C). Since
// the compiler may then use any of those instructions anywhere in it, the whole file is only called
// when cpu_features() reports all of them, VNNI included (CPUs with AVX-512 but no VNNI use AVX2).
//
// The kernels are the shared 256-bit ones of kernels_x86.h with the integer dots done by VNNI
// (vpdpbusd / vpdpwssd on YMM registers): same exact integers as the AVX2 build, so results are
// bit-identical to AVX2 (the tests check that wherever the CPU has AVX-512 VNNI). The float types
// are the same kernels with larger tiles (the same operations per element, so the same bits).
//
// Tested on AVX-512 hardware (AMD Zen 5) by the kernel tests and the parity suite. On a
// machine without AVX-512, the build with -DHB_TEST_EMULATE_AVX512 compiles this file with AVX2
// flags and an exact scalar emulation of vpdpbusd, and kernels_test.cpp then checks it
// bit-identical to AVX2 and within bound of the reference (the emulated build's tiles stay at the
// AVX2 sizes, 16 registers):
//   g++ -O2 -std=c++17 -mavx2 -mfma -mf16c -DHB_TEST_EMULATE_AVX512 -c native/core/quant/kernels_avx512.cpp (and _k0.cpp, _k1.cpp)
//   g++ -O2 -std=c++17 -DHB_TEST_EMULATE_AVX512 -c native/core/quant/kernels_test.cpp   (+ the rest)
#if defined(__x86_64__)
#include "kernels_avx512_config.h"

namespace hb {
namespace kern {

const VecKernels* avx512_vec_kernels() {
#if HB_X86_VNNI
  static const VecKernels k = {exp_shifted_x86_512};
#else  // the emulated build (AVX2 flags)
  static const VecKernels k = {exp_shifted_x86};
#endif
  return &k;
}

const TypeKernels* avx512_kernels(GgmlType t) {
  // Float types (attention's F16 products over the KV cache among them): 4 x 4 tiles, 16
  // accumulators in the 32 registers (the AVX2 build's 16 registers hold 4 x 2); rows of up to
  // kShortRowMax in 8 x 2 tiles (ShortRows: Zen 4, one core, in cache, F16 64 x 256 rows x 8
  // tokens 56 -> 78-85 GOP/s, 256 x 64 rows x 8 tokens 82 -> 98-101).
  static const TypeKernels floats[] = {
      {GgmlType::F32, ActFormat::F32, quantize_act_f32_ref, ShortRows<F32Load>::gemm<gemm_tiled<TileF32, 4, 4>>,
       ref_kernels(GgmlType::F32)->dequantize_row},
      {GgmlType::F16, ActFormat::F32, quantize_act_f32_ref, ShortRows<F16Load>::gemm<gemm_tiled<TileF16, 4, 4>>,
       ref_kernels(GgmlType::F16)->dequantize_row},
      {GgmlType::BF16, ActFormat::F32, quantize_act_f32_ref, ShortRows<BF16Load>::gemm<gemm_tiled<TileBF16, 4, 4>>,
       ref_kernels(GgmlType::BF16)->dequantize_row}};
  if (const TypeKernels* k = find_kernels(floats, t)) return k;
  if (const TypeKernels* k = x86_block32_kernels(t)) return k;
  if (const TypeKernels* k = avx512_k0_kernels(t)) return k;  // kernels_avx512_k0.cpp
  return avx512_k1_kernels(t);                                // kernels_avx512_k1.cpp
}

}  // namespace kern
}  // namespace hb

#endif  // __x86_64__
