// CUDA side of conv2d (implicit GEMM, see conv2d.cuh; the opt-in Winograd
// F(2x2, 3x3) in conv2d_winograd.cu) and of linear (the
// GEMM core as is: x [M, in] times weight [out, in] transposed).
#include "cuda/conv2d.cuh"

#include <algorithm>
#include <climits>

#include "ops/conv2d.h"
#include "ops/conv2d_winograd.h"
#include "ops/conv2d_winograd_cuda_math.h"
#include "ops/linear.h"
#include "runtime/backend.h"

namespace sotr {
namespace cuda {

using conv_detail::ConvShape;
using conv_detail::convShapeOf;

namespace {

__global__ void permute_weight_kernel(const float* __restrict__ src, float* __restrict__ dst, int64_t total,
                                      int Cg, int taps) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    // i indexes dst [o][t][c]
    const int c = static_cast<int>(i % Cg);
    const int64_t ot = i / Cg;
    const int t = static_cast<int>(ot % taps);
    const int64_t o = ot / taps;
    dst[i] = src[(o * Cg + c) * taps + t];
  }
}

// B operand of the implicit GEMM: X[n = output pixel][k = (tap, c)] of one
// image and group (batch b = image; x points at the group's first channel).
struct Im2colB {
  static constexpr bool kKContig = false;  // pixels contiguous in shared memory
  const float* x = nullptr;
  int64_t batchStride = 0;  // C * H * W
  ConvShape s;

  template <class Smem, int NT>
  struct Iter {
    static constexpr bool kFixedRow = NT % Smem::kRows == 0;
    const float* base;
    ConvShape s;
    int tid, mn0;
    int iy0, ix0;  // this thread's pixel: top-left of its window (kFixedRow)
    bool pix;

    __device__ __forceinline__ Iter(const Im2colB& o, int batch, int mn0_, int tid_)
        : base(o.x + batch * o.batchStride), s(o.s), tid(tid_), mn0(mn0_) {
      const int p = mn0 + tid % Smem::kRows;
      pix = p < s.P;
      const int oy = p / s.Wo, ox = p - oy * s.Wo;
      iy0 = oy * s.sh - s.ph;
      ix0 = ox * s.sw - s.pw;
    }

    // Element (pixel p, depth kidx): its source, or nullptr for a zero.
    __device__ __forceinline__ const float* source(int p, int kidx) const {
      if (p >= s.P || kidx >= s.K) return nullptr;
      const int tap = kidx / s.Cg, c = kidx - tap * s.Cg;
      const int i = tap / s.kw, j = tap - i * s.kw;
      const int oy = p / s.Wo, ox = p - oy * s.Wo;
      const int y = oy * s.sh - s.ph + i * s.dh, xx = ox * s.sw - s.pw + j * s.dw;
      if (y < 0 || y >= s.H || xx < 0 || xx >= s.W) return nullptr;
      return base + (static_cast<int64_t>(c) * s.H + y) * s.W + xx;
    }

