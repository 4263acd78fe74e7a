// avx512 kernels (not yet written: the table is empty, so dispatch falls back to the reference).
#if defined(__x86_64__)
#include "kernels_internal.h"

namespace hb {
namespace kern {

const TypeKernels* avx512_kernels(GgmlType) { return nullptr; }

}  // namespace kern
}  // namespace hb
#endif
