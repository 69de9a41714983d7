// Lane masks for AVX-512 loops over rows (include only from *_avx512.cpp).
// static: each AVX-512 translation unit keeps its own copy.
#pragma once
#include <cstdint>
#include <immintrin.h>

namespace sotr {
namespace avx512 {

// Lanes [a, b) of 16, clipped to [0, 16).
static inline __mmask16 laneRange(int64_t a, int64_t b) {
  if (a < 0) a = 0;
  if (b > 16) b = 16;
  if (b <= a) return 0;
  const unsigned hi = b >= 16 ? 0xFFFFu : ((1u << b) - 1u);
  const unsigned lo = (1u << a) - 1u;
  return static_cast<__mmask16>(hi & ~lo);
}

// The first min(n, 16) lanes.
static inline __mmask16 firstLanes(int64_t n) { return laneRange(0, n); }

}  // namespace avx512
}  // namespace sotr
