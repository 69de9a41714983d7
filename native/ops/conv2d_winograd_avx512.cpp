// The Winograd transforms with AVX-512 intrinsics: one zmm lane per tile of
// a chunk (16 horizontally adjacent tiles). A tile row's 4 input columns are
// taken from 4 masked row loads by even/odd permutes; the 2 output columns of
// each tile are interleaved back into 32 contiguous floats. Same arithmetic,
// in the same order, as the portable code in conv2d_winograd_transforms.h.
// Compiled with -mavx512f/bw/vl/dq; reached only through activeSimdLevel().
#include "ops/conv2d_winograd_transforms.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512DQ__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#include "ops/avx512_lanes.h"
#include "ops/conv2d_winograd_epilogue_avx512.h"

namespace sotr {
namespace conv_detail {

namespace {

using avx512::firstLanes;
using avx512::laneRange;

void inputChunkAvx512(const ConvGeom& g, const float* x, const wino::Chunk& ch, const wino::TaskLayout& L,
                      float* V) {
  const int64_t C = g.C, H = g.H, W = g.W, HW = H * W;
  const int64_t ih0 = ch.oh0 - g.ph, iw0 = ch.ow0 - g.pw;
  const int64_t span = 2 * ch.cnt + 2;
  // Lanes of the loads at row offsets 0, 16 (columns s = 0, 1) and 2, 18 (s = 2, 3).
  __mmask16 lm[4];
  const int64_t offs[4] = {0, 16, 2, 18};
  for (int q = 0; q < 4; ++q) {
    const int64_t o = offs[q];
    const int64_t lo = -(iw0 + o), hi = (W - (iw0 + o)) < (span - o) ? (W - (iw0 + o)) : (span - o);
    lm[q] = laneRange(lo, hi);
  }
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __mmask16 store = firstLanes(ch.cnt);
  for (int64_t c = 0; c < C; ++c) {
    const float* xc = x + (ch.n * C + c) * HW;
    __m512 d[4][4];
    for (int r = 0; r < 4; ++r) {
      const int64_t ih = ih0 + r;
      if (ih < 0 || ih >= H) {
        for (int s = 0; s < 4; ++s) d[r][s] = _mm512_setzero_ps();
        continue;
      }
      const float* src = xc + ih * W + iw0;
      const __m512 a0 = _mm512_maskz_loadu_ps(lm[0], src);
      const __m512 a1 = _mm512_maskz_loadu_ps(lm[1], src + 16);
      const __m512 b0 = _mm512_maskz_loadu_ps(lm[2], src + 2);
      const __m512 b1 = _mm512_maskz_loadu_ps(lm[3], src + 18);
      d[r][0] = _mm512_permutex2var_ps(a0, even, a1);
      d[r][1] = _mm512_permutex2var_ps(a0, odd, a1);
      d[r][2] = _mm512_permutex2var_ps(b0, even, b1);
      d[r][3] = _mm512_permutex2var_ps(b0, odd, b1);
    }
    __m512 e[4][4];  // B^T d
    for (int s = 0; s < 4; ++s) {
      e[0][s] = _mm512_sub_ps(d[0][s], d[2][s]);
      e[1][s] = _mm512_add_ps(d[1][s], d[2][s]);
      e[2][s] = _mm512_sub_ps(d[2][s], d[1][s]);
      e[3][s] = _mm512_sub_ps(d[1][s], d[3][s]);
    }
    float* vc = V + c * L.nb + ch.j;
    for (int r = 0; r < 4; ++r) {
      float* v = vc + (r * 4) * L.vPlane;
      _mm512_mask_storeu_ps(v, store, _mm512_sub_ps(e[r][0], e[r][2]));
      _mm512_mask_storeu_ps(v + L.vPlane, store, _mm512_add_ps(e[r][1], e[r][2]));
      _mm512_mask_storeu_ps(v + 2 * L.vPlane, store, _mm512_sub_ps(e[r][2], e[r][1]));
      _mm512_mask_storeu_ps(v + 3 * L.vPlane, store, _mm512_sub_ps(e[r][1], e[r][3]));
    }
  }
}

void outputChunkAvx512(const ConvGeom& g, const float* M, const wino::Chunk& ch, const wino::TaskLayout& L,
                       const GemmEpilogue& ep, float* out) {
  const int64_t O = g.O, Ho = g.Ho, Wo = g.Wo, P = Ho * Wo;
  const int64_t left = Wo - ch.ow0;
  const int width = static_cast<int>(left < 2 * ch.cnt ? left : 2 * ch.cnt);
  const __mmask16 load = firstLanes(ch.cnt);
  const __mmask16 lo = laneRange(0, width), hi = laneRange(0, width - 16);
  // Interleave y0 (column 0 of each tile) and y1 (column 1): lanes 0..15 and 16..31 of the row.
  const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  EpilogueLanes epi(ep);
  for (int64_t o = 0; o < O; ++o) {
    const float* mo = M + o * L.nb + ch.j;
    __m512 m[16];
    for (int q = 0; q < 16; ++q) m[q] = _mm512_maskz_loadu_ps(load, mo + q * L.mPlane);
    __m512 a[2][4];  // A^T M, A^T = [1 1 1 0; 0 1 -1 -1]
    for (int s = 0; s < 4; ++s) {
      a[0][s] = _mm512_add_ps(_mm512_add_ps(m[s], m[4 + s]), m[8 + s]);
      a[1][s] = _mm512_sub_ps(_mm512_sub_ps(m[4 + s], m[8 + s]), m[12 + s]);
    }
    epi.setChannel(o);
    for (int r = 0; r < 2; ++r) {
      const int64_t oh = ch.oh0 + r;
      if (oh >= Ho) break;
      const __m512 y0 = _mm512_add_ps(_mm512_add_ps(a[r][0], a[r][1]), a[r][2]);
      const __m512 y1 = _mm512_sub_ps(_mm512_sub_ps(a[r][1], a[r][2]), a[r][3]);
      const __m512 v[2] = {_mm512_permutex2var_ps(y0, ilo, y1), _mm512_permutex2var_ps(y0, ihi, y1)};
      const __mmask16 mk[2] = {lo, hi};
      epi.storeRow(out, ch.n, o, oh, ch.ow0, O, Wo, P, mk, v);
    }
  }
}

}  // namespace

bool winogradInputAvx512(const ConvGeom& g, const float* x, const wino::Chunk* chunks, int64_t nChunks,
                         const wino::TaskLayout& L, float* V) {
  for (int64_t k = 0; k < nChunks; ++k) inputChunkAvx512(g, x, chunks[k], L, V);
  return true;
}

bool winogradOutputAvx512(const ConvGeom& g, const float* M, const wino::Chunk* chunks, int64_t nChunks,
                          const wino::TaskLayout& L, const GemmEpilogue& ep, float* out) {
  for (int64_t k = 0; k < nChunks; ++k) outputChunkAvx512(g, M, chunks[k], L, ep, out);
  return true;
}

}  // namespace conv_detail
}  // namespace sotr

#else

namespace sotr {
namespace conv_detail {
bool winogradInputAvx512(const ConvGeom&, const float*, const wino::Chunk*, int64_t, const wino::TaskLayout&,
                         float*) {
  return false;
}
bool winogradOutputAvx512(const ConvGeom&, const float*, const wino::Chunk*, int64_t, const wino::TaskLayout&,
                          const GemmEpilogue&, float*) {
  return false;
}
}  // namespace conv_detail
}  // namespace sotr

#endif
