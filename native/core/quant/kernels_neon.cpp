// Plain NEON kernels (baseline armv8-a; integer dots by vmull_s8 / vpadalq_s16). The kernels are
// in kernels_arm.h, shared with the dotprod build (kernels_neondot.cpp), which gives bit-identical
// results. Float types live here only (the dotprod table falls back to this one for them).
#if defined(__aarch64__)
#define HB_ARM_DOTPROD 0
#include "kernels_arm.h"

namespace hb {
namespace kern {

const TypeKernels* neon_kernels(GgmlType t) {
  static const TypeKernels table[] = {with_ref_dequant(kArmF32),  with_ref_dequant(kArmF16),  with_ref_dequant(kArmBF16),
                                      with_ref_dequant(kArmQ4_0), with_ref_dequant(kArmQ8_0), with_ref_dequant(kArmQ6_K),
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
