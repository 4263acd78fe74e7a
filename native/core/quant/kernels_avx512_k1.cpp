// AVX-512 VNNI kernels, part 1 of the 256-element types (Q3_K, Q4_K, Q6_K), in their own file
// so a parallel build compiles them beside the others. Same flags, same conditions and the
// same emulated build (see kernels_avx512.cpp).
#if defined(__x86_64__)
#include "kernels_avx512_config.h"

namespace hb {
namespace kern {

const TypeKernels* avx512_k1_kernels(GgmlType t) { return x86_k_kernels<1>(t); }

}  // namespace kern
}  // namespace hb

#endif  // __x86_64__
