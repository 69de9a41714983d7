// The Winograd F(2x2, 3x3) and F(4x4, 3x3) transforms with AVX2 + FMA, for
// CPUs without AVX-512: a chunk of 16 tiles is two halves of 8, one ymm lane
// per tile. F(4x4): each tile's 4 input columns are one 128-bit load, two tiles
// per ymm, and an in-lane 4x4 transpose gives the columns in tile order
// (columns 4 and 5 are columns 0 and 1 of the next tile, one lane over).
// F(2x2): even / odd columns by in-lane shuffles and a 64-bit permute. Rows
// that touch the image border are read from a zero-padded copy. The
// arithmetic is the AVX-512 files' (same expressions, same FMAs), so the
// transforms give their values; the epilogue is gemm_args.h's, step by step.
// No std:: templates here (see native/gemm/gemm_kernel_avx2.cpp).
#include "ops/conv2d_winograd4_transforms.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include "gemm/avx2_lanes.h"

namespace sotr {
namespace conv_detail {

namespace {

inline __m256 loadLanes(const float* p, int n) {
  return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, avx2::firstLanes(n));
}

inline void storeLanes(float* p, int n, __m256 v) {
  if (n >= 8) _mm256_storeu_ps(p, v);
  else _mm256_maskstore_ps(p, avx2::firstLanes(n), v);
}

// Input row ih of channel plane xc, columns [c0, c0 + n): a pointer into the plane when they all lie inside
// the image, else `buf` filled with them (zero outside [0, W) and from column `valid` on).
inline const float* rowColumns(const float* xc, int64_t ih, int64_t W, int64_t c0, int n, int64_t valid,
                               float* buf) {
  const float* src = xc + ih * W;
  if (c0 >= 0 && c0 + n <= W) return src + c0;
  for (int i = 0; i < n; ++i) {
    const int64_t iw = c0 + i;
    buf[i] = (i < valid && iw >= 0 && iw < W) ? src[iw] : 0.f;
  }
  return buf;
}

// The conv epilogue on 8 lanes: ((v + bias) * scale + shift) * alpha, + beta * residual, then the activation.
struct EpilogueLanes8 {
  const GemmEpilogue& ep;
  __m256 alpha, beta, slope, bias, scale, shift;

  explicit EpilogueLanes8(const GemmEpilogue& e)
      : ep(e),
        alpha(_mm256_set1_ps(e.alpha)),
        beta(_mm256_set1_ps(e.beta)),
        slope(_mm256_set1_ps(e.slope)),
        bias(_mm256_setzero_ps()),
        scale(_mm256_set1_ps(1.f)),
        shift(_mm256_setzero_ps()) {}

  void setChannel(int64_t o) {
    bias = _mm256_set1_ps(ep.bias ? ep.bias[o] : 0.f);
    scale = _mm256_set1_ps(ep.scale ? ep.scale[o] : 1.f);
    shift = _mm256_set1_ps(ep.shift ? ep.shift[o] : 0.f);
  }

  // Stores the first n (1..8) lanes of epilogue(v) at dst; res: the residual at the same place, or null.
  void store(float* dst, const float* res, int n, __m256 v) const {
    __m256 t = _mm256_mul_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_add_ps(v, bias), scale), shift), alpha);
    if (res) t = _mm256_add_ps(t, _mm256_mul_ps(beta, loadLanes(res, n)));
    if (ep.act == Activation::Sigmoid) {
      alignas(32) float tmp[8];
      _mm256_store_ps(tmp, t);
      for (int i = 0; i < 8; ++i) tmp[i] = 1.f / (1.f + __builtin_expf(-tmp[i]));
      t = _mm256_load_ps(tmp);
    } else if (ep.act == Activation::Relu) {
      t = _mm256_max_ps(_mm256_setzero_ps(), t);  // NaN and -0 pass, as torch.relu
    } else if (ep.act == Activation::LeakyRelu) {
      const __m256 neg = _mm256_cmp_ps(t, _mm256_setzero_ps(), _CMP_LE_OQ);
      t = _mm256_blendv_ps(t, _mm256_mul_ps(t, slope), neg);  // t > 0 ? t : t * slope
    }
    storeLanes(dst, n, t);
  }

  // Output row oh of image n, channel o (setChannel(o) first), columns [ow0, ow0 + width): V vectors of 8.
  template <int V>
  void storeRow(float* out, int64_t n, int64_t o, int64_t oh, int64_t ow0, int64_t O, int64_t Wo, int64_t P,
                int width, const __m256 (&v)[V]) const {
    const int64_t p0 = oh * Wo + ow0;
    float* dst = out + (n * O + o) * P + p0;
    const float* res = ep.residual ? ep.residual + n * ep.strideR + o * ep.ldr + p0 : nullptr;
    for (int h = 0; h < V && 8 * h < width; ++h)
      store(dst + 8 * h, res ? res + 8 * h : nullptr, width - 8 * h, v[h]);
  }
};

