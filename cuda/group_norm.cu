#include "cuda/group_norm.cuh"

#include <algorithm>

#include "cuda/conv2d.cuh"
#include "ops/group_norm.h"

namespace sotr {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ double block_sum(double v, double* sh) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  double r = 0;
  if (threadIdx.x < 32) {
    r = threadIdx.x < (blockDim.x >> 5) ? sh[threadIdx.x] : 0.0;
    for (int o = 16; o > 0; o >>= 1) r += __shfl_down_sync(0xffffffffu, r, o);
  }
  return r;  // valid in thread 0
}

// grid (chunks, N*G): partial[(ng * chunks + c) * 3] = {count, mean, M2}
__global__ void gn_partial_kernel(const float* __restrict__ x, double* __restrict__ partial, int64_t len,
                                  int64_t chunkLen) {
  __shared__ double sh[32];
  const int64_t ng = blockIdx.y;
  const int64_t b = blockIdx.x * chunkLen, e = min(b + chunkLen, len);
  const float* xs = x + ng * len;
  double s = 0;
  for (int64_t i = b + threadIdx.x; i < e; i += blockDim.x) s += xs[i];
  const double total = block_sum(s, sh);
  __shared__ double meanSh;
  const int64_t n = e > b ? e - b : 0;
  if (threadIdx.x == 0) meanSh = n ? total / n : 0.0;
  __syncthreads();
  const double mean = meanSh;
  double q = 0;
  for (int64_t i = b + threadIdx.x; i < e; i += blockDim.x) {
    const double d = xs[i] - mean;
    q += d * d;
  }
  const double m2 = block_sum(q, sh);
  if (threadIdx.x == 0) {
    double* p = partial + (ng * gridDim.x + blockIdx.x) * 3;
    p[0] = static_cast<double>(n);
    p[1] = mean;
    p[2] = m2;
  }
}

__global__ void gn_merge_kernel(const double* __restrict__ partial, double* __restrict__ stats, int groups,
                                int chunks, double eps) {
  const int ng = blockIdx.x * blockDim.x + threadIdx.x;
  if (ng >= groups) return;
  double n = 0, mean = 0, m2 = 0;
  for (int c = 0; c < chunks; ++c) {
    const double* p = partial + (static_cast<int64_t>(ng) * chunks + c) * 3;
    if (p[0] == 0) continue;
    const double nb = p[0], tot = n + nb, d = p[1] - mean;
    mean += d * nb / tot;
    m2 += p[2] + d * d * n * nb / tot;
    n = tot;
  }
  const double var = n > 0 ? m2 / n : 0.0;
  stats[2 * ng] = mean;
  stats[2 * ng + 1] = 1.0 / sqrt(var + eps);
}

__global__ void gn_apply_kernel(const float* __restrict__ x, float* __restrict__ y, const double* __restrict__ stats,
                                const float* __restrict__ gamma, const float* __restrict__ beta, int64_t total,
                                int64_t HW, int C, int Cg, int act, float slope) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t nc = i / HW;
    const int c = static_cast<int>(nc % C);
    const int64_t n = nc / C;
    const int64_t ng = n * (C / Cg) + c / Cg;
    const double mean = stats[2 * ng], rstd = stats[2 * ng + 1];
    const double a = __dmul_rn(rstd, static_cast<double>(gamma ? gamma[c] : 1.f));
    const double b = __dsub_rn(static_cast<double>(beta ? beta[c] : 0.f), __dmul_rn(mean, a));
    float v = __double2float_rn(__dadd_rn(__dmul_rn(static_cast<double>(x[i]), a), b));
    if (act == 1) v = v < 0.f ? 0.f : v;
    else if (act == 2) v = v > 0.f ? v : __fmul_rn(v, slope);
    y[i] = v;
  }
}

void runGroupNormCuda(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const GroupNormPlan p = planGroupNorm(call);
  const int64_t total = out[0].numel();
  if (total == 0) return;
  cudaStream_t s = static_cast<cudaStream_t>(ctx.stream);
  const int64_t groups = p.N * p.G, Cg = p.C / p.G, len = Cg * p.HW;
  // Chunks of >= 8192 elements, at most 64 per group.
  const int64_t chunkLen = std::max<int64_t>(8192, (len + 63) / 64);
  const int chunks = static_cast<int>(std::max<int64_t>(1, (len + chunkLen - 1) / chunkLen));
  DeviceScratch scratch = deviceScratch(ctx, (groups * chunks * 3 + groups * 2) * 2);  // doubles
  double* partial = reinterpret_cast<double*>(scratch.get());
  double* stats = partial + groups * chunks * 3;
  for (int64_t g0 = 0; g0 < groups; g0 += 65535) {
    const int64_t gn = std::min<int64_t>(65535, groups - g0);
    gn_partial_kernel<<<dim3(chunks, static_cast<unsigned>(gn)), kThreads, 0, s>>>(
        call.inputs[0].data<float>() + g0 * len, partial + g0 * chunks * 3, len, chunkLen);
    SOTR_CUDA_CHECK_LAUNCH();
  }
  gn_merge_kernel<<<static_cast<int>((groups + 127) / 128), 128, 0, s>>>(partial, stats, static_cast<int>(groups),
                                                                         chunks, static_cast<double>(p.eps));
  SOTR_CUDA_CHECK_LAUNCH();
  const int blocks = static_cast<int>(std::min<int64_t>((total + kThreads - 1) / kThreads, 1 << 16));
  gn_apply_kernel<<<blocks, kThreads, 0, s>>>(call.inputs[0].data<float>(), out[0].data<float>(), stats,
                                              p.hasWeight ? call.inputs[1].data<float>() : nullptr,
                                              p.hasBias ? call.inputs[2].data<float>() : nullptr, total, p.HW,
                                              static_cast<int>(p.C), static_cast<int>(Cg), static_cast<int>(p.act),
                                              p.slope);
  SOTR_CUDA_CHECK_LAUNCH();
}

CudaRegistrar reg("groupNorm", runGroupNormCuda);

}  // namespace
}  // namespace cuda
}  // namespace sotr
