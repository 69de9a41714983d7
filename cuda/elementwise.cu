#include "cuda/elementwise.cuh"

#include <algorithm>

#include "ops/elementwise.h"

namespace sotr {
namespace cuda {
namespace {

constexpr int kThreads = 256;

int blocksFor(int64_t n) { return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, 1 << 16))); }

__global__ void unary_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, int kind, float slope) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = x[i];
    y[i] = kind == 0 ? (v < 0.f ? 0.f : v)
         : kind == 1 ? (v > 0.f ? v : __fmul_rn(v, slope))
                     : __fdiv_rn(1.f, __fadd_rn(1.f, expf(-v)));
  }
}

struct BinArgs {
  int rank;
  int64_t dims[kMaxBroadcastRank];
  int64_t sa[kMaxBroadcastRank];
  int64_t sb[kMaxBroadcastRank];
  int kind;
  float alpha, other;
  int scalarB, same;
};

__device__ __forceinline__ float bin_op(int kind, float a, float b, float alpha) {
  switch (kind) {
    case 0: return alpha == 1.f ? __fadd_rn(a, b) : __fadd_rn(a, __fmul_rn(alpha, b));
    case 1: return alpha == 1.f ? __fsub_rn(a, b) : __fsub_rn(a, __fmul_rn(alpha, b));
    case 2: return __fmul_rn(a, b);
    default: return __fdiv_rn(a, b);
  }
}

__global__ void binary_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ y,
                              int64_t n, BinArgs p) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float av, bv;
    if (p.scalarB) {
      av = a[i];
      bv = p.other;
    } else if (p.same) {
      av = a[i];
      bv = b[i];
    } else {
      int64_t rem = i, oa = 0, ob = 0;
      for (int d = p.rank - 1; d >= 0; --d) {
        const int64_t idx = rem % p.dims[d];
        rem /= p.dims[d];
        oa += idx * p.sa[d];
        ob += idx * p.sb[d];
      }
      av = a[oa];
      bv = b[ob];
    }
    y[i] = bin_op(p.kind, av, bv, p.alpha);
  }
}

// rows x len blocks: dst[r * dstLd + dstOff + j] = src[r * srcLd + srcOff + j]
__global__ void copy_rows_kernel(const float* __restrict__ src, float* __restrict__ dst, int64_t rows, int64_t len,
                                 int64_t srcLd, int64_t srcOff, int64_t dstLd, int64_t dstOff) {
  const int64_t n = rows * len;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / len, j = i - r * len;
    dst[r * dstLd + dstOff + j] = src[r * srcLd + srcOff + j];
  }
}

__global__ void halves_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, int64_t half) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / half, j = i - r * half;
    const float* a = x + r * 2 * half;
    y[i] = __fmul_rn(__fadd_rn(a[j], a[half + j]), 0.5f);
  }
}

void runUnaryCuda(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const int64_t n = out[0].numel();
  if (n == 0) return;
  const float slope = static_cast<float>(call.attrs.number(call.op, "negativeSlope", 0.01));
  unary_kernel<<<blocksFor(n), kThreads, 0, static_cast<cudaStream_t>(ctx.stream)>>>(
      call.inputs[0].data<float>(), out[0].data<float>(), n, static_cast<int>(unaryKindOf(call.op)), slope);
  SOTR_CUDA_CHECK_LAUNCH();
}

void runBinaryCuda(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const BroadcastPlan p = planBinary(call);
  if (p.numel == 0) return;
  BinArgs a{};
  a.rank = p.rank;
  for (int i = 0; i < p.rank; ++i) {
    a.dims[i] = p.dims[i];
    a.sa[i] = p.sa[i];
    a.sb[i] = p.sb[i];
  }
  a.kind = static_cast<int>(p.kind);
  a.alpha = p.alpha;
  a.other = p.other;
  a.scalarB = p.scalarB;
  a.same = p.sameShape;
  binary_kernel<<<blocksFor(p.numel), kThreads, 0, static_cast<cudaStream_t>(ctx.stream)>>>(
      call.inputs[0].data<float>(), p.scalarB ? nullptr : call.inputs[1].data<float>(), out[0].data<float>(), p.numel,
      a);
  SOTR_CUDA_CHECK_LAUNCH();
}

void copyRows(const float* src, float* dst, int64_t rows, int64_t len, int64_t srcLd, int64_t srcOff, int64_t dstLd,
              int64_t dstOff, cudaStream_t s) {
  if (rows * len == 0) return;
  copy_rows_kernel<<<blocksFor(rows * len), kThreads, 0, s>>>(src, dst, rows, len, srcLd, srcOff, dstLd, dstOff);
  SOTR_CUDA_CHECK_LAUNCH();
}

CudaRegistrar regRelu("relu", runUnaryCuda);
CudaRegistrar regLeaky("leakyRelu", runUnaryCuda);
CudaRegistrar regSigmoid("sigmoid", runUnaryCuda);
CudaRegistrar regAdd("add", runBinaryCuda);
CudaRegistrar regSub("sub", runBinaryCuda);
CudaRegistrar regMul("mul", runBinaryCuda);
CudaRegistrar regDiv("div", runBinaryCuda);

CudaRegistrar regConcat("concat", [](const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const ConcatPlan p = planConcat(call);
  cudaStream_t s = static_cast<cudaStream_t>(ctx.stream);
  const int64_t rowOut = p.outAxis * p.inner;
  int64_t off = 0;
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    const int64_t len = p.axisSizes[i] * p.inner;
    copyRows(call.inputs[i].data<float>(), out[0].data<float>(), p.outer, len, len, 0, rowOut, off, s);
    off += len;
  }
});

CudaRegistrar regSlice("slice", [](const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const SlicePlan p = planSlice(call);
  copyRows(call.inputs[0].data<float>(), out[0].data<float>(), p.outer, p.len * p.inner, p.inAxis * p.inner,
           p.start * p.inner, p.len * p.inner, 0, static_cast<cudaStream_t>(ctx.stream));
});

CudaRegistrar regHalves("meanWidthHalves", [](const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const HalvesPlan p = planHalves(call);
  const int64_t n = out[0].numel();
  if (n == 0) return;
  halves_kernel<<<blocksFor(n), kThreads, 0, static_cast<cudaStream_t>(ctx.stream)>>>(
      call.inputs[0].data<float>(), out[0].data<float>(), n, p.half);
  SOTR_CUDA_CHECK_LAUNCH();
});

}  // namespace
}  // namespace cuda
}  // namespace sotr
