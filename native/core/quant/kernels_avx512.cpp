// AVX-512 kernels: this file alone is compiled with -mavx512f/bw/vl/dq/vnni (+AVX2/FMA/F16C). Since
// the compiler may then use any of those instructions anywhere in it, the whole file is only called
// when cpu_features() reports all of them, VNNI included (CPUs with AVX-512 but no VNNI use AVX2).
//
// The kernels are the shared 256-bit ones of kernels_x86.h with the integer dots done by VNNI
// (vpdpbusd / vpdpwssd on YMM registers): same exact integers as the AVX2 build, so results are
// bit-identical to AVX2 (the tests check that wherever the CPU has AVX-512 VNNI). Only the integer
// types are here; the float types fall back to the AVX2 table.
//
// Tested on AVX-512 hardware (AMD Zen 5) by the kernel tests and the parity suite. On a
// machine without AVX-512, the build with -DHB_TEST_EMULATE_AVX512 compiles this file with AVX2
// flags and an exact scalar emulation of vpdpbusd, and kernels_test.cpp then checks it
// bit-identical to AVX2 and within bound of the reference (the emulated build's tiles stay at the
// AVX2 sizes, 16 registers):
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

const TypeKernels* avx512_kernels(GgmlType t) { return x86_integer_kernels(t); }

}  // namespace kern
}  // namespace hb

#endif  // __x86_64__