// Tiles in half hh (0, 1) of a chunk: 8, fewer, or 0.
inline int halfCount(int cnt, int hh) {
  const int n = cnt - 8 * hh;
  return n <= 0 ? 0 : n >= 8 ? 8 : n;
}

// The output columns of half hh of a chunk of m x m tiles: its tiles (nt; 0 when the half is empty or past the
// image), its first column and how many columns lie inside the image.
struct OutputHalf {
  int nt = 0;
  int64_t ow0 = 0;
  int width = 0;
};
inline OutputHalf outputHalf(const wino::Chunk& ch, int hh, int m, int64_t Wo) {
  OutputHalf h;
  h.ow0 = ch.ow0 + 8 * m * hh;
  const int64_t left = Wo - h.ow0;
  const int nt = halfCount(ch.cnt, hh);
  if (nt == 0 || left <= 0) return h;
  h.nt = nt;
  h.width = static_cast<int>(left < m * nt ? left : m * nt);
  return h;
}

// ---------------------------------------------------------------- F(2x2, 3x3)

// Lanes 0..7 = elements 0, 2, .., 14 (odd = false) or 1, 3, .., 15 of a | b.
inline __m256 evenOdd(__m256 a, __m256 b, bool odd) {
  const __m256 s = odd ? _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)) : _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

void inputChunk2(const ConvGeom& g, const float* x, const wino::Chunk& ch, const wino::TaskLayout& L, float* V) {
  const int64_t C = g.C, H = g.H, W = g.W, HW = H * W;
  const int64_t ih0 = ch.oh0 - g.ph, iw0 = ch.ow0 - g.pw;
  for (int hh = 0; hh < 2; ++hh) {
    const int nt = halfCount(ch.cnt, hh);
    if (!nt) break;
    const int64_t c0 = iw0 + 16 * hh;  // input column of lane 0's first column
    const int valid = 2 * nt + 2;
    alignas(32) float buf[24];
    for (int64_t c = 0; c < C; ++c) {
      const float* xc = x + (ch.n * C + c) * HW;
      __m256 d[4][4];
      for (int r = 0; r < 4; ++r) {
        const int64_t ih = ih0 + r;
        if (ih < 0 || ih >= H) {
          for (int s = 0; s < 4; ++s) d[r][s] = _mm256_setzero_ps();
          continue;
        }
        const float* src = rowColumns(xc, ih, W, c0, 18, valid, buf);
        const __m256 a0 = _mm256_loadu_ps(src), a1 = _mm256_loadu_ps(src + 8);
        const __m256 b0 = _mm256_loadu_ps(src + 2), b1 = _mm256_loadu_ps(src + 10);
        d[r][0] = evenOdd(a0, a1, false);
        d[r][1] = evenOdd(a0, a1, true);
        d[r][2] = evenOdd(b0, b1, false);
        d[r][3] = evenOdd(b0, b1, true);
      }
      __m256 e[4][4];  // B^T d
      for (int s = 0; s < 4; ++s) {
        e[0][s] = _mm256_sub_ps(d[0][s], d[2][s]);
        e[1][s] = _mm256_add_ps(d[1][s], d[2][s]);
        e[2][s] = _mm256_sub_ps(d[2][s], d[1][s]);
        e[3][s] = _mm256_sub_ps(d[1][s], d[3][s]);
      }
      float* vc = V + c * L.nb + ch.j + 8 * hh;
      for (int r = 0; r < 4; ++r) {
        float* v = vc + (r * 4) * L.vPlane;
        storeLanes(v, nt, _mm256_sub_ps(e[r][0], e[r][2]));
        storeLanes(v + L.vPlane, nt, _mm256_add_ps(e[r][1], e[r][2]));
        storeLanes(v + 2 * L.vPlane, nt, _mm256_sub_ps(e[r][2], e[r][1]));
        storeLanes(v + 3 * L.vPlane, nt, _mm256_sub_ps(e[r][1], e[r][3]));
      }
    }
  }
}

