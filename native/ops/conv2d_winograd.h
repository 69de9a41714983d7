// Winograd F(2x2, 3x3) for conv2d on the CPU: 3x3, stride 1, dilation 1,
// groups 1 (every 3x3 conv of SOTR's backbone, FPN, transformer and mask
// branch). Each 2x2 output tile costs 16 products per (in, out) channel pair
// instead of 36, so the GEMM work drops 2.25x:
//
//   U[pos] = (G g G^T)[pos]            weights, [16][O][C], made once (cached)
//   V[pos] = (B^T d B)[pos]            4x4 input patch per tile, [16][C][tiles]
//   M[pos] = U[pos] * V[pos]           16 GEMMs on the shared GEMM core
//   y      = A^T M A                   2x2 outputs per tile, then the epilogue
//
// (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016.)
//
// F(4x4, 3x3) runs the same way on 6x6 input patches: 36 GEMMs, 36 products
// per 16 outputs (2.25 per output instead of 4 for F(2x2)), 1.78x less GEMM
// work; transforms in conv2d_winograd4_transforms.h / _avx512.cpp.
// The transforms add a few float32 roundings: measured NMSE against float64
// direct convolution stays around 1e-14 on the SOTR shapes (direct: ~1e-15),
// far inside the 1e-10 bound of the op tests. conv2d's attr algorithm:
// 'direct' (or SOTR_CONV_WINOGRAD=0 for every call) runs im2col + GEMM instead.
#pragma once
#include <cstdint>

#include "gemm/gemm_args.h"
#include "ops/conv2d.h"

namespace sotr {

class ThreadPool;

enum class WinogradTile { F2, F4 };  // F(2x2, 3x3), F(4x4, 3x3)

// The geometries the Winograd path handles: 3x3, stride 1, dilation 1,
// groups 1, at least 16 input and output channels, output at least 2x2.
bool winogradGeometry(const ConvGeom& g);
// conv2d's algorithm 'auto' picks Winograd where it applies unless
// SOTR_CONV_WINOGRAD=0.
bool winogradEnabled();
// F(4x4) may be picked by 'auto' / 'winograd' unless SOTR_CONV_WINOGRAD4=0.
bool winograd4Enabled();
// The tile 'auto' / 'winograd' runs for a geometry winogradGeometry accepts
// (weightKey: the weight, whose transformed copy may already be cached).
WinogradTile winogradPick(const ConvGeom& g, const Tensor& weightKey, Precision precision);

// Same contract as convGemmCpu for the geometries winogradGeometry accepts:
// x [N, C, H, W], weight [O, C, 3, 3] (weightKey keys the transformed-weight
// cache), ep bound with rows = output channels, out [N, O, Ho, Wo].
// precision: the op's; BF16 runs the transformed-domain GEMMs in bfloat16
// where the CPU can (cpuGemmPrecision), with the weights cached that way.
void convWinogradCpu(const ConvGeom& g, const float* x, const Tensor& weightKey, const float* weight,
                     const GemmEpilogue& ep, float* out, ThreadPool* pool, WinogradTile tile, Precision precision);

}  // namespace sotr
