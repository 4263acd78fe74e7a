// AVX2 + FMA + F16C kernels, part 0 of the 256-element types (Q2_K, Q5_K, IQ4_XS), in their own
// file so a parallel build compiles them beside the others. Same flags, same conditions.
#if defined(__x86_64__)
#define HB_X86_VNNI 0
#include "kernels_x86.h"

namespace hb {
namespace kern {

const TypeKernels* avx2_k0_kernels(GgmlType t) { return x86_k_kernels<0>(t); }

}  // namespace kern
}  // namespace hb

#endif  // __x86_64__
