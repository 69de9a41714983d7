// im2col of conv2d with AVX-512 masked loads/stores: each output-row segment
// of a column row is written 16 lanes at a time (zeros where the window falls
// into the padding), instead of memset/memcpy calls that cost more than the
// copy for the short segments of a cache-sized column block. Stride 2 takes
// the even lanes of two loads; other strides gather.
// Compiled with -mavx512f/bw/vl/dq; reached only through activeSimdLevel().
// No out-of-line std:: templates and no ConvGeom member calls in here (an
// AVX-512 copy of an inline function could be picked by the linker for
// baseline callers).
#include "ops/conv2d.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512DQ__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#include "ops/avx512_lanes.h"

namespace sotr {
namespace conv_detail {

using avx512::laneRange;

bool im2colBlockAvx512(const ConvGeom& g, const float* x, int64_t n, int64_t grp, int64_t p0, int64_t ncols,
                       float* col, int64_t ld) {
  const int64_t Cg = g.C / g.groups, HW = g.H * g.W;
  const float* xg = x + (n * g.C + grp * Cg) * HW;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);  // stride 2
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
            for (int64_t t = 0; t < len; t += 16) _mm512_mask_storeu_ps(d + t, laneRange(0, len - t), _mm512_setzero_ps());
          } else if (g.sw == 1) {
            // valid ow: -offW <= ow < W - offW; lanes t.. map to ow0 + t + l
            const float* src = xc + ih * g.W + ow0 + offW;
            const int64_t lo = -offW - ow0, hi = g.W - offW - ow0;  // valid lane window relative to segment start
            for (int64_t t = 0; t < len; t += 16) {
              const __mmask16 store = laneRange(0, len - t);
              const __mmask16 load = store & laneRange(lo - t, hi - t);
              _mm512_mask_storeu_ps(d + t, store, _mm512_maskz_loadu_ps(load, src + t));
            }
          } else if (g.sw == 2) {
            // Stride 2 (the stem's 7x7, ResNet's strided 1x1 and 3x3): two
            // masked loads of 32 consecutive floats and one permute that keeps
            // the even ones, instead of a gather (~3x slower on Zen 4). Lanes
            // outside the row load as zeros: exactly the padding.
            const float* row = xc + ih * g.W;
            for (int64_t t = 0; t < len; t += 16) {
              const __mmask16 store = laneRange(0, len - t);
              const int64_t base = 2 * (ow0 + t) + offW;  // iw of lane 0
              const __m512 a = _mm512_maskz_loadu_ps(laneRange(-base, g.W - base), row + base);
              const __m512 b = _mm512_maskz_loadu_ps(laneRange(-base - 16, g.W - base - 16), row + base + 16);
              _mm512_mask_storeu_ps(d + t, store, _mm512_permutex2var_ps(a, even, b));
            }
          } else {
            const float* row = xc + ih * g.W;
            for (int64_t t = 0; t < len; t += 16) {
              const __mmask16 store = laneRange(0, len - t);
              // iw = (ow0 + t + l) * sw + offW, valid when 0 <= iw < W
              const __m512i iw = _mm512_add_epi32(
                  _mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(ow0 + t))),
                                     _mm512_set1_epi32(static_cast<int>(g.sw))),
                  _mm512_set1_epi32(static_cast<int>(offW)));
              const __mmask16 ok = store & _mm512_cmpge_epi32_mask(iw, _mm512_setzero_si512()) &
                                   _mm512_cmplt_epi32_mask(iw, _mm512_set1_epi32(static_cast<int>(g.W)));
              const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), ok, iw, row, 4);
              _mm512_mask_storeu_ps(d + t, store, v);
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
bool im2colBlockAvx512(const ConvGeom&, const float*, int64_t, int64_t, int64_t, int64_t, float*, int64_t) {
  return false;
}
}  // namespace conv_detail
}  // namespace sotr

#endif
