// NEON dotprod kernels: this file alone is compiled with -march=armv8.2-a+dotprod and is only called
// after cpu_features() found HWCAP_ASIMDDP. Same kernels as kernels_neon.cpp (kernels_arm.h) with
// vdotq_s32 for the integer dots; results are bit-identical to the plain NEON build.
#if defined(__aarch64__)
#define HB_ARM_DOTPROD 1
#include "kernels_arm.h"

namespace hb {
namespace kern {

const TypeKernels* neondot_kernels(GgmlType t) {
  static const TypeKernels table[] = {with_ref_dequant(kArmQ4_0), with_ref_dequant(kArmQ8_0), with_ref_dequant(kArmQ6_K),
                                      with_ref_dequant(kArmQ4_K), with_ref_dequant(kArmQ5_K),
                                      with_ref_dequant(kArmQ4_1), with_ref_dequant(kArmQ5_0), with_ref_dequant(kArmQ5_1),
                                      with_ref_dequant(kArmIQ4_NL), with_ref_dequant(kArmIQ4_XS), with_ref_dequant(kArmQ3_K),
                                      with_ref_dequant(kArmQ2_K)};
  for (const TypeKernels& k : table)
    if (k.type == t) return &k;
  return nullptr;
}

}  // namespace kern
}  // namespace hb
#endif  // __aarch64__
