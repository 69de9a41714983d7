// groupNorm(x, groups, weight?, bias?, eps = 1e-5, activation = none|relu|leakyRelu)
// NCHW (any trailing spatial dims: x is [N, C, *]). Per sample, the C channels
// form `groups` contiguous groups; mean and biased variance over (C/groups x
// spatial), then y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c], then the
// activation (the mask branch's GN + ReLU fused).
#pragma once
#include <cstdint>

#include "gemm/gemm_args.h"
#include "ops/registry.h"

namespace sotr {

struct GroupNormPlan {
  int64_t N = 0, C = 0, G = 1, HW = 1;  // HW: product of the dims after C
  float eps = 1e-5f;
  Activation act = Activation::None;
  float slope = 0.01f;
  bool hasWeight = false, hasBias = false;
  Shape outShape;
};

GroupNormPlan planGroupNorm(const OpCall& call);

namespace detail {
// One group's mean and biased variance over x[0, len), in double.
using GroupStatsFn = void (*)(const float* x, int64_t len, double* mean, double* var);
// y = act((x - centre) * a + b) over [0, n).
using GroupRowFn = void (*)(const float* x, float* y, int64_t n, float centre, float a, float b, Activation act,
                            float slope);
struct GroupNormKernels {
  GroupStatsFn stats = nullptr;
  GroupRowFn row = nullptr;
};
// group_norm_avx512.cpp; both null when it was compiled without AVX-512.
GroupNormKernels groupNormAvx512();
}  // namespace detail

}  // namespace sotr
