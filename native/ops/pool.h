// maxPool2d / avgPool2d, NCHW, with torch.nn.functional semantics:
//   maxPool2d(x, kernelSize, stride = kernelSize, padding = 0, dilation = 1, ceilMode = false)
//     (padding counts as -inf; NaN propagates)
//   avgPool2d(x, kernelSize, stride = kernelSize, padding = 0, ceilMode = false,
//             countIncludePad = true, divisorOverride = 0 (none))
#pragma once
#include <cstdint>

#include "ops/registry.h"

namespace sotr {

struct PoolPlan {
  bool isMax = true;
  int64_t N = 0, C = 0, H = 0, W = 0, Ho = 0, Wo = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  bool ceilMode = false, countIncludePad = true;
  int64_t divisorOverride = 0;
  Shape outShape;
};

PoolPlan planPool(const OpCall& call);

// torch's pooling_output_shape.
int64_t poolOutputSize(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceilMode);

}  // namespace sotr
