// Winograd F(2x2, 3x3) for conv2d on CUDA (cuda/conv2d_winograd.cu): the
// per-element bodies of its three kernels, written once as host + device
// functions so that the CPU test (tests/native/test_conv2d_winograd_cuda.cpp)
// runs the very same code without a GPU and checks it against the CPU
// Winograd's transforms (conv2d_winograd_transforms.h) and a float64 conv.
//
//   U[k][o][c] = (G g G^T)[k]              weight transform, float64 inside
//   V[k][c][j] = (B^T d B)[k]              input transform of tile t0 + j
//   M[k]       = U[k] (O x C) * V[k] (C x Tc)   16 GEMMs, one batched launch
//   y          = epilogue(A^T m A)         2x2 outputs per tile
//
// k = 4 * r + s (row r, column s of the 4x4 transformed tile), tiles t =
// (n * TH + th) * TW + tw of stride 2 (th, tw: tile row / column), the same
// matrices and the same order of operations as the CPU's F(2x2):
//   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//   A^T = [1 1 1 0; 0 1 -1 -1]
// V and M rows are ldT = roundUp(Tc, 4) floats long and U rows ldC =
// roundUp(C, 4), so the GEMM core's 16-byte loads apply to any C and T.
//
// Plain C++ (no CUDA headers): nvcc sees __host__ __device__ functions.
#pragma once
#include <cstdint>

#include "ops/conv2d.h"

#if defined(__CUDACC__)
#define SOTR_WINO_HD __host__ __device__ __forceinline__
#else
#define SOTR_WINO_HD inline
#endif

