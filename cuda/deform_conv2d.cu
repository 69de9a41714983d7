#include "cuda/deform_conv2d.cuh"

#include <climits>

#include "cuda/conv2d.cuh"
#include "ops/deform_conv2d.h"

namespace sotr {
namespace cuda {

using conv_detail::ConvShape;
using conv_detail::convShapeOf;

namespace {

struct DeformB {
  static constexpr bool kKContig = false;
  const float* x = nullptr;       // group's first channel, image 0
  const float* offset = nullptr;  // image 0
  const float* mask = nullptr;    // image 0 or null
  int64_t xStride = 0, offStride = 0, maskStride = 0;
  ConvShape s;
  int H = 0, W = 0;
  int taps = 1, DG = 1, cpdg = 1, c0g = 0;  // c0g: global index of the group's first channel

  struct Sample {
    int idx[4];
    float w[4];
    float m;
  };

  template <class Smem, int NT>
  struct Iter {
    const DeformB& o;  // kernel parameter (lives in constant space for the whole kernel)
    const float* xb;
    const float* ob;
    const float* mb;
    int tid, mn0;

    __device__ __forceinline__ Iter(const DeformB& op, int batch, int mn0_, int tid_)
        : o(op), xb(op.x + batch * op.xStride), ob(op.offset + batch * op.offStride),
          mb(op.mask ? op.mask + batch * op.maskStride : nullptr), tid(tid_), mn0(mn0_) {}

    __device__ __forceinline__ Sample sample(int p, int tap, int dg) const {
      Sample r;
      const int i = tap / o.s.kw, j = tap - i * o.s.kw;
      const int oy = p / o.s.Wo, ox = p - oy * o.s.Wo;
      const int64_t P = o.s.P;
      const float* dyp = ob + (static_cast<int64_t>(dg) * o.taps + tap) * 2 * P;
      const float h = __fadd_rn(static_cast<float>(oy * o.s.sh - o.s.ph + i * o.s.dh), dyp[p]);
      const float w = __fadd_rn(static_cast<float>(ox * o.s.sw - o.s.pw + j * o.s.dw), dyp[P + p]);
      r.m = mb ? mb[(static_cast<int64_t>(dg) * o.taps + tap) * P + p] : 1.f;
      if (!(h > -1.f && w > -1.f && h < static_cast<float>(o.H) && w < static_cast<float>(o.W))) {
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          r.idx[k] = -1;
          r.w[k] = 0.f;
        }
        return r;
      }
      const float hlf = floorf(h), wlf = floorf(w);
      const int hl = static_cast<int>(hlf), wl = static_cast<int>(wlf);
      const float lh = __fsub_rn(h, hlf), lw = __fsub_rn(w, wlf);
      const float hh = __fsub_rn(1.f, lh), hw = __fsub_rn(1.f, lw);
      r.w[0] = __fmul_rn(hh, hw);
      r.w[1] = __fmul_rn(hh, lw);
      r.w[2] = __fmul_rn(lh, hw);
      r.w[3] = __fmul_rn(lh, lw);
      r.idx[0] = hl >= 0 && wl >= 0 ? hl * o.W + wl : -1;
      r.idx[1] = hl >= 0 && wl + 1 <= o.W - 1 ? hl * o.W + wl + 1 : -1;
      r.idx[2] = hl + 1 <= o.H - 1 && wl >= 0 ? (hl + 1) * o.W + wl : -1;
      r.idx[3] = hl + 1 <= o.H - 1 && wl + 1 <= o.W - 1 ? (hl + 1) * o.W + wl + 1 : -1;
      return r;
    }

    __device__ __forceinline__ float value(const Sample& r, int c) const {
      const float* plane = xb + static_cast<int64_t>(c) * o.H * o.W;
      const float v1 = r.idx[0] >= 0 ? plane[r.idx[0]] : 0.f;
      const float v2 = r.idx[1] >= 0 ? plane[r.idx[1]] : 0.f;
      const float v3 = r.idx[2] >= 0 ? plane[r.idx[2]] : 0.f;
      const float v4 = r.idx[3] >= 0 ? plane[r.idx[3]] : 0.f;
      const float s = __fadd_rn(__fadd_rn(__fadd_rn(__fmul_rn(r.w[0], v1), __fmul_rn(r.w[1], v2)), __fmul_rn(r.w[2], v3)),
                                __fmul_rn(r.w[3], v4));
      return __fmul_rn(s, r.m);
    }

