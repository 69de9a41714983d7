// The pillowResize passes compiled with AVX2 (the vertical pass's int32 sums
// become vpmovzxbd / vpmulld / vpaddd on 8 lanes). Integer arithmetic: the
// bytes are the same as the baseline copy's.
#define SOTR_PILLOW_RESIZE_KERNEL_BODY
#include "ops/pillow_resize.h"

namespace sotr {
namespace pillow_detail {

bool avx2Kernels(Kernels* k) {
#if defined(__AVX2__)
  k->horizontal = pillowHorizontalRowImpl;
  k->vertical = pillowVerticalRowImpl;
  return true;
#else
  (void)k;
  return false;
#endif
}

}  // namespace pillow_detail
}  // namespace sotr