void outputChunk2(const ConvGeom& g, const float* M, const wino::Chunk& ch, const wino::TaskLayout& L,
                  const GemmEpilogue& ep, float* out) {
  const int64_t O = g.O, Ho = g.Ho, Wo = g.Wo, P = Ho * Wo;
  EpilogueLanes8 epi(ep);
  for (int hh = 0; hh < 2; ++hh) {
    const OutputHalf half = outputHalf(ch, hh, 2, Wo);
    if (!half.nt) break;
    const int nt = half.nt, width = half.width;
    const int64_t ow0 = half.ow0;
    for (int64_t o = 0; o < O; ++o) {
      const float* mo = M + o * L.nb + ch.j + 8 * hh;
      __m256 m[16];
      for (int q = 0; q < 16; ++q) m[q] = loadLanes(mo + q * L.mPlane, nt);
      __m256 a[2][4];  // A^T M, A^T = [1 1 1 0; 0 1 -1 -1]
      for (int s = 0; s < 4; ++s) {
        a[0][s] = _mm256_add_ps(_mm256_add_ps(m[s], m[4 + s]), m[8 + s]);
        a[1][s] = _mm256_sub_ps(_mm256_sub_ps(m[4 + s], m[8 + s]), m[12 + s]);
      }
      epi.setChannel(o);
      for (int r = 0; r < 2; ++r) {
        const int64_t oh = ch.oh0 + r;
        if (oh >= Ho) break;
        const __m256 y0 = _mm256_add_ps(_mm256_add_ps(a[r][0], a[r][1]), a[r][2]);
        const __m256 y1 = _mm256_sub_ps(_mm256_sub_ps(a[r][1], a[r][2]), a[r][3]);
        // (y0, y1) of tiles 0, 1 | 4, 5 and 2, 3 | 6, 7, then the 128-bit halves in tile order.
        const __m256 lo = _mm256_unpacklo_ps(y0, y1), hi = _mm256_unpackhi_ps(y0, y1);
        const __m256 v[2] = {_mm256_permute2f128_ps(lo, hi, 0x20), _mm256_permute2f128_ps(lo, hi, 0x31)};
        epi.storeRow(out, ch.n, o, oh, ow0, O, Wo, P, width, v);
      }
    }
  }
}

// ---------------------------------------------------------------- F(4x4, 3x3)

inline void bt6(const __m256* d, __m256* t) {  // as bt6 in conv2d_winograd4_avx512.cpp
  const __m256 u = _mm256_sub_ps(d[3], d[1]), v = _mm256_sub_ps(d[4], d[2]);
  const __m256 two = _mm256_set1_ps(2.f), half = _mm256_set1_ps(0.5f), c15 = _mm256_set1_ps(1.5f),
               c25 = _mm256_set1_ps(2.5f);
  t[0] = _mm256_fmadd_ps(c15, u, _mm256_fnmadd_ps(two, d[2], _mm256_add_ps(d[0], d[4])));
  t[1] = _mm256_fmadd_ps(half, d[3], _mm256_fnmadd_ps(c25, d[2], _mm256_add_ps(d[1], d[4])));
  t[2] = _mm256_fmadd_ps(c25, d[3], _mm256_fmadd_ps(half, d[2], _mm256_sub_ps(d[4], d[1])));
  t[3] = _mm256_fmadd_ps(two, u, v);
  t[4] = _mm256_fnmadd_ps(half, u, v);
  t[5] = _mm256_fmadd_ps(c15, v, _mm256_fnmadd_ps(two, d[3], _mm256_add_ps(d[1], d[5])));
}