    __device__ __forceinline__ void load(float* stage, int k0) const {
      constexpr int R = Smem::kRows, D = Smem::kDepth;
      if constexpr (kFixedRow) {
        constexpr int STEP = NT / R, ITERS = (D + STEP - 1) / STEP;
        const int r = tid % R, kk0 = tid / R;
        const int tap = k0 / s.Cg, c0 = k0 - tap * s.Cg;
        if (c0 + D <= s.Cg && k0 + D <= s.K) {
          // The whole tile is one tap: one bounds check per thread.
          const int i = tap / s.kw, j = tap - i * s.kw;
          const int y = iy0 + i * s.dh, xx = ix0 + j * s.dw;
          const bool ok = pix && y >= 0 && y < s.H && xx >= 0 && xx < s.W;
          const int64_t HW = static_cast<int64_t>(s.H) * s.W;
          const float* src = ok ? base + static_cast<int64_t>(c0) * HW + static_cast<int64_t>(y) * s.W + xx : base;
#pragma unroll
          for (int it = 0; it < ITERS; ++it) {
            const int kk = kk0 + it * STEP;
            if (D % STEP != 0 && kk >= D) break;
            gemm_core::cp_async_4(stage + Smem::offset(r, kk), ok ? src + kk * HW : base, ok ? 4 : 0);
          }
        } else {
#pragma unroll 1
          for (int kk = kk0; kk < D; kk += STEP) {
            const float* src = source(mn0 + r, k0 + kk);
            gemm_core::cp_async_4(stage + Smem::offset(r, kk), src ? src : base, src ? 4 : 0);
          }
        }
      } else {
#pragma unroll 1
        for (int id = tid; id < R * D; id += NT) {
          const int r = id % R, kk = id / R;
          const float* src = source(mn0 + r, k0 + kk);
          gemm_core::cp_async_4(stage + Smem::offset(r, kk), src ? src : base, src ? 4 : 0);
        }
      }
    }
  };
};

static_assert(!Im2colB::kKContig, "pixels are the contiguous dimension of the B tile");

void runConv2dCuda(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const Conv2dPlan p = planConv2d(call);
  if (out[0].numel() == 0) return;
  const ConvGeom& g = p.g;
  const GemmEpilogue ep = bindConvEpilogue(p, call, 2);
  if (wino_cuda::f2Selected(p.algorithm, winogradGeometry(g), conv2dCudaWinogradEnv())) {
    runConv2dWinogradCuda(p, call, ep, out[0].data<float>(), ctx);
    return;
  }
  cudaStream_t stream = static_cast<cudaStream_t>(ctx.stream);
  const int64_t Og = g.Og(), K = g.K(), P = g.P(), taps = g.kh * g.kw;
  if (g.N > INT_MAX || P > INT_MAX || K > INT_MAX || Og > INT_MAX || g.C * g.H * g.W > INT_MAX)
    fail(ErrorKind::Range, "conv2d: sizes beyond 2^31 elements per image are not supported on CUDA");
  // K == 0 (no input channels) runs no k-tile: the epilogue of zeros.
  // Tap-major weight (identity when the kernel is 1x1), permuted per call into
  // scratch: caching it kept a second copy of every conv weight on the device
  // (+274 MiB for an R50 on the H100) to save ~1 ms of a ~90 ms prediction.
  DeviceScratch wperm;
  const float* w = call.inputs[1].data<float>();
  if (taps > 1 && g.Cg() > 1) {
    wperm = deviceScratch(ctx, g.O * K);
    permuteConvWeight(w, wperm.get(), g.O, g.Cg(), taps, stream);
    w = wperm.get();
  }
  const float* x = call.inputs[0].data<float>();
  float* y = out[0].data<float>();
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    gemm_core::StridedOperand<true> a;
    a.ptr = w + grp * Og * K;
    a.ld = K;
    a.batchStride = 0;
    a.rows = static_cast<int>(Og);
    a.depth = static_cast<int>(K);
    a.vec16 = is_aligned(a.ptr, 16) && K % 4 == 0;
    Im2colB b;
    b.x = x + grp * g.Cg() * g.H * g.W;
    b.batchStride = g.C * g.H * g.W;
    b.s = convShapeOf(g, P, K);
    const auto epi = conv_detail::convEpilogue(ep, y, g.O, P, grp * Og, static_cast<int>(g.N));
    gemm_core::launch_gemm(a, b, epi, static_cast<int>(Og), static_cast<int>(P), static_cast<int>(K),
                           static_cast<int>(g.N), call.precision, GemmTile::Auto, stream);
  }
}

CudaRegistrar regConv("conv2d", runConv2dCuda);

CudaRegistrar regLinear("linear", [](const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const LinearPlan p = planLinear(call);
  if (out[0].numel() == 0) return;
  gemm(bindLinear(p, call, out[0]), call.precision, static_cast<cudaStream_t>(ctx.stream));
});

}  // namespace

void permuteConvWeight(const float* src, float* dst, int64_t O, int64_t Cg, int64_t taps, cudaStream_t stream) {
  const int64_t total = O * Cg * taps;
  if (total == 0) return;
  const int threads = 256;
  const int blocks = static_cast<int>(std::min<int64_t>((total + threads - 1) / threads, 4096));
  permute_weight_kernel<<<blocks, threads, 0, stream>>>(src, dst, total, static_cast<int>(Cg), static_cast<int>(taps));
  SOTR_CUDA_CHECK_LAUNCH();
}

DeviceScratch deviceScratch(ExecContext& ctx, int64_t floats) {
  DeviceScratch s;
  s.storage = ctx.backend->allocate(static_cast<size_t>(std::max<int64_t>(floats, 1)) * sizeof(float));
  return s;
}

}  // namespace cuda
}  // namespace sotr