namespace sotr {
namespace wino_cuda {

// The geometry the kernels need (3x3, stride 1, dilation 1, groups 1).
struct F2Geom {
  int64_t N = 0, C = 0, H = 0, W = 0, O = 0;
  int64_t ph = 0, pw = 0, Ho = 0, Wo = 0;
  int64_t TH = 0, TW = 0;  // tile rows / columns per image: ceil(Ho / 2), ceil(Wo / 2)
  int64_t ldC = 0;         // U row length: roundUp(C, 4)
};

inline F2Geom f2Geom(const ConvGeom& g) {
  F2Geom f;
  f.N = g.N;
  f.C = g.C;
  f.H = g.H;
  f.W = g.W;
  f.O = g.O;
  f.ph = g.ph;
  f.pw = g.pw;
  f.Ho = g.Ho;
  f.Wo = g.Wo;
  f.TH = (g.Ho + 1) / 2;
  f.TW = (g.Wo + 1) / 2;
  f.ldC = (g.C + 3) / 4 * 4;
  return f;
}

inline int64_t f2Tiles(const F2Geom& f) { return f.N * f.TH * f.TW; }
inline int64_t f2Ld(int64_t tiles) { return (tiles + 3) / 4 * 4; }

// Tiles per pass: all of them unless V (16 x C x ldT) or M (16 x O x ldT)
// would pass capFloats; then passes of a multiple of 4 tiles (at least 4).
inline int64_t f2TilesPerPass(const F2Geom& f, int64_t capFloats) {
  const int64_t T = f2Tiles(f);
  const int64_t rows = 16 * (f.C > f.O ? f.C : f.O);
  if (rows * f2Ld(T) <= capFloats) return T;
  int64_t tc = capFloats / rows / 4 * 4;
  return tc < 4 ? 4 : tc;
}

// Whether conv2d on CUDA runs this path: attr algorithm 'winograd2', or
// 'auto' with SOTR_CUDA_CONV_WINOGRAD=1 where winogradGeometry applies
// ('winograd2' was already checked against it by planConv2d). Everything else
// ('direct', 'auto' without the variable, 'winograd', 'winograd4') keeps the
// implicit GEMM.
inline bool f2Selected(Conv2dPlan::Algorithm a, bool geometryOk, bool envOn) {
  using A = Conv2dPlan::Algorithm;
  return a == A::Winograd2 || (a == A::Auto && envOn && geometryOk);
}

// U = G g G^T of one 3x3 filter g (row-major), in float64 with the
// expressions of makeWinoWeights (conv2d_winograd.cpp), rounded once.
SOTR_WINO_HD void weightTile(const float* g, float (&u)[16]) {
  const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  double t[4][3];  // G g
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      u[i * 4 + j] = static_cast<float>(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
}

// V = B^T d B of one 4x4 input patch, as inputChunk computes it: rows first
// (e = B^T d), then columns.
SOTR_WINO_HD void inputTile(const float (&d)[4][4], float (&v)[16]) {
  float e[4][4];
  for (int s = 0; s < 4; ++s) {
    e[0][s] = d[0][s] - d[2][s];
    e[1][s] = d[1][s] + d[2][s];
    e[2][s] = d[2][s] - d[1][s];
    e[3][s] = d[1][s] - d[3][s];
  }
  for (int r = 0; r < 4; ++r) {
    v[r * 4 + 0] = e[r][0] - e[r][2];
    v[r * 4 + 1] = e[r][1] + e[r][2];
    v[r * 4 + 2] = e[r][2] - e[r][1];
    v[r * 4 + 3] = e[r][1] - e[r][3];
  }
}

// y = A^T m A of one tile's 16 products, as outputChunk computes it.
SOTR_WINO_HD void outputTile(const float (&m)[16], float (&y)[2][2]) {
  float a[2][4];
  for (int s = 0; s < 4; ++s) {
    a[0][s] = m[s] + m[4 + s] + m[8 + s];
    a[1][s] = m[4 + s] - m[8 + s] - m[12 + s];
  }
  for (int r = 0; r < 2; ++r) {
    y[r][0] = a[r][0] + a[r][1] + a[r][2];
    y[r][1] = a[r][1] - a[r][2] - a[r][3];
  }
}

// Weight kernel body: filter (o, c) of w [O, C, 3, 3] into U[k][o][c]
// (U: 16 x O x ldC).
SOTR_WINO_HD void weightElement(const F2Geom& f, const float* w, float* U, int64_t o, int64_t c) {
  float u[16];
  weightTile(w + (o * f.C + c) * 9, u);
  const int64_t plane = f.O * f.ldC;
  for (int k = 0; k < 16; ++k) U[k * plane + o * f.ldC + c] = u[k];
}

// Input kernel body: channel c of tile t0 + j into V[k][c][j] (V: 16 x C x
// ldT). The patch starts at (2 th - ph, 2 tw - pw); zeros outside the image.
SOTR_WINO_HD void inputElement(const F2Geom& f, const float* x, float* V, int64_t t0, int64_t ldT, int64_t c,
                               int64_t j) {
  const int64_t t = t0 + j, per = f.TH * f.TW;
  const int64_t n = t / per, rem = t - n * per, th = rem / f.TW, tw = rem - th * f.TW;
  const int64_t ih0 = 2 * th - f.ph, iw0 = 2 * tw - f.pw;
  const float* xc = x + (n * f.C + c) * f.H * f.W;
  float d[4][4];
  for (int r = 0; r < 4; ++r) {
    const int64_t ih = ih0 + r;
    const bool rowIn = ih >= 0 && ih < f.H;
    for (int s = 0; s < 4; ++s) {
      const int64_t iw = iw0 + s;
      d[r][s] = rowIn && iw >= 0 && iw < f.W ? xc[ih * f.W + iw] : 0.f;
    }
  }
  float v[16];
  inputTile(d, v);
  const int64_t plane = f.C * ldT;
  for (int k = 0; k < 16; ++k) V[k * plane + c * ldT + j] = v[k];
}

// Output kernel body: output channel o of tile t0 + j from M[k][o][j] (M: 16
// x O x ldT), then the conv epilogue per output element inside the map. Epi
// has the fields of the GEMM core's GemmEpilogueOp that a conv output [N, O,
// P] binds (C, ldc, strideC, residual, ldr, strideR) and its
// apply(v, channel, residual): the implicit GEMM's epilogue, same order.
#if defined(__CUDACC__)
#pragma nv_exec_check_disable
#endif
template <class Epi>
SOTR_WINO_HD void outputElement(const F2Geom& f, const float* M, int64_t t0, int64_t ldT, int64_t o, int64_t j,
                                const Epi& epi) {
  const int64_t t = t0 + j, per = f.TH * f.TW;
  const int64_t n = t / per, rem = t - n * per, th = rem / f.TW, tw = rem - th * f.TW;
  const int64_t plane = f.O * ldT;
  float m[16];
  for (int k = 0; k < 16; ++k) m[k] = M[k * plane + o * ldT + j];
  float y[2][2];
  outputTile(m, y);
  float* Cn = epi.C + n * epi.strideC + o * epi.ldc;
  const float* Rn = epi.residual ? epi.residual + n * epi.strideR + o * epi.ldr : nullptr;
  for (int r = 0; r < 2; ++r) {
    const int64_t oh = 2 * th + r;
    if (oh >= f.Ho) break;
    for (int s = 0; s < 2; ++s) {
      const int64_t ow = 2 * tw + s;
      if (ow >= f.Wo) break;
      const int64_t p = oh * f.Wo + ow;
      Cn[p] = epi.apply(y[r][s], static_cast<int>(o), Rn ? Rn[p] : 0.f);
    }
  }
}

}  // namespace wino_cuda
}  // namespace sotr
