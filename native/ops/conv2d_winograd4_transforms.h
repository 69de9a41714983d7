// The Winograd F(4x4, 3x3) input and output transforms, portable version
// (conv2d_winograd4_avx512.cpp has the intrinsics version): a chunk of up to
// 16 horizontally adjacent 4x4 output tiles (6x6 input patches) at a time,
// same chunk and buffer layout as F(2x2, 3x3) (conv2d_winograd_transforms.h).
//
// Interpolation points 0, -1, 1, 1/2, -2 and infinity instead of the usual
// 0, +-1, +-2: in a float32 simulation of the whole pipeline (C = 256, uniform
// data) they give 2.5x less error (NMSE 4.0e-12 vs 1.0e-11; F(2x2): 2.3e-13).
// Every entry of B^T and A^T is a small dyadic number (exact in float32); the
// thirds and fifteenths are in G, applied to the weights in double.
//
//   B^T = [1 -3/2  -2  3/2    1  0]     A^T = [1  1  1   1    1  0]
//         [0    1 -5/2  1/2    1  0]           [0 -1  1 1/2   -2  0]
//         [0   -1  1/2  5/2    1  0]           [0  1  1 1/4    4  0]
//         [0   -2   -1    2    1  0]           [0 -1  1 1/8   -8  1]
//         [0  1/2   -1 -1/2    1  0]
//         [0    1 -3/2   -2  3/2  1]     G = [1 0 0; -1/3 1/3 -1/3; 1/3 1/3 1/3;
//                                              -16/15 -8/15 -4/15; 1/15 -2/15 4/15; 0 0 1]
//
// bt6 / at6 are the 1-D transforms (16 and 12 operations); the AVX-512 file
// evaluates the same expressions with FMAs (its input transform applies bt6
// to the rows first, this one to the columns first: both give B^T d B).
#pragma once
#include <cstdint>

#include "ops/conv2d_winograd.h"
#include "ops/conv2d_winograd_transforms.h"

