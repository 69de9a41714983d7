// CUDA side of deformConv2d (see native/ops/deform_conv2d.h): implicit GEMM on
// the GEMM core, like conv2d (tap-major depth, permuted weight), with a B
// loader that takes bilinear samples instead of copying: a thread keeps one
// output pixel, computes its sample (4 corners, weights, modulation) once per
// k-tile and deformable group, and stores (w1*v1 + w2*v2 + w3*v3 + w4*v4) * m
// for each channel of the tile (rounded as the CPU twin rounds).
// Precisions: fp32 runs the strict SIMT kernels; tf32 / bf16 / fp16 all run
// the TF32 tensor-core kernels (fewer kernels to compile; at least as precise).
#pragma once
#include "cuda/common.cuh"
