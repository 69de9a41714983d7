#include "cuda/interpolate.cuh"

#include <algorithm>

#include "ops/interpolate.h"

namespace sotr {
namespace cuda {
namespace {

struct AxisArgs {
  int in, out;
  float scale;  // as the CPU computes it (host side, interpAxisScale)
  double scaleFactor;
};

struct InterpArgs {
  AxisArgs h, w;
  int align;
  int channelsLast;  // torch's channels-last blend (C == 1, 1x1 maps): see ops/interpolate.h
};

__device__ __forceinline__ void linear_tap(int dst, const AxisArgs& a, int align, int& i0, int& i1, float& l0,
                                           float& l1) {
  if (a.out == a.in) {
    i0 = i1 = dst;
    l0 = 1.f;
    l1 = 0.f;
    return;
  }
  double src;
  if (align) {
    src = __dmul_rn(static_cast<double>(a.scale), static_cast<double>(dst));
  } else {
    src = __dsub_rn(__dmul_rn(static_cast<double>(a.scale), __dadd_rn(static_cast<double>(dst), 0.5)), 0.5);
    if (src < 0) src = 0;
  }
  i0 = static_cast<int>(src);
  i1 = i0 + (i0 < a.in - 1 ? 1 : 0);
  l1 = __double2float_rn(__dsub_rn(src, static_cast<double>(i0)));
  l0 = __fsub_rn(1.f, l1);
}

__device__ __forceinline__ int nearest_index(int dst, const AxisArgs& a) {
  if (a.out == a.in) return dst;
  if (a.out == 2 * a.in) return dst >> 1;
  const int s = static_cast<int>(floorf(__fmul_rn(static_cast<float>(dst), a.scale)));
  return s < a.in - 1 ? s : a.in - 1;
}

__global__ void bilinear_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t total, InterpArgs a) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int ow = static_cast<int>(i % a.w.out);
    const int64_t t = i / a.w.out;
    const int oh = static_cast<int>(t % a.h.out);
    const int64_t plane = t / a.h.out;
    int h0, h1, w0, w1;
    float hl0, hl1, wl0, wl1;
    linear_tap(oh, a.h, a.align, h0, h1, hl0, hl1);
    linear_tap(ow, a.w, a.align, w0, w1, wl0, wl1);
    const float* xp = x + plane * a.h.in * a.w.in;
    const float* r0 = xp + static_cast<int64_t>(h0) * a.w.in;
    const float* r1 = xp + static_cast<int64_t>(h1) * a.w.in;
    if (a.channelsLast) {  // float32 weights, the four products summed in double (exact products)
      double v = __dmul_rn(static_cast<double>(r0[w0]), static_cast<double>(__fmul_rn(hl0, wl0)));
      v = __dadd_rn(v, __dmul_rn(static_cast<double>(r0[w1]), static_cast<double>(__fmul_rn(hl0, wl1))));
      v = __dadd_rn(v, __dmul_rn(static_cast<double>(r1[w0]), static_cast<double>(__fmul_rn(hl1, wl0))));
      v = __dadd_rn(v, __dmul_rn(static_cast<double>(r1[w1]), static_cast<double>(__fmul_rn(hl1, wl1))));
      y[i] = __double2float_rn(v);
      continue;
    }
    const float t0 = __fmaf_rn(r0[w0], wl0, __fmul_rn(r0[w1], wl1));
    const float t1 = __fmaf_rn(r1[w0], wl0, __fmul_rn(r1[w1], wl1));
    y[i] = __fmaf_rn(t0, hl0, __fmul_rn(t1, hl1));
  }
}

__global__ void nearest_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t total, InterpArgs a) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int ow = static_cast<int>(i % a.w.out);
    const int64_t t = i / a.w.out;
    const int oh = static_cast<int>(t % a.h.out);
    const int64_t plane = t / a.h.out;
    y[i] = x[(plane * a.h.in + nearest_index(oh, a.h)) * a.w.in + nearest_index(ow, a.w)];
  }
}

void runInterpolateCuda(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const InterpolatePlan p = planInterpolate(call);
  const int64_t total = out[0].numel();
  if (total == 0) return;
  InterpArgs a;
  a.align = p.alignCorners ? 1 : 0;
  a.channelsLast = p.channelsLast ? 1 : 0;
  a.h = AxisArgs{static_cast<int>(p.H), static_cast<int>(p.Ho),
                 p.bilinear ? interpAxisScale(p.H, p.Ho, p.scaleH, p.alignCorners)
                            : interpAxisScale(p.H, p.Ho, p.scaleH, false),
                 p.scaleH};
  a.w = AxisArgs{static_cast<int>(p.W), static_cast<int>(p.Wo),
                 p.bilinear ? interpAxisScale(p.W, p.Wo, p.scaleW, p.alignCorners)
                            : interpAxisScale(p.W, p.Wo, p.scaleW, false),
                 p.scaleW};
  const int threads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((total + threads - 1) / threads, 1 << 16));
  cudaStream_t s = static_cast<cudaStream_t>(ctx.stream);
  if (p.bilinear) bilinear_kernel<<<blocks, threads, 0, s>>>(call.inputs[0].data<float>(), out[0].data<float>(), total, a);
  else nearest_kernel<<<blocks, threads, 0, s>>>(call.inputs[0].data<float>(), out[0].data<float>(), total, a);
  SOTR_CUDA_CHECK_LAUNCH();
}

CudaRegistrar reg("interpolate", runInterpolateCuda);

}  // namespace
}  // namespace cuda
}  // namespace sotr
