#include "cuda/pool.cuh"

#include <algorithm>

#include "ops/pool.h"

namespace sotr {
namespace cuda {
namespace {

struct PoolArgs {
  int H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw;
  int countIncludePad, divisorOverride;
};

__global__ void max_pool_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t total, PoolArgs a) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int ow = static_cast<int>(i % a.Wo);
    const int64_t t = i / a.Wo;
    const int oh = static_cast<int>(t % a.Ho);
    const int64_t plane = t / a.Ho;
    const float* xp = x + plane * a.H * a.W;
    int hs = oh * a.sh - a.ph;
    const int he = min(hs + (a.kh - 1) * a.dh + 1, a.H);
    while (hs < 0) hs += a.dh;
    int ws = ow * a.sw - a.pw;
    const int we = min(ws + (a.kw - 1) * a.dw + 1, a.W);
    while (ws < 0) ws += a.dw;
    float m = -INFINITY;
    for (int h = hs; h < he; h += a.dh)
      for (int w = ws; w < we; w += a.dw) {
        const float v = xp[h * a.W + w];
        if (v > m || isnan(v)) m = v;
      }
    y[i] = m;
  }
}

__global__ void avg_pool_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t total, PoolArgs a) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int ow = static_cast<int>(i % a.Wo);
    const int64_t t = i / a.Wo;
    const int oh = static_cast<int>(t % a.Ho);
    const int64_t plane = t / a.Ho;
    const float* xp = x + plane * a.H * a.W;
    int hs = oh * a.sh - a.ph, he = min(hs + a.kh, a.H + a.ph);
    const int poolH = he - hs;
    hs = max(hs, 0);
    he = min(he, a.H);
    int ws = ow * a.sw - a.pw, we = min(ws + a.kw, a.W + a.pw);
    const int poolSize = poolH * (we - ws);
    ws = max(ws, 0);
    we = min(we, a.W);
    float s = 0.f;
    for (int h = hs; h < he; ++h)
      for (int w = ws; w < we; ++w) s = __fadd_rn(s, xp[h * a.W + w]);
    const int div = a.divisorOverride ? a.divisorOverride : a.countIncludePad ? poolSize : (he - hs) * (we - ws);
    y[i] = div > 0 ? __fdiv_rn(s, static_cast<float>(div)) : 0.f;
  }
}

void runPoolCuda(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const PoolPlan p = planPool(call);
  const int64_t total = out[0].numel();
  if (total == 0) return;
  PoolArgs a{static_cast<int>(p.H), static_cast<int>(p.W), static_cast<int>(p.Ho), static_cast<int>(p.Wo),
             static_cast<int>(p.kh), static_cast<int>(p.kw), static_cast<int>(p.sh), static_cast<int>(p.sw),
             static_cast<int>(p.ph), static_cast<int>(p.pw), static_cast<int>(p.dh), static_cast<int>(p.dw),
             p.countIncludePad ? 1 : 0, static_cast<int>(p.divisorOverride)};
  const int threads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((total + threads - 1) / threads, 1 << 16));
  cudaStream_t s = static_cast<cudaStream_t>(ctx.stream);
  if (p.isMax) max_pool_kernel<<<blocks, threads, 0, s>>>(call.inputs[0].data<float>(), out[0].data<float>(), total, a);
  else avg_pool_kernel<<<blocks, threads, 0, s>>>(call.inputs[0].data<float>(), out[0].data<float>(), total, a);
  SOTR_CUDA_CHECK_LAUNCH();
}

CudaRegistrar regMax("maxPool2d", runPoolCuda);
CudaRegistrar regAvg("avgPool2d", runPoolCuda);

}  // namespace
}  // namespace cuda
}  // namespace sotr
