// The Winograd F(2x2, 3x3) input and output transforms, portable version:
// a chunk of up to 16 horizontally adjacent tiles at a time (loops of fixed
// length 16 or 32 over contiguous rows). conv2d_winograd.cpp runs these where
// neither AVX-512 nor AVX2 is available; conv2d_winograd_avx512.cpp has the intrinsics
// version of the same arithmetic and includes this header for the chunk and
// layout types only. Everything here is static (no linkage across units).
#pragma once
#include <cstdint>

#include "gemm/gemm_args.h"
#include "ops/conv2d.h"

namespace sotr {
namespace wino {

// Up to 16 tiles of one tile row: columns [j, j + cnt) of the task's GEMMs,
// image n, output rows oh0, oh0 + 1 and columns [ow0, ow0 + 2 * cnt).
struct Chunk {
  int64_t j, n, oh0, ow0;
  int cnt;
};

// Layout of a task's buffers: V[pos][c][j] at V + pos * vPlane + c * nb + j,
// M[pos][o][j] at M + pos * mPlane + o * nb + j (planes padded by a cache line
// so the 16 position streams do not share L1 sets).
struct TaskLayout {
  int64_t nb, vPlane, mPlane;
};

// The input patches of a chunk of 16 tiles of M x M outputs, lane l = tile:
// d[r][s][l] = x[ih0 + r][iw0 + M * l + s] for r, s < M + 2, 0 outside the
// image (and for lanes past cnt). One row read per r (a straight copy when the
// chunk lies inside the image), then the strided gather.
template <int M>
static inline void loadPatches(const float* xc, int64_t H, int64_t W, int64_t ih0, int64_t iw0, int cnt,
                               float (&d)[M + 2][M + 2][16]) {
  constexpr int A = M + 2, N = 16 * M + 4, full = 16 * M + 2;
  const int span = M * cnt + 2;  // input columns the chunk reads
  const bool inside = iw0 >= 0 && iw0 + span <= W;
  for (int r = 0; r < A; ++r) {
    const int64_t ih = ih0 + r;
    alignas(64) float row[N];
    if (ih < 0 || ih >= H) {
      for (int i = 0; i < N; ++i) row[i] = 0.f;
    } else if (inside && span == full) {
      const float* src = xc + ih * W + iw0;
      for (int i = 0; i < full; ++i) row[i] = src[i];
      for (int i = full; i < N; ++i) row[i] = 0.f;
    } else {
      const float* src = xc + ih * W;
      for (int i = 0; i < N; ++i) {
        const int64_t iw = iw0 + i;
        row[i] = (i < span && iw >= 0 && iw < W) ? src[iw] : 0.f;
      }
    }
    for (int s = 0; s < A; ++s)
      for (int l = 0; l < 16; ++l) d[r][s][l] = row[M * l + s];
  }
}

// The GEMM results of one output channel for a chunk: m[q][l] for Q
// positions, lanes past cnt zeroed.
template <int Q>
static inline void loadProducts(const float* mo, const TaskLayout& L, int cnt, float (&m)[Q][16]) {
  if (cnt == 16) {
    for (int q = 0; q < Q; ++q)
      for (int l = 0; l < 16; ++l) m[q][l] = mo[q * L.mPlane + l];
  } else {
    for (int q = 0; q < Q; ++q)
      for (int l = 0; l < 16; ++l) m[q][l] = l < cnt ? mo[q * L.mPlane + l] : 0.f;
  }
}

// The conv epilogue on one output row of a chunk (N columns, `width` of them
// inside the image) and its store: ((v + bias) * scale + shift) * alpha, then
// + beta * residual, then the activation, rounded step by step as
// native/gemm/gemm_args.h defines it.
template <int N>
static inline void storeRow(float (&row)[N], int width, const GemmEpilogue& ep, int64_t o, const float* res,
                            float* dst) {
  const float bias = ep.bias ? ep.bias[o] : 0.f;
  const float scale = ep.scale ? ep.scale[o] : 1.f;
  const float shift = ep.shift ? ep.shift[o] : 0.f;
  for (int i = 0; i < N; ++i) row[i] = ((row[i] + bias) * scale + shift) * ep.alpha;
  if (res)
    for (int i = 0; i < width; ++i) row[i] += ep.beta * res[i];
  switch (ep.act) {
    case Activation::Relu:
      for (int i = 0; i < N; ++i) row[i] = row[i] < 0.f ? 0.f : row[i];
      break;
    case Activation::LeakyRelu:
      for (int i = 0; i < N; ++i) row[i] = row[i] > 0.f ? row[i] : row[i] * ep.slope;
      break;
    case Activation::Sigmoid:
      for (int i = 0; i < width; ++i) row[i] = 1.f / (1.f + __builtin_expf(-row[i]));
      break;
    default: break;
  }
  if (width == N) {
    for (int i = 0; i < N; ++i) dst[i] = row[i];
  } else {
    for (int i = 0; i < width; ++i) dst[i] = row[i];
  }
}

// V = B^T d B per tile, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
static inline void inputChunk(const ConvGeom& g, const float* x, const Chunk& ch, const TaskLayout& L, float* V) {
  const int64_t C = g.C, H = g.H, W = g.W, HW = H * W;
  const int64_t ih0 = ch.oh0 - g.ph, iw0 = ch.ow0 - g.pw;
  for (int64_t c = 0; c < C; ++c) {
    const float* xc = x + (ch.n * C + c) * HW;
    alignas(64) float d[4][4][16];
    loadPatches<2>(xc, H, W, ih0, iw0, ch.cnt, d);
    alignas(64) float e[4][4][16];  // B^T d
    for (int s = 0; s < 4; ++s)
      for (int l = 0; l < 16; ++l) {
        e[0][s][l] = d[0][s][l] - d[2][s][l];
        e[1][s][l] = d[1][s][l] + d[2][s][l];
        e[2][s][l] = d[2][s][l] - d[1][s][l];
        e[3][s][l] = d[1][s][l] - d[3][s][l];
      }
    float* vc = V + c * L.nb + ch.j;
    for (int r = 0; r < 4; ++r) {
      float* v0 = vc + (r * 4 + 0) * L.vPlane;
      float* v1 = vc + (r * 4 + 1) * L.vPlane;
      float* v2 = vc + (r * 4 + 2) * L.vPlane;
      float* v3 = vc + (r * 4 + 3) * L.vPlane;
      if (ch.cnt == 16) {
        for (int l = 0; l < 16; ++l) {
          v0[l] = e[r][0][l] - e[r][2][l];
          v1[l] = e[r][1][l] + e[r][2][l];
          v2[l] = e[r][2][l] - e[r][1][l];
          v3[l] = e[r][1][l] - e[r][3][l];
        }
      } else {
        for (int l = 0; l < ch.cnt; ++l) {
          v0[l] = e[r][0][l] - e[r][2][l];
          v1[l] = e[r][1][l] + e[r][2][l];
          v2[l] = e[r][2][l] - e[r][1][l];
          v3[l] = e[r][1][l] - e[r][3][l];
        }
      }
    }
  }
}

// y = A^T M A per tile (A^T = [1 1 1 0; 0 1 -1 -1]), then the epilogue and
// the stores. The epilogue is the GEMM core's (gemm_args.h) written without
// branches: an absent bias / shift adds 0 and an absent scale multiplies by
// 1, which leaves every value unchanged (-0 may become +0).
static inline void outputChunk(const ConvGeom& g, const float* M, const Chunk& ch, const TaskLayout& L,
                               const GemmEpilogue& ep, float* out) {
  const int64_t O = g.O, Ho = g.Ho, Wo = g.Wo, P = Ho * Wo;
  const int64_t left = Wo - ch.ow0;
  const int width = static_cast<int>(left < 2 * ch.cnt ? left : 2 * ch.cnt);  // output columns written
  for (int64_t o = 0; o < O; ++o) {
    const float* mo = M + o * L.nb + ch.j;
    alignas(64) float m[16][16];
    loadProducts<16>(mo, L, ch.cnt, m);
    alignas(64) float a[2][4][16];
    for (int s = 0; s < 4; ++s)
      for (int l = 0; l < 16; ++l) {
        a[0][s][l] = m[s][l] + m[4 + s][l] + m[8 + s][l];
        a[1][s][l] = m[4 + s][l] - m[8 + s][l] - m[12 + s][l];
      }
    for (int r = 0; r < 2; ++r) {
      const int64_t oh = ch.oh0 + r;
      if (oh >= Ho) break;
      alignas(64) float row[32];
      for (int l = 0; l < 16; ++l) {
        row[2 * l] = a[r][0][l] + a[r][1][l] + a[r][2][l];
        row[2 * l + 1] = a[r][1][l] - a[r][2][l] - a[r][3][l];
      }
      const int64_t p0 = oh * Wo + ch.ow0;
      storeRow(row, width, ep, o, ep.residual ? ep.residual + ch.n * ep.strideR + o * ep.ldr + p0 : nullptr,
               out + (ch.n * O + o) * P + p0);
    }
  }
}

static inline void inputTransformAll(const ConvGeom& g, const float* x, const Chunk* chunks, int64_t nChunks,
                                     const TaskLayout& L, float* V) {
  for (int64_t k = 0; k < nChunks; ++k) inputChunk(g, x, chunks[k], L, V);
}

static inline void outputTransformAll(const ConvGeom& g, const float* M, const Chunk* chunks, int64_t nChunks,
                                      const TaskLayout& L, const GemmEpilogue& ep, float* out) {
  for (int64_t k = 0; k < nChunks; ++k) outputChunk(g, M, chunks[k], L, ep, out);
}

}  // namespace wino

namespace conv_detail {
// conv2d_winograd_avx512.cpp; false when that file was built without AVX-512.
bool winogradInputAvx512(const ConvGeom& g, const float* x, const wino::Chunk* chunks, int64_t nChunks,
                         const wino::TaskLayout& L, float* V);
bool winogradOutputAvx512(const ConvGeom& g, const float* M, const wino::Chunk* chunks, int64_t nChunks,
                          const wino::TaskLayout& L, const GemmEpilogue& ep, float* out);
}  // namespace conv_detail
}  // namespace sotr
