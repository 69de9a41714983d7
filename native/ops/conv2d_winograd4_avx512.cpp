// The Winograd F(4x4, 3x3) transforms with AVX-512 intrinsics: one zmm lane
// per tile of a chunk (16 horizontally adjacent 4x4 tiles, 66 input columns).
// A tile row's 6 input columns come from 6 masked row loads by two rounds of
// even / odd permutes and lane shifts; the 4 output columns of each tile are
// interleaved back into 64 contiguous floats. The expressions are those of
// bt6 / at6 in conv2d_winograd4_transforms.h, evaluated with FMAs.
// Compiled with -mavx512f/bw/vl/dq; reached only through activeSimdLevel().
#include "ops/conv2d_winograd4_transforms.h"

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

inline void bt6(const __m512* d, __m512* t) {  // d, t: stride-1 arrays of 6
  const __m512 u = _mm512_sub_ps(d[3], d[1]), v = _mm512_sub_ps(d[4], d[2]);
  const __m512 two = _mm512_set1_ps(2.f), half = _mm512_set1_ps(0.5f), c15 = _mm512_set1_ps(1.5f),
               c25 = _mm512_set1_ps(2.5f);
  t[0] = _mm512_fmadd_ps(c15, u, _mm512_fnmadd_ps(two, d[2], _mm512_add_ps(d[0], d[4])));
  t[1] = _mm512_fmadd_ps(half, d[3], _mm512_fnmadd_ps(c25, d[2], _mm512_add_ps(d[1], d[4])));
  t[2] = _mm512_fmadd_ps(c25, d[3], _mm512_fmadd_ps(half, d[2], _mm512_sub_ps(d[4], d[1])));
  t[3] = _mm512_fmadd_ps(two, u, v);
  t[4] = _mm512_fnmadd_ps(half, u, v);
  t[5] = _mm512_fmadd_ps(c15, v, _mm512_fnmadd_ps(two, d[3], _mm512_add_ps(d[1], d[5])));
}

inline void at6(__m512 m0, __m512 m1, __m512 m2, __m512 m3, __m512 m4, __m512 m5, __m512* y) {
  const __m512 s = _mm512_add_ps(m1, m2), dd = _mm512_sub_ps(m2, m1);
  y[0] = _mm512_add_ps(_mm512_add_ps(m0, s), _mm512_add_ps(m3, m4));
  y[1] = _mm512_fmadd_ps(_mm512_set1_ps(0.5f), m3, _mm512_fnmadd_ps(_mm512_set1_ps(2.f), m4, dd));
  y[2] = _mm512_fmadd_ps(_mm512_set1_ps(0.25f), m3, _mm512_fmadd_ps(_mm512_set1_ps(4.f), m4, s));
  y[3] = _mm512_fmadd_ps(_mm512_set1_ps(0.125f), m3, _mm512_fnmadd_ps(_mm512_set1_ps(8.f), m4, _mm512_add_ps(dd, m5)));
}

// Per row: 4 loads of 16 (columns 0..63) split into even / odd columns and
// those again into columns 4l + 0, 2 and 4l + 1, 3 (8 permutes); columns
// 4l + 4 and 4l + 5 are 4l + 0 and 4l + 1 moved down one lane with columns
// 64 and 65 (two one-lane loads) in lane 15. The row transform (d B) runs
// as each row is read; the column transform (B^T .) then per output column.
void inputChunk4Avx512(const ConvGeom& g, const float* x, const wino::Chunk& ch, const wino::TaskLayout& L,
                       float* V) {
  const int64_t C = g.C, H = g.H, W = g.W, HW = H * W;
  const int64_t ih0 = ch.oh0 - g.ph, iw0 = ch.ow0 - g.pw;
  const int64_t span = 4 * ch.cnt + 2;
  // Loads at row offsets 0, 16, 32, 48 (16 lanes) and 64, 65 (lane 0 only).
  __mmask16 lm[6];
  for (int q = 0; q < 6; ++q) {
    const int64_t o = q < 4 ? 16 * q : 64 + (q - 4);
    const int64_t lo = -(iw0 + o), hi = (W - (iw0 + o)) < (span - o) ? (W - (iw0 + o)) : (span - o);
    lm[q] = laneRange(lo, q < 4 ? hi : (hi < 1 ? hi : 1));
  }
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __mmask16 store = firstLanes(ch.cnt);
  for (int64_t c = 0; c < C; ++c) {
    const float* xc = x + (ch.n * C + c) * HW;
    __m512 h[6][6];  // [r][s] = (d B)[r][s]
    for (int r = 0; r < 6; ++r) {
      const int64_t ih = ih0 + r;
      if (ih < 0 || ih >= H) {
        for (int s = 0; s < 6; ++s) h[r][s] = _mm512_setzero_ps();
        continue;
      }
      const float* src = xc + ih * W + iw0;
      const __m512 a0 = _mm512_maskz_loadu_ps(lm[0], src), a1 = _mm512_maskz_loadu_ps(lm[1], src + 16);
      const __m512 a2 = _mm512_maskz_loadu_ps(lm[2], src + 32), a3 = _mm512_maskz_loadu_ps(lm[3], src + 48);
      const __m512 t4 = _mm512_maskz_loadu_ps(lm[4], src + 64), t5 = _mm512_maskz_loadu_ps(lm[5], src + 65);
      const __m512 e0 = _mm512_permutex2var_ps(a0, even, a1), o0 = _mm512_permutex2var_ps(a0, odd, a1);
      const __m512 e1 = _mm512_permutex2var_ps(a2, even, a3), o1 = _mm512_permutex2var_ps(a2, odd, a3);
      __m512 d[6];
      d[0] = _mm512_permutex2var_ps(e0, even, e1);
      d[2] = _mm512_permutex2var_ps(e0, odd, e1);
      d[1] = _mm512_permutex2var_ps(o0, even, o1);
      d[3] = _mm512_permutex2var_ps(o0, odd, o1);
      d[4] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(t4), _mm512_castps_si512(d[0]), 1));
      d[5] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(t5), _mm512_castps_si512(d[1]), 1));
      bt6(d, h[r]);
    }
    float* vc = V + c * L.nb + ch.j;
    for (int s = 0; s < 6; ++s) {
      const __m512 col[6] = {h[0][s], h[1][s], h[2][s], h[3][s], h[4][s], h[5][s]};
      __m512 v[6];
      bt6(col, v);
      for (int r = 0; r < 6; ++r) _mm512_mask_storeu_ps(vc + (r * 6 + s) * L.vPlane, store, v[r]);
    }
  }
}

