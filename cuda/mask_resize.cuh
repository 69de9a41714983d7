// CUDA side of resizeMasks (see native/ops/mask_resize.h): bit-identical to
// the CPU twin. Four kernels on the op's stream, no synchronization:
//  1. the taps of both resizes per axis (index math in double, as
//     ops/interpolate.h linearTap, with explicitly rounded operations) and
//     each mask's accumulators;
//  2. per mask, the box of the source pixels above the plan's boxThr (atomics);
//  3. the fused resizes: each output pixel blends a 2x2 window of the middle
//     image, each middle value a 2x2 window of the soft mask, rounded as the
//     CPU rounds them (__fmaf_rn / __fmul_rn, or torch's channels-last blend
//     in double); only outputs inside the CPU's window are computed, the rest
//     are 0; one warp ballot per 32 columns gives a word (LSB = lowest
//     column); area and box by block reduction + atomics;
//  4. the [n, 5] stats from the accumulators.
#pragma once
#include "cuda/common.cuh"
