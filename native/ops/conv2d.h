// conv2d: NCHW convolution as a GEMM per (image, group):
//
//   out[n][g*Og + o][p] = epilogue( sum_k W[g*Og + o][k] * col[n][g][k][p] )
//
// with k = (c * kh + i) * kw + j over the group's Cg input channels and the
// kh x kw taps, p = oh * Wo + ow the output pixel, and col the (implicit)
// im2col matrix. The epilogue is the shared GEMM core's (gemm_args.h) with the
// output channel as the row:
//   out = act(alpha * ((acc + bias) * scale + shift) + beta * residual)
// (FrozenBN folded at load into scale/shift; alpha/beta give the ReZero
// gates of the transformer's conv branches: x + g * FF(x) in one call).
//
// The CPU engine (convGemmCpu) is shared with deformConv2d: it takes a column
// builder that fills blocks of col, so the column buffer stays cache-sized.
// The weight is packed once per weight tensor (see the cache below).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "gemm/gemm_args.h"
#include "ops/registry.h"
#include "runtime/cpu_features.h"

namespace sotr {

struct ConvGeom {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input
  int64_t O = 0, kh = 1, kw = 1;       // weight [O, C/groups, kh, kw]
  int64_t groups = 1;
  int64_t sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  int64_t Ho = 0, Wo = 0;
  int64_t Cg() const { return C / groups; }
  int64_t Og() const { return O / groups; }
  int64_t K() const { return Cg() * kh * kw; }  // GEMM depth
  int64_t P() const { return Ho * Wo; }        // GEMM columns per image
  bool pointwise() const {                     // 1x1, stride 1, no padding: col is x itself
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
  }
};

// Input slots of conv2d: x, weight, bias, scale, shift, residual.
struct Conv2dPlan {
  ConvGeom g;
  GemmEpilogue ep;  // pointers null; act, slope, flags of presence below
  bool hasBias = false, hasScale = false, hasShift = false, hasResidual = false;
  Shape outShape;
  // attr "algorithm" (CPU): auto (Winograd where it applies), direct
  // (im2col + GEMM), winograd (the better Winograd tile; an error where it
  // does not apply), winograd2 / winograd4 (F(2x2, 3x3) / F(4x4, 3x3)).
  enum class Algorithm { Auto, Direct, Winograd, Winograd2, Winograd4 } algorithm = Algorithm::Auto;
};

// Reads stride / padding / dilation ("number or [h, w]") and groups, checks
// the weight against x (shapes named in errors), and the output size.
void parseConvAttrs(const std::string& op, const Attrs& attrs, ConvGeom& g);
void finishConvGeom(const std::string& op, ConvGeom& g);
// Checks x [N, C, H, W] and weight [O, C/groups, kh, kw] (float32), parses
// stride/padding/dilation/groups and fills g (output size included).
void planConvGeom(const std::string& op, const Attrs& attrs, const Tensor& x, const Tensor& w, ConvGeom& g);
// Checks the optional per-output-channel vectors and the residual [N, O, Ho, Wo].
void checkConvEpilogue(const std::string& op, const OpCall& call, int biasSlot, const ConvGeom& g,
                       Conv2dPlan& p);
Conv2dPlan planConv2d(const OpCall& call);

// Epilogue with pointers bound for the given call (slots as in checkConvEpilogue).
GemmEpilogue bindConvEpilogue(const Conv2dPlan& p, const OpCall& call, int biasSlot);

// Fills col rows k in [0, K) for output pixels [p0, p0 + ncols) of image n,
// group grp: col[k * ld + j] (j < ncols).
using ColumnFn = std::function<void(int64_t n, int64_t grp, int64_t p0, int64_t ncols, float* col, int64_t ld)>;

// The CPU engine. weight: [O, K] rows (group g's block starts at row g*Og);
// weightKey: the weight tensor (its storage keys the packed-weight cache; an
// undefined tensor disables caching). columns == nullptr requires
// g.pointwise() (x is read in place). ep holds bound pointers with rows =
// output channels (bias etc. indexed by global channel; residual [N, O, P]).
// precision: the op's (BF16: bfloat16 products where the CPU can,
// cpuGemmPrecision; the packed weights are cached per precision).
void convGemmCpu(const ConvGeom& g, const float* x, const Tensor& weightKey, const float* weight,
                 const GemmEpilogue& ep, float* out, const ColumnFn* columns, ThreadPool* pool, Precision precision);

// Weight rows per GEMM call of the conv engines (8 microkernel panels: the
// GEMM core then reads B in place instead of packing it).
int64_t convBlockRows(SimdLevel level);

// Plain im2col for conv2d (dispatches to the AVX-512 / AVX2 variant when active).
void im2colBlock(const ConvGeom& g, const float* x, int64_t n, int64_t grp, int64_t p0, int64_t ncols,
                 float* col, int64_t ld);
namespace conv_detail {
// conv2d_avx512.cpp; false when that file was built without AVX-512.
bool im2colBlockAvx512(const ConvGeom& g, const float* x, int64_t n, int64_t grp, int64_t p0, int64_t ncols,
                       float* col, int64_t ld);
// conv2d_avx2.cpp; false when that file was built without AVX2.
bool im2colBlockAvx2(const ConvGeom& g, const float* x, int64_t n, int64_t grp, int64_t p0, int64_t ncols,
                     float* col, int64_t ld);
}  // namespace conv_detail

// Packed weights are kept in the process-wide weight cache
// (runtime/weight_cache.h), keyed by the weight tensor's storage.

}  // namespace sotr
