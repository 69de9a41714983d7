// The bilinear kernel of interpolate compiled with AVX2 + FMA (std::fma
// becomes one instruction; the results are the same as the baseline copy's).
#define SOTR_INTERPOLATE_KERNEL_BODY
#include "ops/interpolate.h"

namespace sotr {
namespace interp_detail {

bool bilinearWindowAvx2(const float* x, int64_t ldx, const LinearTap* th, int64_t rows, const LinearTap* tw,
                        int64_t cols, int64_t r0, int64_t r1, const char* rowNeeded, float* tmp, float* y,
                        int64_t ldy) {
#if defined(__FMA__)
  bilinearWindowImpl(x, ldx, th, rows, tw, cols, r0, r1, rowNeeded, tmp, y, ldy);
  return true;
#else
  (void)x, (void)ldx, (void)th, (void)rows, (void)tw, (void)cols, (void)r0, (void)r1, (void)rowNeeded, (void)tmp,
      (void)y, (void)ldy;
  return false;
#endif
}

}  // namespace interp_detail
}  // namespace sotr