namespace sotr {
namespace wino4 {

using wino::Chunk;
using wino::TaskLayout;

// t = B^T d (one column of 6).
static inline void bt6(float d0, float d1, float d2, float d3, float d4, float d5, float* t) {
  const float u = d3 - d1, v = d4 - d2;
  t[0] = (d0 + d4 - 2.f * d2) + 1.5f * u;
  t[1] = (d1 + d4 - 2.5f * d2) + 0.5f * d3;
  t[2] = (d4 - d1 + 0.5f * d2) + 2.5f * d3;
  t[3] = v + 2.f * u;
  t[4] = v - 0.5f * u;
  t[5] = (d1 + d5 - 2.f * d3) + 1.5f * v;
}

// y = A^T m (one column of 6 -> 4).
static inline void at6(float m0, float m1, float m2, float m3, float m4, float m5, float* y) {
  const float s = m1 + m2, dd = m2 - m1;
  y[0] = m0 + s + (m3 + m4);
  y[1] = (dd - 2.f * m4) + 0.5f * m3;
  y[2] = (s + 4.f * m4) + 0.25f * m3;
  y[3] = ((dd + m5) - 8.f * m4) + 0.125f * m3;
}

// V = B^T d B per tile: 36 positions, V[r * 6 + s].
static inline void inputChunk(const ConvGeom& g, const float* x, const Chunk& ch, const TaskLayout& L, float* V) {
  const int64_t C = g.C, H = g.H, W = g.W, HW = H * W;
  const int64_t ih0 = ch.oh0 - g.ph, iw0 = ch.ow0 - g.pw;
  for (int64_t c = 0; c < C; ++c) {
    const float* xc = x + (ch.n * C + c) * HW;
    alignas(64) float d[6][6][16];
    wino::loadPatches<4>(xc, H, W, ih0, iw0, ch.cnt, d);
    alignas(64) float e[6][6][16];  // B^T d
    for (int s = 0; s < 6; ++s)
      for (int l = 0; l < 16; ++l) {
        float t[6];
        bt6(d[0][s][l], d[1][s][l], d[2][s][l], d[3][s][l], d[4][s][l], d[5][s][l], t);
        for (int r = 0; r < 6; ++r) e[r][s][l] = t[r];
      }
    float* vc = V + c * L.nb + ch.j;
    for (int r = 0; r < 6; ++r) {
      alignas(64) float v[6][16];
      for (int l = 0; l < 16; ++l) {
        float t[6];
        bt6(e[r][0][l], e[r][1][l], e[r][2][l], e[r][3][l], e[r][4][l], e[r][5][l], t);
        for (int s = 0; s < 6; ++s) v[s][l] = t[s];
      }
      for (int s = 0; s < 6; ++s) {
        float* dst = vc + (r * 6 + s) * L.vPlane;
        if (ch.cnt == 16) {
          for (int l = 0; l < 16; ++l) dst[l] = v[s][l];
        } else {
          for (int l = 0; l < ch.cnt; ++l) dst[l] = v[s][l];
        }
      }
    }
  }
}

// y = A^T M A per tile, then the epilogue (as wino::outputChunk) and the stores.
static inline void outputChunk(const ConvGeom& g, const float* M, const Chunk& ch, const TaskLayout& L,
                               const GemmEpilogue& ep, float* out) {
  const int64_t O = g.O, Ho = g.Ho, Wo = g.Wo, P = Ho * Wo;
  const int64_t left = Wo - ch.ow0;
  const int width = static_cast<int>(left < 4 * ch.cnt ? left : 4 * ch.cnt);  // output columns written
  for (int64_t o = 0; o < O; ++o) {
    const float* mo = M + o * L.nb + ch.j;
    alignas(64) float m[36][16];
    wino::loadProducts<36>(mo, L, ch.cnt, m);
    alignas(64) float a[4][6][16];  // A^T M
    for (int s = 0; s < 6; ++s)
      for (int l = 0; l < 16; ++l) {
        float y[4];
        at6(m[s][l], m[6 + s][l], m[12 + s][l], m[18 + s][l], m[24 + s][l], m[30 + s][l], y);
        for (int r = 0; r < 4; ++r) a[r][s][l] = y[r];
      }
    for (int r = 0; r < 4; ++r) {
      const int64_t oh = ch.oh0 + r;
      if (oh >= Ho) break;
      alignas(64) float row[64];
      for (int l = 0; l < 16; ++l)
        at6(a[r][0][l], a[r][1][l], a[r][2][l], a[r][3][l], a[r][4][l], a[r][5][l], row + 4 * l);
      const int64_t p0 = oh * Wo + ch.ow0;
      wino::storeRow(row, width, ep, o, ep.residual ? ep.residual + ch.n * ep.strideR + o * ep.ldr + p0 : nullptr,
                     out + (ch.n * O + o) * P + p0);
    }
  }
}

static inline void inputTransformAll(const ConvGeom& g, const float* x, const Chunk* chunks, int64_t nChunks,
                                     const TaskLayout& L, float* V) {
  for (int64_t k = 0; k < nChunks; ++k) wino4::inputChunk(g, x, chunks[k], L, V);
}

static inline void outputTransformAll(const ConvGeom& g, const float* M, const Chunk* chunks, int64_t nChunks,
                                      const TaskLayout& L, const GemmEpilogue& ep, float* out) {
  for (int64_t k = 0; k < nChunks; ++k) wino4::outputChunk(g, M, chunks[k], L, ep, out);
}

}  // namespace wino4

namespace conv_detail {
// conv2d_winograd4_avx512.cpp; false when that file was built without AVX-512.
bool winograd4InputAvx512(const ConvGeom& g, const float* x, const wino::Chunk* chunks, int64_t nChunks,
                          const wino::TaskLayout& L, float* V);
bool winograd4OutputAvx512(const ConvGeom& g, const float* M, const wino::Chunk* chunks, int64_t nChunks,
                           const wino::TaskLayout& L, const GemmEpilogue& ep, float* out);
// conv2d_winograd_avx2.cpp: both tiles' transforms with AVX2 + FMA intrinsics (the AVX-512 files'
// arithmetic on 8 lanes); false when that file was built without those flags.
bool winogradInputAvx2(WinogradTile t, const ConvGeom& g, const float* x, const wino::Chunk* chunks, int64_t nChunks,
                       const wino::TaskLayout& L, float* V);
bool winogradOutputAvx2(WinogradTile t, const ConvGeom& g, const float* M, const wino::Chunk* chunks, int64_t nChunks,
                        const wino::TaskLayout& L, const GemmEpilogue& ep, float* out);
}  // namespace conv_detail
}  // namespace sotr
