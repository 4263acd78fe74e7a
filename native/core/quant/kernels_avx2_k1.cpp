// AVX2 + FMA + F16C kernels, part 1 of the 256-element types (Q3_K, Q4_K, Q6_K), in their own
// file so a parallel build compiles them beside the others. Same flags, same conditions.
#if defined(__x86_64__)
#define HB_X86_VNNI 0
#include "kernels_x86.h"

namespace hb {
namespace kern {

const TypeKernels* avx2_k1_kernels(GgmlType t) { return x86_k_kernels<1>(t); }

}  // namespace kern
}  // namespace hb

#endif  // __x86_64__