    __device__ __forceinline__ void load(float* stage, int k0) const {
      constexpr int R = Smem::kRows, D = Smem::kDepth;
      static_assert(NT % R == 0, "the deformable loader keeps one pixel per thread");
      constexpr int STEP = NT / R;
      const int r = tid % R, p = mn0 + r;
      int lastKey = -1;
      Sample smp;
#pragma unroll 1
      for (int kk = tid / R; kk < D; kk += STEP) {
        const int kidx = k0 + kk;
        float v = 0.f;
        if (p < o.s.P && kidx < o.s.K) {
          const int tap = kidx / o.s.Cg, c = kidx - tap * o.s.Cg;
          const int dg = (o.c0g + c) / o.cpdg;
          const int key = tap * o.DG + dg;
          if (key != lastKey) {
            smp = sample(p, tap, dg);
            lastKey = key;
          }
          v = value(smp, c);
        }
        stage[Smem::offset(r, kk)] = v;
      }
    }
  };
};

static_assert(!DeformB::kKContig, "pixels are the contiguous dimension of the B tile");

template <class A, class E>
void launchDeform(const A& a, const DeformB& b, const E& epi, int M, int N, int K, int batch, Precision prec,
                  cudaStream_t stream) {
  int dev = 0;
  SOTR_CUDA_CHECK(cudaGetDevice(&dev));
  const GemmDeviceInfo& info = gemm_device_info(dev);
  using namespace gemm_core;
  if (prec != Precision::FP32 && info.tensorCores) {
    bool large = prefer_large_tile(M, N, batch, TcLarge::BM, TcLarge::BN, info.smCount) &&
                 info.maxSmemOptin >= TcLarge::kSmemBytes;
    if (large) launch_tc_gemm<TcLarge, Precision::TF32>(a, b, epi, M, N, K, batch, stream);
    else launch_tc_gemm<TcSmall, Precision::TF32>(a, b, epi, M, N, K, batch, stream);
    return;
  }
  if (prefer_large_tile(M, N, batch, SimtLarge::BM, SimtLarge::BN, info.smCount))
    launch_simt_gemm<SimtLarge>(a, b, epi, M, N, K, batch, stream);
  else
    launch_simt_gemm<SimtSmall>(a, b, epi, M, N, K, batch, stream);
}

void runDeformCuda(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const DeformPlan d = planDeformConv2d(call);
  if (out[0].numel() == 0) return;
  const ConvGeom& g = d.conv.g;
  const GemmEpilogue ep = bindConvEpilogue(d.conv, call, 4);
  cudaStream_t stream = static_cast<cudaStream_t>(ctx.stream);
  const int64_t Og = g.Og(), K = g.K(), P = g.P(), taps = g.kh * g.kw;
  if (g.N > INT_MAX || P > INT_MAX || K > INT_MAX || g.C * g.H * g.W > INT_MAX || 2 * d.deformGroups * taps * P > INT_MAX)
    fail(ErrorKind::Range, "deformConv2d: sizes beyond 2^31 elements per image are not supported on CUDA");
  DeviceScratch wperm;
  const float* w = call.inputs[3].data<float>();
  if (taps > 1 && g.Cg() > 1) {
    wperm = deviceScratch(ctx, g.O * K);
    permuteConvWeight(w, wperm.get(), g.O, g.Cg(), taps, stream);
    w = wperm.get();
  }
  float* y = out[0].data<float>();
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    gemm_core::StridedOperand<true> a;
    a.ptr = w + grp * Og * K;
    a.ld = K;
    a.batchStride = 0;
    a.rows = static_cast<int>(Og);
    a.depth = static_cast<int>(K);
    a.vec16 = is_aligned(a.ptr, 16) && K % 4 == 0;
    DeformB b;
    b.x = call.inputs[0].data<float>() + grp * g.Cg() * g.H * g.W;
    b.offset = call.inputs[1].data<float>();
    b.mask = d.hasMask ? call.inputs[2].data<float>() : nullptr;
    b.xStride = g.C * g.H * g.W;
    b.offStride = 2 * d.deformGroups * taps * P;
    b.maskStride = d.deformGroups * taps * P;
    const ConvShape& s = b.s = convShapeOf(g, P, K);
    b.H = s.H;
    b.W = s.W;
    b.taps = static_cast<int>(taps);
    b.DG = static_cast<int>(d.deformGroups);
    b.cpdg = static_cast<int>(g.C / d.deformGroups);
    b.c0g = static_cast<int>(grp * g.Cg());
    const auto epi = conv_detail::convEpilogue(ep, y, g.O, P, grp * Og, static_cast<int>(g.N));
    launchDeform(a, b, epi, static_cast<int>(Og), static_cast<int>(P), static_cast<int>(K), static_cast<int>(g.N),
                 call.precision, stream);
  }
}

CudaRegistrar reg("deformConv2d", runDeformCuda);

}  // namespace
}  // namespace cuda
}  // namespace sotr
