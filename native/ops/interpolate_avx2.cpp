// The bilinear kernel of interpolate compiled with AVX2 + FMA (std::fma
// becomes one instruction; the results are the same as the baseline copy's).
#define SOTR_INTERPOLATE_KERNEL_BODY
#include "ops/interpolate.h"

namespace sotr {
namespace interp_detail {

bool bilinearPlanesAvx2(const InterpolatePlan& p, const LinearTap* th, const LinearTap* tw, const char* rowNeeded,
                        const float* x, float* y, int64_t planes, float* tmp) {
#if defined(__FMA__)
  bilinearPlanesImpl(p, th, tw, rowNeeded, x, y, planes, tmp);
  return true;
#else
  (void)p, (void)th, (void)tw, (void)rowNeeded, (void)x, (void)y, (void)planes, (void)tmp;
  return false;
#endif
}

}  // namespace interp_detail
}  // namespace sotr
