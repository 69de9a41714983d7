// Lane masks and horizontal reductions for 8-lane AVX loops, shared by the
// AVX2 kernels (the AVX2 twin of ops/avx512_lanes.h). Include only from files
// compiled with the AVX2 flags (*_avx2.cpp); `static` keeps each copy local
// to its file so no AVX2 code can be picked for a baseline caller.
#pragma once
#include <cstdint>
#include <immintrin.h>

namespace sotr {
namespace avx2 {

// Lanes [a, b) of 8, clipped to [0, 8), as a vmaskmov / blend mask.
static inline __m256i laneRange(int64_t a, int64_t b) {
  a = a < 0 ? 0 : a > 8 ? 8 : a;
  b = b < 0 ? 0 : b > 8 ? 8 : b;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(a)), lane),
                             _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(b)), lane));
}

// The first min(n, 8) lanes.
static inline __m256i firstLanes(int64_t n) {
  const int c = n <= 0 ? 0 : n >= 8 ? 8 : static_cast<int>(n);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

}  // namespace avx2
}  // namespace sotr
