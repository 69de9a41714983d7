// 8 x 8 float transpose in AVX registers, shared by the AVX2 GEMM kernels and
// the AVX2 attention core. Include only from files compiled with the AVX2
// flags (*_avx2.cpp); `static` keeps each copy local to its file so no AVX2
// code can be picked for a baseline caller.
#pragma once
#include <immintrin.h>

namespace sotr {
namespace avx2 {

// r[i][j] -> r[j][i]: unpack 32-bit pairs, then 64-bit pairs (shuffles), then swap 128-bit halves.
static inline void transpose8(__m256 (&r)[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  // u[4q + c], 128-bit half b = column 4b + c of rows 4q..4q+3.
  for (int q = 0; q < 2; ++q) {
    u[4 * q + 0] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * q + 1] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * q + 2] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * q + 3] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
    r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
  }
}

}  // namespace avx2
}  // namespace sotr
