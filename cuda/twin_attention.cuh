// CUDA side of twinAttention (see native/ops/twin_attention.h for the op):
//
//   1. projections: one GEMM on the shared core per stage, x^T (NCHW read
//      transposed) times the concatenated [colQ; colKV; rowQ; rowKV]^T,
//      token-major output QKV [B, H·W, 6C] (3C per direction in sequential mode);
//   2. twin_attention_core: a fused per-sequence kernel, one CTA per
//      (direction, image, sequence, head, block of query rows); the block's
//      whole score rows (QB x L) stay in shared memory, softmax in place, P·V,
//      the ReZero gate folded into the normalisation; both directions in one
//      launch in parallel mode; it also writes the combined output bias
//      (gCol·bCol + gRow·bRow) for step 3;
//   3. output projection: one GEMM, [WoutCol | WoutRow] · O^T back to NCHW with
//      the bias and the residual x in the GEMM epilogue.
// The core is fp32 SIMT for every precision (reduced precisions apply to the
// projections, ~90 % of the FLOPs); float4 shared-memory micro-tiles.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace sotr {
namespace cuda {

// One attention direction over B images. Element (image b, sequence s, token
// t, channel c) of Q is at q[b*inImg + s*inSeq + t*inTok + c], K at +C, V at
// +2C; the output at o[b*outImg + s*outSeq + t*outTok + c].
struct TwinAttnDir {
  const float* q = nullptr;
  float* o = nullptr;
  int64_t inImg = 0, inSeq = 0, inTok = 0;
  int64_t outImg = 0, outSeq = 0, outTok = 0;
  int L = 0, nseq = 0;
  int qb = 0, nqb = 0;  // query rows per CTA, query blocks per sequence (set by the launcher)
  float gate = 1.f;
  int64_t ctas = 0;     // set by the launcher
};

struct TwinAttnParams {
  TwinAttnDir dir[2];
  int ndir = 1;
  int B = 0, C = 0, heads = 1, d = 0;
  float scale = 1.f;
  int vec = 0;  // set by the launcher: 16-byte loads allowed
  // biasOut[c] = sum_k biasGate[k] * bias[k][c] (k < nbias), written by the launch.
  const float* bias[2] = {nullptr, nullptr};
  float biasGate[2] = {0.f, 0.f};
  int nbias = 0;
  float* biasOut = nullptr;
};

// Launches the attention core on `stream` (asynchronous). Throws
// std::invalid_argument when a sequence is too long for the device's shared
// memory, sotr::cuda::CudaError on launch failures.
void twin_attention_core(TwinAttnParams p, cudaStream_t stream);

}  // namespace cuda
}  // namespace sotr
