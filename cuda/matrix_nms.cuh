// CUDA Matrix NMS (ops/matrix_nms.h) on bit-packed masks.
//
// 1. (uint8 input) pack: one warp per 32-bit word, __ballot_sync of 32 pixels.
//    (no areas/boxes given) stats: one block per mask, popcount + box.
// 2. Intersections, on 32-bit words, 64 x 64 pair tiles of the
//    upper triangle (i <= j tiles only), split along the pixel axis (image
//    rows) so that 500 masks (36 tiles) still fill the GPU: grid.y = splits.
//    Each block first tests its pairs (i < j, same label, boxes overlap); only
//    the rows where some active pair's boxes overlap are read, and a tile with
//    no active pair returns at once. Counts are exact integers (atomicAdd of
//    per-split partial sums), stored transposed (column j contiguous).
//    Two kernels (attr `algorithm`): 'popcount' = AND + __popc, 16 x 16
//    threads with 4 x 4 pairs each; 'mma' = each word's bits expanded to bytes
//    in registers (4 bits -> 4 bytes with one multiply) and fed to
//    mma.sync m16n8k32 u8 x u8 -> s32, 4 warps of 32 x 32 pairs (sm_80+).
// 3. comp: one warp per column, comp_j = max IoU over earlier masks of its class.
// 4. decay: one warp per column, min over i of (comp_i^2 - IoU_ij^2), one exp
//    per column (gaussian) or min of (1 - IoU)/(1 - comp) (linear, rows with
//    comp = 1 skipped); float operations rounded as the CPU twin rounds them.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "../native/ops/matrix_nms.h"

namespace sotr {
namespace cuda {

struct MatrixNmsBuffers {
  const uint32_t* bits = nullptr;  // [n][H][wpr32], or null with dense given
  const uint8_t* dense = nullptr;  // [n][H][W] when the input is uint8
  uint32_t* packed = nullptr;      // scratch [n][H][wpr32] when dense
  const int32_t* labels = nullptr;
  const float* scores = nullptr;
  const int32_t* areas = nullptr;  // given, or null
  const int32_t* boxes = nullptr;
  int32_t* areaScratch = nullptr;  // [n] when not given
  int32_t* boxScratch = nullptr;   // [n][4]
  int32_t* interT = nullptr;       // scratch [n][n]: interT[j*n + i]
  float* comp = nullptr;           // scratch [n]
  float* decayed = nullptr;        // output [n]
  int32_t* inter = nullptr;        // optional output [n][n]
};

void matrix_nms(const MatrixNmsPlan& p, const MatrixNmsBuffers& b, cudaStream_t stream);

}  // namespace cuda
}  // namespace sotr
