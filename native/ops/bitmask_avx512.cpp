// AVX-512 kernels of the bit-packed mask format: AND + VPOPCNTQ over a
// rectangle of two masks, and the byte -> bit packing of a row. Compiled with
// the AVX-512 flags of CMakeLists.txt; VPOPCNTDQ is enabled per function (the
// caller checks cpuFeatures().avx512vpopcntdq first). No std:: templates here
// (see native/gemm/gemm_kernel_avx512.cpp).
#include "ops/bitmask.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

namespace sotr {
namespace bitmask {
namespace {

inline __mmask8 mask8(int64_t n) { return n >= 8 ? static_cast<__mmask8>(0xFF) : static_cast<__mmask8>((1u << n) - 1u); }

__attribute__((target("avx512f,avx512vpopcntdq"))) int64_t rectAndCount(const uint64_t* a, const uint64_t* b,
                                                                         int64_t wpr, int64_t y0, int64_t y1,
                                                                         int64_t w0, int64_t w1) {
  __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
  __m512i s2 = _mm512_setzero_si512(), s3 = _mm512_setzero_si512();
  if (w0 == 0 && w1 == wpr) {
    // Whole rows: one contiguous span of (y1 - y0) * wpr words.
    const uint64_t* pa = a + y0 * wpr;
    const uint64_t* pb = b + y0 * wpr;
    const int64_t n = (y1 - y0) * wpr;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
      s0 = _mm512_add_epi64(s0, _mm512_popcnt_epi64(_mm512_and_si512(_mm512_loadu_si512(pa + i), _mm512_loadu_si512(pb + i))));
      s1 = _mm512_add_epi64(s1, _mm512_popcnt_epi64(_mm512_and_si512(_mm512_loadu_si512(pa + i + 8), _mm512_loadu_si512(pb + i + 8))));
      s2 = _mm512_add_epi64(s2, _mm512_popcnt_epi64(_mm512_and_si512(_mm512_loadu_si512(pa + i + 16), _mm512_loadu_si512(pb + i + 16))));
      s3 = _mm512_add_epi64(s3, _mm512_popcnt_epi64(_mm512_and_si512(_mm512_loadu_si512(pa + i + 24), _mm512_loadu_si512(pb + i + 24))));
    }
    for (; i < n; i += 8) {
      const __mmask8 m = mask8(n - i);
      s0 = _mm512_add_epi64(s0, _mm512_popcnt_epi64(_mm512_and_si512(_mm512_maskz_loadu_epi64(m, pa + i),
                                                                     _mm512_maskz_loadu_epi64(m, pb + i))));
    }
  } else if (w1 - w0 <= 8) {
    // Narrow span (the usual case, W <= 512): one masked load per row and mask.
    const __mmask8 m = mask8(w1 - w0);
    const uint64_t* pa = a + y0 * wpr + w0;
    const uint64_t* pb = b + y0 * wpr + w0;
    int64_t y = y0;
    for (; y + 2 <= y1; y += 2, pa += 2 * wpr, pb += 2 * wpr) {
      s0 = _mm512_add_epi64(s0, _mm512_popcnt_epi64(_mm512_and_si512(_mm512_maskz_loadu_epi64(m, pa),
                                                                     _mm512_maskz_loadu_epi64(m, pb))));
      s1 = _mm512_add_epi64(s1, _mm512_popcnt_epi64(_mm512_and_si512(_mm512_maskz_loadu_epi64(m, pa + wpr),
                                                                     _mm512_maskz_loadu_epi64(m, pb + wpr))));
    }
    if (y < y1)
      s0 = _mm512_add_epi64(s0, _mm512_popcnt_epi64(_mm512_and_si512(_mm512_maskz_loadu_epi64(m, pa),
                                                                     _mm512_maskz_loadu_epi64(m, pb))));
  } else {
    for (int64_t y = y0; y < y1; ++y) {
      const uint64_t* pa = a + y * wpr;
      const uint64_t* pb = b + y * wpr;
      for (int64_t w = w0; w < w1; w += 8) {
        const __mmask8 m = mask8(w1 - w);
        s0 = _mm512_add_epi64(s0, _mm512_popcnt_epi64(_mm512_and_si512(_mm512_maskz_loadu_epi64(m, pa + w),
                                                                       _mm512_maskz_loadu_epi64(m, pb + w))));
      }
    }
  }
  const __m512i s = _mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3));
  alignas(64) int64_t lanes[8];
  _mm512_store_si512(reinterpret_cast<__m512i*>(lanes), s);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}

void packRow(const uint8_t* src, int64_t W, uint64_t* dst, int64_t wpr) {
  for (int64_t w = 0; w < wpr; ++w) {
    const int64_t x0 = w * 64, n = W - x0;
    const __mmask64 lm = n >= 64 ? ~static_cast<__mmask64>(0) : ((static_cast<__mmask64>(1) << n) - 1);
    const __m512i v = _mm512_maskz_loadu_epi8(lm, src + x0);
    dst[w] = static_cast<uint64_t>(_mm512_test_epi8_mask(v, v));
  }
}

}  // namespace

namespace detail {
RectAndCountFn rectAndCountAvx512() { return rectAndCount; }
PackRowFn packRowAvx512() { return packRow; }
}  // namespace detail

}  // namespace bitmask
}  // namespace sotr

#else

namespace sotr {
namespace bitmask {
namespace detail {
RectAndCountFn rectAndCountAvx512() { return nullptr; }
PackRowFn packRowAvx512() { return nullptr; }
}  // namespace detail
}  // namespace bitmask
}  // namespace sotr

#endif
