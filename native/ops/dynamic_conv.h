// Dynamic convolution (SOTR §9): per-instance kernels applied to one feature
// map, as a GEMM on the shared core.
//
// dynamic_conv       inputs: features float32 [C, H, W], kernels float32 [N, C]
//                    (1x1) or [N, C, k, k] (odd k, zero padding k/2).
//                    attrs: sigmoid (bool, default true).
//                    output: float32 [N, H, W].
// dynamic_conv_masks the fused post-processing form: binary masks
//                    sigmoid(logit) > threshold (attr, default 0.5, in [0, 1])
//                    without materializing float masks. Outputs (ops/bitmask.h):
//                    0 bits int32 [N, H, 2*wpr], 1 areas int32 [N],
//                    2 softSums float32 [N] (sum of sigmoid inside the mask),
//                    3 boxes int32 [N, 4] ([x0, y0, x1, y1), zeros when empty).
// The binarization uses bitmask::logitThreshold (exactly sigmoid32(x) > t).
#pragma once
#include <cstdint>

#include "ops/registry.h"
#include "runtime/cpu_features.h"

namespace sotr {

struct DynamicConvPlan {
  int64_t C = 0, H = 0, W = 0, N = 0, k = 1;
  bool sigmoid = true;     // dynamic_conv
  float threshold = 0.5f;  // dynamic_conv_masks
  float logitThr = 0.f;    // bitmask::logitThreshold(threshold)
  int64_t wpr = 0;         // 64-bit words per mask row
  int64_t K() const { return C * k * k; }
  int64_t pixels() const { return H * W; }
};

DynamicConvPlan planDynamicConv(const OpCall& call, bool masks);

namespace dynconv_detail {

// Post-processing of one chunk of logits: masks [0, count) x image rows
// [y0, y0 + rows). Logit of mask m, pixel (y0 + r, x) at logits[m*ld + r*W + x].
// Writes the bits of those rows and per-mask partial statistics.
struct ChunkArgs {
  const float* logits = nullptr;
  int64_t ld = 0;
  int64_t count = 0, rows = 0, W = 0, wpr = 0;
  float logitThr = 0.f;
  uint64_t* bits = nullptr;  // word 0 of row y0 of mask 0
  int64_t maskPitch = 0;     // words between masks
  int64_t* area = nullptr;   // [count]
  double* soft = nullptr;    // [count]
  int32_t* ymin = nullptr;   // [count] (-1: empty), ymax, xmin, xmax alike
  int32_t* ymax = nullptr;
  int32_t* xmin = nullptr;
  int32_t* xmax = nullptr;
  int64_t yOffset = 0;  // y0, added to the row numbers recorded
};
// Adds row r of mask m (area pixels set, their sigmoids summing to soft, the first and last set column) to the
// chunk's statistics; a row with nothing set (first < 0) adds nothing. static: each SIMD file keeps its own copy.
static inline void addRow(const ChunkArgs& a, int64_t m, int64_t r, int64_t area, float soft, int64_t first,
                          int64_t last) {
  if (first < 0) return;
  const int32_t y = static_cast<int32_t>(a.yOffset + r);
  a.area[m] += area;
  a.soft[m] += soft;
  if (a.ymin[m] < 0) a.ymin[m] = y;
  a.ymax[m] = y;
  if (first < a.xmin[m]) a.xmin[m] = static_cast<int32_t>(first);
  if (last > a.xmax[m]) a.xmax[m] = static_cast<int32_t>(last);
}
void maskChunkScalar(const ChunkArgs& a);
// nullptr when the AVX-512 / AVX2 source was compiled without its flags.
using MaskChunkFn = void (*)(const ChunkArgs& a);
MaskChunkFn maskChunkAvx512();
MaskChunkFn maskChunkAvx2();
// In-place float32 sigmoid of n values (vector exp, ~1 ulp); nullptr when absent.
using SigmoidFn = void (*)(float* p, int64_t n);
SigmoidFn sigmoidAvx512();
SigmoidFn sigmoidAvx2();
// The fastest of the above the active SIMD level allows (maskChunkScalar; nullptr: the scalar sigmoid).
MaskChunkFn maskChunkFor(SimdLevel level);
SigmoidFn sigmoidFor(SimdLevel level);

}  // namespace dynconv_detail
}  // namespace sotr
