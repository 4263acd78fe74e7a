// Included by the AVX-512 kernel files (kernels_avx512*.cpp) in place of kernels_x86.h: VNNI dots
// on real builds; with -DHB_TEST_EMULATE_AVX512, AVX2 flags and an exact scalar vpdpbusd (see
// kernels_avx512.cpp), so every AVX-512 file is built the same way.
#pragma once
#if defined(HB_TEST_EMULATE_AVX512)
#define HB_X86_VNNI 0
#define HB_X86_EMULATE_VNNI 1
#else
#define HB_X86_VNNI 1
#endif
#include "kernels_x86.h"
