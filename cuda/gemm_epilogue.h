// The values of the GEMM core's standard epilogue (GemmEpilogue of
// native/gemm/gemm_args.h bound to one output) and its per-element formula,
// plain C++ with host + device functions: the CUDA kernels use it through
// gemm_core::GemmEpilogueOp (cuda/gemm.cuh), and CPU tests that emulate
// kernel bodies (tests/native/test_conv2d_winograd_cuda.cpp) run the very same
// formula and binding.
#pragma once
#include <cmath>
#include <cstdint>

#include "../native/gemm/gemm_args.h"

#if defined(__CUDACC__)
#define SOTR_EPI_HD __host__ __device__ __forceinline__
#else
#define SOTR_EPI_HD inline
#endif

namespace sotr {
namespace cuda {
namespace gemm_core {

struct GemmEpilogueValues {
  float* C = nullptr;
  int64_t ldc = 0, strideC = 0;
  const float* bias = nullptr;
  const float* scale = nullptr;
  const float* shift = nullptr;
  int channelAxis = 0;
  float alpha = 1.f;
  const float* residual = nullptr;
  int64_t ldr = 0, strideR = 0;
  float beta = 1.f;
  int act = 0;  // sotr::Activation
  float slope = 0.01f;
  bool vecC = false;  // float4 stores allowed (C 16-byte aligned, ldc / strideC % 4 == 0)
  bool vecR = false;  // float4 residual loads allowed

  // ((v + bias) * scale + shift) * alpha + beta * residual, then the activation.
  SOTR_EPI_HD float apply(float v, int ch, float res) const {
    if (bias) v += bias[ch];
    if (scale) v *= scale[ch];
    if (shift) v += shift[ch];
    v *= alpha;
    if (residual) v += beta * res;
    if (act == 1) v = v < 0.f ? 0.f : v;  // NaN and -0 pass, as torch.relu
    else if (act == 2) v = v > 0.f ? v : v * slope;
    else if (act == 3) v = 1.f / (1.f + expf(-v));
    return v;
  }
};

}  // namespace gemm_core

namespace conv_detail {

// The epilogue's values for a conv output [N, O, P] restricted to the output
// channels [r0, r0 + rows): C row m is channel r0 + m.
inline gemm_core::GemmEpilogueValues convEpilogueValues(const GemmEpilogue& ep, float* out, int64_t O, int64_t P,
                                                        int64_t r0, int batch) {
  auto aligned16 = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; };
  gemm_core::GemmEpilogueValues e;
  e.C = out + r0 * P;
  e.ldc = P;
  e.strideC = O * P;
  e.bias = ep.bias ? ep.bias + r0 : nullptr;
  e.scale = ep.scale ? ep.scale + r0 : nullptr;
  e.shift = ep.shift ? ep.shift + r0 : nullptr;
  e.channelAxis = 0;
  e.alpha = ep.alpha;
  e.residual = ep.residual ? ep.residual + r0 * P : nullptr;
  e.ldr = P;
  e.strideR = O * P;
  e.beta = ep.beta;
  e.act = static_cast<int>(ep.act);
  e.slope = ep.slope;
  e.vecC = aligned16(e.C) && P % 4 == 0 && (batch == 1 || (O * P) % 4 == 0);
  e.vecR = e.residual && aligned16(e.residual) && P % 4 == 0 && (batch == 1 || (O * P) % 4 == 0);
  return e;
}

}  // namespace conv_detail
}  // namespace cuda
}  // namespace sotr
