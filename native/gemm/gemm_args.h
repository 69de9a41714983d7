// Arguments of the shared GEMM core, used by the CPU GEMM (native/gemm) and the
// CUDA GEMM (cuda/gemm.cu) alike. Plain C++, no CUDA or Node headers.
//
//   C[b] (M x N) = epilogue( op(A[b]) (M x K) * op(B[b]) (K x N) )
//
// All matrices row-major with leading dimensions; op(X) = X or X^T (transA:
// A is stored K x M; transB: B is stored N x K). Batch b advances each pointer
// by its stride (0 broadcasts one matrix to all batches).
//
// Epilogue, per element, with ch = row (channelAxis 0) or column (axis 1):
//   v = acc
//   v += bias[ch]                      (if bias)
//   v = v * scale[ch] + shift[ch]      (if scale / shift; each optional)
//   v = alpha * v
//   v += beta * residual[b][row, col]  (if residual; leading dim ldr)
//   v = act(v)                         (none / relu / leakyRelu(slope))
#pragma once
#include <cstdint>

namespace sotr {

enum class Activation : int { None = 0, Relu = 1, LeakyRelu = 2, Sigmoid = 3 };

// Arithmetic used inside the product. Inputs and outputs stay float32:
// reduced precisions round the operands when they are loaded (CUDA tensor
// cores); accumulation is always float32. The CPU ignores all but FP32.
enum class Precision : int { FP32 = 0, TF32 = 1, BF16 = 2, FP16 = 3 };

struct GemmEpilogue {
  const float* bias = nullptr;
  const float* scale = nullptr;
  const float* shift = nullptr;
  int channelAxis = 0;  // 0: per row of C, 1: per column of C
  float alpha = 1.0f;
  const float* residual = nullptr;
  int64_t ldr = 0;
  int64_t strideR = 0;
  float beta = 1.0f;
  Activation act = Activation::None;
  float slope = 0.01f;  // LeakyReLU negative slope
};

struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  const float* A = nullptr;
  int64_t lda = 0;
  bool transA = false;
  const float* B = nullptr;
  int64_t ldb = 0;
  bool transB = false;
  float* C = nullptr;
  int64_t ldc = 0;
  int64_t batch = 1;
  int64_t strideA = 0, strideB = 0, strideC = 0;
  GemmEpilogue ep;
};

// Applies the epilogue to one value (shared by CPU paths and tests).
inline float applyEpilogueScalar(const GemmEpilogue& ep, float acc, int64_t row, int64_t col,
                                 int64_t b) {
  const int64_t ch = ep.channelAxis == 0 ? row : col;
  float v = acc;
  if (ep.bias) v += ep.bias[ch];
  if (ep.scale) v *= ep.scale[ch];
  if (ep.shift) v += ep.shift[ch];
  v *= ep.alpha;
  if (ep.residual) v += ep.beta * ep.residual[b * ep.strideR + row * ep.ldr + col];
  switch (ep.act) {
    case Activation::Relu: v = v < 0.f ? 0.f : v; break;  // NaN and -0 pass, as torch.relu
    case Activation::LeakyRelu: v = v > 0.f ? v : v * ep.slope; break;
    case Activation::Sigmoid: v = 1.f / (1.f + __builtin_expf(-v)); break;
    default: break;
  }
  return v;
}

}  // namespace sotr