inline void at6(__m256 m0, __m256 m1, __m256 m2, __m256 m3, __m256 m4, __m256 m5, __m256* y) {
  const __m256 s = _mm256_add_ps(m1, m2), dd = _mm256_sub_ps(m2, m1);
  y[0] = _mm256_add_ps(_mm256_add_ps(m0, s), _mm256_add_ps(m3, m4));
  y[1] = _mm256_fmadd_ps(_mm256_set1_ps(0.5f), m3, _mm256_fnmadd_ps(_mm256_set1_ps(2.f), m4, dd));
  y[2] = _mm256_fmadd_ps(_mm256_set1_ps(0.25f), m3, _mm256_fmadd_ps(_mm256_set1_ps(4.f), m4, s));
  y[3] = _mm256_fmadd_ps(_mm256_set1_ps(0.125f), m3,
                         _mm256_fnmadd_ps(_mm256_set1_ps(8.f), m4, _mm256_add_ps(dd, m5)));
}

// Tiles k and k + 4 (4 columns each, 16 bytes apart by 16 floats) as one ymm.
inline __m256 tilePair(const float* p) {
  return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p)), _mm_loadu_ps(p + 16), 1);
}

// In-lane 4x4 transpose: b[k] = tiles k | k + 4, columns 0..3 -> d[s] = column s of tiles 0..7.
inline void transpose4(const __m256 (&b)[4], __m256* d) {
  const __m256 t0 = _mm256_unpacklo_ps(b[0], b[1]), t1 = _mm256_unpackhi_ps(b[0], b[1]);
  const __m256 t2 = _mm256_unpacklo_ps(b[2], b[3]), t3 = _mm256_unpackhi_ps(b[2], b[3]);
  d[0] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  d[1] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  d[2] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  d[3] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
}

// Lanes 1..7 of v, then `next` in lane 7.
inline __m256 nextTile(__m256 v, float next) {
  const __m256 s = _mm256_permutevar8x32_ps(v, _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7));
  return _mm256_blend_ps(s, _mm256_set1_ps(next), 0x80);
}

void inputChunk4(const ConvGeom& g, const float* x, const wino::Chunk& ch, const wino::TaskLayout& L, float* V) {
  const int64_t C = g.C, H = g.H, W = g.W, HW = H * W;
  const int64_t ih0 = ch.oh0 - g.ph, iw0 = ch.ow0 - g.pw;
  for (int hh = 0; hh < 2; ++hh) {
    const int nt = halfCount(ch.cnt, hh);
    if (!nt) break;
    const int64_t c0 = iw0 + 32 * hh;
    const int valid = 4 * nt + 2;
    alignas(32) float buf[40];
    for (int64_t c = 0; c < C; ++c) {
      const float* xc = x + (ch.n * C + c) * HW;
      __m256 h[6][6];  // [r][s] = (d B)[r][s]
      for (int r = 0; r < 6; ++r) {
        const int64_t ih = ih0 + r;
        if (ih < 0 || ih >= H) {
          for (int s = 0; s < 6; ++s) h[r][s] = _mm256_setzero_ps();
          continue;
        }
        const float* src = rowColumns(xc, ih, W, c0, 34, valid, buf);
        const __m256 b[4] = {tilePair(src), tilePair(src + 4), tilePair(src + 8), tilePair(src + 12)};
        __m256 d[6];
        transpose4(b, d);
        d[4] = nextTile(d[0], src[32]);
        d[5] = nextTile(d[1], src[33]);
        bt6(d, h[r]);
      }
      float* vc = V + c * L.nb + ch.j + 8 * hh;
      for (int s = 0; s < 6; ++s) {
        const __m256 col[6] = {h[0][s], h[1][s], h[2][s], h[3][s], h[4][s], h[5][s]};
        __m256 v[6];
        bt6(col, v);
        for (int r = 0; r < 6; ++r) storeLanes(vc + (r * 6 + s) * L.vPlane, nt, v[r]);
      }
    }
  }
}

