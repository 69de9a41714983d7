// CUDA side of conv2d (and the helpers deformConv2d shares): implicit GEMM on
// the GEMM core's mainloop (cuda/gemm.cuh).
//
//   C[n] (Og x P) = W_g (Og x K) * col[n][g] (K x P), per group g,
//
// with the depth K ordered tap-major, k = (i * kw + j) * Cg + c: a k-tile of
// consecutive k then mostly shares one tap (i, j), so the B loader computes a
// pixel's source row/column once per tile and each element costs one address
// add. The weight is permuted to [O][kh][kw][Cg] into a scratch buffer first
// (cheap: O*K elements). The epilogue is the core's GemmEpilogueOp, batched
// over the images (strideC = O*P).
#pragma once

#include <cuda_runtime.h>

#include <memory>

#include "cuda/common.cuh"
#include "gemm/gemm_args.h"
#include "ops/conv2d.h"
#include "ops/registry.h"

namespace sotr {
namespace cuda {

// dst[o][tap][c] = src[o][c][tap] for Og*groups = O rows, Cg channels, T taps.
void permuteConvWeight(const float* src, float* dst, int64_t O, int64_t Cg, int64_t taps, cudaStream_t stream);

// A device scratch buffer from the backend's caching allocator, released when
// this object dies (stream order keeps reuse safe: one stream per device).
struct DeviceScratch {
  std::shared_ptr<Storage> storage;
  float* get() const { return storage ? static_cast<float*>(storage->ptr) : nullptr; }
};
DeviceScratch deviceScratch(ExecContext& ctx, int64_t floats);

// Winograd F(2x2, 3x3) (cuda/conv2d_winograd.cu), opt-in: conv2d runs it for
// attr algorithm 'winograd2', and for 'auto' where winogradGeometry applies
// when SOTR_CUDA_CONV_WINOGRAD=1 (read once: conv2dCudaWinogradEnv); see
// wino_cuda::f2Selected. y: the output [N, O, Ho, Wo]; ep bound as for the
// implicit GEMM (bindConvEpilogue).
bool conv2dCudaWinogradEnv();
void runConv2dWinogradCuda(const Conv2dPlan& p, const OpCall& call, const GemmEpilogue& ep, float* y,
                           ExecContext& ctx);

}  // namespace cuda
}  // namespace sotr

#if defined(__CUDACC__)
#include "cuda/gemm.cuh"

namespace sotr {
namespace cuda {
namespace conv_detail {

// The GEMM core's epilogue for a conv output [N, O, P] restricted to the
// output channels [r0, r0 + rows) (convEpilogueValues, gemm_epilogue.h).
inline gemm_core::GemmEpilogueOp convEpilogue(const GemmEpilogue& ep, float* out, int64_t O, int64_t P, int64_t r0,
                                              int batch) {
  gemm_core::GemmEpilogueOp e;
  static_cast<gemm_core::GemmEpilogueValues&>(e) = convEpilogueValues(ep, out, O, P, r0, batch);
  return e;
}

// Geometry shared by the conv and deformable-conv B loaders.
struct ConvShape {
  int C = 0, H = 0, W = 0;  // input channels (all groups), size
  int Cg = 0;               // channels of this group
  int Wo = 0, P = 0;        // output width, pixels
  int K = 0;                // Cg * kh * kw
  int kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

// The im2col loaders' view of a conv geometry (P output pixels, K = Cg*kh*kw).
inline ConvShape convShapeOf(const ConvGeom& g, int64_t P, int64_t K) {
  ConvShape s;
  s.C = static_cast<int>(g.C);
  s.H = static_cast<int>(g.H);
  s.W = static_cast<int>(g.W);
  s.Cg = static_cast<int>(g.Cg());
  s.Wo = static_cast<int>(g.Wo);
  s.P = static_cast<int>(P);
  s.K = static_cast<int>(K);
  s.kw = static_cast<int>(g.kw);
  s.sh = static_cast<int>(g.sh);
  s.sw = static_cast<int>(g.sw);
  s.ph = static_cast<int>(g.ph);
  s.pw = static_cast<int>(g.pw);
  s.dh = static_cast<int>(g.dh);
  s.dw = static_cast<int>(g.dw);
  return s;
}

}  // namespace conv_detail
}  // namespace cuda
}  // namespace sotr
#endif  // __CUDACC__
