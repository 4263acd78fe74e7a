// Internal wiring between the kernel files: each ISA file exposes one lookup of its TypeKernels.
// cpu_features.cpp only calls an ISA's lookup after cpu_features() confirmed the CPU has the ISA.
// Only plain declarations here (no inline code), so nothing compiled with wider ISA flags can be
// merged into baseline code by the linker.
#pragma once
#include "kernels.h"

namespace hb {
namespace kern {

// Scalar reference kernels (kernels_ref.cpp); nullptr for types without kernels.
const TypeKernels* ref_kernels(GgmlType t);

// Reference activation quantizers, shared by the ISA tables where they have no faster version.
void quantize_act_f32_ref(const float* x, void* xq, int64_t n);
void quantize_act_q8_32_ref(const float* x, void* xq, int64_t n);
void quantize_act_q8_256_ref(const float* x, void* xq, int64_t n);

// The reference vector operations (ops.cpp's, kernels_ref.cpp's table).
const VecKernels* ref_vec_kernels();

#if defined(__x86_64__)
const VecKernels* avx2_vec_kernels();           // kernels_avx2.cpp
const VecKernels* avx512_vec_kernels();         // kernels_avx512.cpp
const TypeKernels* avx2_kernels(GgmlType t);    // kernels_avx2.cpp
const TypeKernels* avx512_kernels(GgmlType t);  // kernels_avx512.cpp
// The 256-element types, in two files per ISA (see kernels_x86.h).
const TypeKernels* avx2_k0_kernels(GgmlType t);    // kernels_avx2_k0.cpp
const TypeKernels* avx2_k1_kernels(GgmlType t);    // kernels_avx2_k1.cpp
const TypeKernels* avx512_k0_kernels(GgmlType t);  // kernels_avx512_k0.cpp
const TypeKernels* avx512_k1_kernels(GgmlType t);  // kernels_avx512_k1.cpp
// AVX-512's table with AMX-INT8 8-row products (kernels_amx.cpp); nullptr for the types without
// them, and on a build whose compiler has no AMX.
const TypeKernels* amx_kernels(GgmlType t);
#endif
#if defined(__aarch64__)
const TypeKernels* neon_kernels(GgmlType t);     // kernels_neon.cpp
const TypeKernels* neondot_kernels(GgmlType t);  // kernels_neondot.cpp
#endif

}  // namespace kern
}  // namespace hb
