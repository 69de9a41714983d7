// AVX2 byte -> bit packing of a mask row (bitmask::pack) for CPUs without
// AVX-512: 32 bytes per compare with zero, their sign bits by vpmovmskb; the
// row's last partial 32 bytes are copied to a zero-padded buffer first, so
// nothing past the row is read. No std:: templates here (see
// native/gemm/gemm_kernel_avx2.cpp).
#include "ops/bitmask.h"

#if defined(__x86_64__) && defined(__AVX2__)
#include <immintrin.h>

namespace sotr {
namespace bitmask {
namespace {

// Bit i of the result: byte i of p[0..32) is nonzero.
inline uint32_t nonzero32(const uint8_t* p) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i zero = _mm256_cmpeq_epi8(v, _mm256_setzero_si256());
  return ~static_cast<uint32_t>(_mm256_movemask_epi8(zero));
}

void packRow(const uint8_t* src, int64_t W, uint64_t* dst, int64_t wpr) {
  for (int64_t w = 0; w < wpr; ++w) {
    uint64_t word = 0;
    for (int h = 0; h < 2; ++h) {
      const int64_t x = w * 64 + 32 * h, n = W - x;
      if (n <= 0) break;
      uint32_t bits;
      if (n >= 32) {
        bits = nonzero32(src + x);
      } else {
        alignas(32) uint8_t tail[32] = {};
        for (int64_t i = 0; i < n; ++i) tail[i] = src[x + i];
        bits = nonzero32(tail);
      }
      word |= static_cast<uint64_t>(bits) << (32 * h);
    }
    dst[w] = word;
  }
}

}  // namespace

namespace detail {
PackRowFn packRowAvx2() { return packRow; }
}  // namespace detail

}  // namespace bitmask
}  // namespace sotr

#else

namespace sotr {
namespace bitmask {
namespace detail {
PackRowFn packRowAvx2() { return nullptr; }
}  // namespace detail
}  // namespace bitmask
}  // namespace sotr

#endif