void outputChunk4Avx512(const ConvGeom& g, const float* M, const wino::Chunk& ch, const wino::TaskLayout& L,
                        const GemmEpilogue& ep, float* out) {
  const int64_t O = g.O, Ho = g.Ho, Wo = g.Wo, P = Ho * Wo;
  const int64_t left = Wo - ch.ow0;
  const int width = static_cast<int>(left < 4 * ch.cnt ? left : 4 * ch.cnt);
  const __mmask16 load = firstLanes(ch.cnt);
  __mmask16 mk[4];
  for (int h = 0; h < 4; ++h) mk[h] = laneRange(0, width - 16 * h);
  // (y0, y1) and (y2, y3) pairs per tile, then the pairs of pairs: 4 columns per tile.
  const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512i plo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
  const __m512i phi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
  EpilogueLanes epi(ep);
  for (int64_t o = 0; o < O; ++o) {
    const float* mo = M + o * L.nb + ch.j;
    __m512 a[4][6];  // A^T M
    for (int s = 0; s < 6; ++s) {
      __m512 m[6];
      for (int q = 0; q < 6; ++q) m[q] = _mm512_maskz_loadu_ps(load, mo + (q * 6 + s) * L.mPlane);
      __m512 y[4];
      at6(m[0], m[1], m[2], m[3], m[4], m[5], y);
      for (int r = 0; r < 4; ++r) a[r][s] = y[r];
    }
    epi.setChannel(o);
    for (int r = 0; r < 4; ++r) {
      const int64_t oh = ch.oh0 + r;
      if (oh >= Ho) break;
      __m512 y[4];
      at6(a[r][0], a[r][1], a[r][2], a[r][3], a[r][4], a[r][5], y);
      const __m512d p01lo = _mm512_castps_pd(_mm512_permutex2var_ps(y[0], ilo, y[1]));
      const __m512d p01hi = _mm512_castps_pd(_mm512_permutex2var_ps(y[0], ihi, y[1]));
      const __m512d p23lo = _mm512_castps_pd(_mm512_permutex2var_ps(y[2], ilo, y[3]));
      const __m512d p23hi = _mm512_castps_pd(_mm512_permutex2var_ps(y[2], ihi, y[3]));
      const __m512 v[4] = {_mm512_castpd_ps(_mm512_permutex2var_pd(p01lo, plo, p23lo)),
                           _mm512_castpd_ps(_mm512_permutex2var_pd(p01lo, phi, p23lo)),
                           _mm512_castpd_ps(_mm512_permutex2var_pd(p01hi, plo, p23hi)),
                           _mm512_castpd_ps(_mm512_permutex2var_pd(p01hi, phi, p23hi))};
      epi.storeRow(out, ch.n, o, oh, ch.ow0, O, Wo, P, mk, v);
    }
  }
}

}  // namespace

bool winograd4InputAvx512(const ConvGeom& g, const float* x, const wino::Chunk* chunks, int64_t nChunks,
                          const wino::TaskLayout& L, float* V) {
  for (int64_t k = 0; k < nChunks; ++k) inputChunk4Avx512(g, x, chunks[k], L, V);
  return true;
}

bool winograd4OutputAvx512(const ConvGeom& g, const float* M, const wino::Chunk* chunks, int64_t nChunks,
                           const wino::TaskLayout& L, const GemmEpilogue& ep, float* out) {
  for (int64_t k = 0; k < nChunks; ++k) outputChunk4Avx512(g, M, chunks[k], L, ep, out);
  return true;
}

}  // namespace conv_detail
}  // namespace sotr

#else

namespace sotr {
namespace conv_detail {
bool winograd4InputAvx512(const ConvGeom&, const float*, const wino::Chunk*, int64_t, const wino::TaskLayout&,
                          float*) {
  return false;
}
bool winograd4OutputAvx512(const ConvGeom&, const float*, const wino::Chunk*, int64_t, const wino::TaskLayout&,
                           const GemmEpilogue&, float*) {
  return false;
}
}  // namespace conv_detail
}  // namespace sotr

#endif