void outputChunk4(const ConvGeom& g, const float* M, const wino::Chunk& ch, const wino::TaskLayout& L,
                  const GemmEpilogue& ep, float* out) {
  const int64_t O = g.O, Ho = g.Ho, Wo = g.Wo, P = Ho * Wo;
  EpilogueLanes8 epi(ep);
  for (int hh = 0; hh < 2; ++hh) {
    const OutputHalf half = outputHalf(ch, hh, 4, Wo);
    if (!half.nt) break;
    const int nt = half.nt, width = half.width;
    const int64_t ow0 = half.ow0;
    for (int64_t o = 0; o < O; ++o) {
      const float* mo = M + o * L.nb + ch.j + 8 * hh;
      __m256 a[4][6];  // A^T M
      for (int s = 0; s < 6; ++s) {
        __m256 m[6];
        for (int q = 0; q < 6; ++q) m[q] = loadLanes(mo + (q * 6 + s) * L.mPlane, nt);
        __m256 y[4];
        at6(m[0], m[1], m[2], m[3], m[4], m[5], y);
        for (int r = 0; r < 4; ++r) a[r][s] = y[r];
      }
      epi.setChannel(o);
      for (int r = 0; r < 4; ++r) {
        const int64_t oh = ch.oh0 + r;
        if (oh >= Ho) break;
        __m256 y[4];
        at6(a[r][0], a[r][1], a[r][2], a[r][3], a[r][4], a[r][5], y);
        // Column k of tiles 0..7 -> each tile's 4 columns (tiles k | k + 4 per ymm), then two tiles per vector.
        const __m256 b[4] = {y[0], y[1], y[2], y[3]};
        __m256 z[4];
        transpose4(b, z);  // z[k] = tile k | tile k + 4, columns 0..3
        const __m256 v[4] = {_mm256_permute2f128_ps(z[0], z[1], 0x20), _mm256_permute2f128_ps(z[2], z[3], 0x20),
                             _mm256_permute2f128_ps(z[0], z[1], 0x31), _mm256_permute2f128_ps(z[2], z[3], 0x31)};
        epi.storeRow(out, ch.n, o, oh, ow0, O, Wo, P, width, v);
      }
    }
  }
}

}  // namespace

bool winogradInputAvx2(WinogradTile t, const ConvGeom& g, const float* x, const wino::Chunk* chunks, int64_t nChunks,
                       const wino::TaskLayout& L, float* V) {
  for (int64_t k = 0; k < nChunks; ++k) {
    if (t == WinogradTile::F4) inputChunk4(g, x, chunks[k], L, V);
    else inputChunk2(g, x, chunks[k], L, V);
  }
  return true;
}

bool winogradOutputAvx2(WinogradTile t, const ConvGeom& g, const float* M, const wino::Chunk* chunks, int64_t nChunks,
                        const wino::TaskLayout& L, const GemmEpilogue& ep, float* out) {
  for (int64_t k = 0; k < nChunks; ++k) {
    if (t == WinogradTile::F4) outputChunk4(g, M, chunks[k], L, ep, out);
    else outputChunk2(g, M, chunks[k], L, ep, out);
  }
  return true;
}

}  // namespace conv_detail
}  // namespace sotr

#else

namespace sotr {
namespace conv_detail {
bool winogradInputAvx2(WinogradTile, const ConvGeom&, const float*, const wino::Chunk*, int64_t,
                       const wino::TaskLayout&, float*) {
  return false;
}
bool winogradOutputAvx2(WinogradTile, const ConvGeom&, const float*, const wino::Chunk*, int64_t,
                        const wino::TaskLayout&, const GemmEpilogue&, float*) {
  return false;
}
}  // namespace conv_detail
}  // namespace sotr

#endif
