// CUDA dynamic convolution (ops/dynamic_conv.h) on the shared GEMM core:
//   logits[N, H*W] = kernels[N, C*k*k] x im2col(features)[C*k*k, H*W]
// with the A operand the kernels (row-major) and the B operand the feature map
// read in place (1x1) or through an implicit im2col loader (k x k).
//
// dynamic_conv_masks uses a fused epilogue on the staged C tile: one warp per
// tile row, lanes = 32 consecutive pixels; logit > x* (bitmask::logitThreshold,
// computed on the host) gives the bits by __ballot_sync, which are OR-ed into
// the mask rows (atomicOr: a 32-pixel chunk of the flattened pixel axis may
// straddle image rows / words); per tile row one set of atomics for the area,
// the soft sum (double) and the box. Float masks are never written.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "../native/gemm/gemm_args.h"
#include "../native/ops/dynamic_conv.h"

namespace sotr {
namespace cuda {

// Float output [N, H*W] (sigmoid or logits). Pointers in device memory.
void dynamic_conv(const DynamicConvPlan& p, const float* features, const float* kernels, float* out,
                  Precision precision, cudaStream_t stream);

// Fused masks: bits int32 words [N, H, 2*wpr] (zeroed here), areas [N],
// softSums [N], boxes [N, 4]; scratch: N doubles of device memory.
void dynamic_conv_masks(const DynamicConvPlan& p, const float* features, const float* kernels,
                        uint32_t* bits, int32_t* areas, float* softSums, int32_t* boxes,
                        double* softScratch, Precision precision, cudaStream_t stream);

}  // namespace cuda
}  // namespace sotr
