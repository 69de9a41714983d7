// im2col of conv2d with AVX2 masked loads / stores, for CPUs without AVX-512:
// conv2d_avx512.cpp's loop on 8 lanes (zeros where the window falls into the
// padding; stride 2 by two loads and a shuffle, other strides by a masked
// gather). Masked-off lanes of vmaskmov are not read, so a segment may end at
// the edge of the input.
// Compiled with -mavx2 -mfma; reached only through activeSimdLevel().
// No out-of-line std:: templates and no ConvGeom member calls in here (see
// conv2d_avx512.cpp).
#include "ops/conv2d.h"

#if defined(__x86_64__) && defined(__AVX2__)
#include <immintrin.h>

#include "gemm/avx2_lanes.h"

namespace sotr {
namespace conv_detail {

bool im2colBlockAvx2(const ConvGeom& g, const float* x, int64_t n, int64_t grp, int64_t p0, int64_t ncols,
                     float* col, int64_t ld) {
  const int64_t Cg = g.C / g.groups, HW = g.H * g.W;
  const float* xg = x + (n * g.C + grp * Cg) * HW;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  int64_t k = 0;
  for (int64_t c = 0; c < Cg; ++c) {
    const float* xc = xg + c * HW;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j, ++k) {
        float* dst = col + k * ld;
        const int64_t offW = j * g.dw - g.pw;  // iw = ow * sw + offW
        int64_t p = p0, done = 0;
        while (done < ncols) {
          const int64_t oh = p / g.Wo, ow0 = p - oh * g.Wo;
          const int64_t len = (g.Wo - ow0) < (ncols - done) ? (g.Wo - ow0) : (ncols - done);
          float* d = dst + done;
          const int64_t ih = oh * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.H) {
            for (int64_t t = 0; t < len; t += 8) _mm256_maskstore_ps(d + t, avx2::laneRange(0, len - t), _mm256_setzero_ps());
          } else if (g.sw == 1) {
            // valid ow: -offW <= ow < W - offW; lanes t.. map to ow0 + t + l
            const float* src = xc + ih * g.W + ow0 + offW;
            const int64_t lo = -offW - ow0, hi = g.W - offW - ow0;  // valid lane window relative to segment start
            for (int64_t t = 0; t < len; t += 8) {
              const __m256i store = avx2::laneRange(0, len - t);
              const __m256i load = _mm256_and_si256(store, avx2::laneRange(lo - t, hi - t));
              _mm256_maskstore_ps(d + t, store, _mm256_maskload_ps(src + t, load));
            }
          } else if (g.sw == 2) {
            // Stride 2: two masked loads of 16 consecutive floats, the even
            // ones kept by a shuffle and a 64-bit permute, instead of a gather
            // (see conv2d_avx512.cpp). Lanes outside the row load as zeros.
            const float* row = xc + ih * g.W;
            for (int64_t t = 0; t < len; t += 8) {
              const __m256i store = avx2::laneRange(0, len - t);
              const int64_t base = 2 * (ow0 + t) + offW;  // iw of lane 0
              const __m256 a = _mm256_maskload_ps(row + base, avx2::laneRange(-base, g.W - base));
              const __m256 b = _mm256_maskload_ps(row + base + 8, avx2::laneRange(-base - 8, g.W - base - 8));
              // [a0 a2 b0 b2 | a4 a6 b4 b6] -> [a0 a2 a4 a6 b0 b2 b4 b6]
              const __m256 ev = _mm256_shuffle_ps(a, b, 0x88);
              const __m256 v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xD8));
              _mm256_maskstore_ps(d + t, store, v);
            }
          } else {
            const float* row = xc + ih * g.W;
            for (int64_t t = 0; t < len; t += 8) {
              const __m256i store = avx2::laneRange(0, len - t);
              // iw = (ow0 + t + l) * sw + offW, valid when 0 <= iw < W
              const __m256i iw = _mm256_add_epi32(
                  _mm256_mullo_epi32(_mm256_add_epi32(lane, _mm256_set1_epi32(static_cast<int>(ow0 + t))),
                                     _mm256_set1_epi32(static_cast<int>(g.sw))),
                  _mm256_set1_epi32(static_cast<int>(offW)));
              const __m256i ok = _mm256_and_si256(
                  store, _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_setzero_si256(), iw),
                                             _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(g.W)), iw)));
              const __m256 v = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), row, iw, _mm256_castsi256_ps(ok), 4);
              _mm256_maskstore_ps(d + t, store, v);
            }
          }
          done += len;
          p += len;
        }
      }
    }
  }
  return true;
}

}  // namespace conv_detail
}  // namespace sotr

#else

namespace sotr {
namespace conv_detail {
bool im2colBlockAvx2(const ConvGeom&, const float*, int64_t, int64_t, int64_t, int64_t, float*, int64_t) {
  return false;
}
}  // namespace conv_detail
}  // namespace sotr

#endif
