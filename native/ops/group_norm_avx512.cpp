// AVX-512 kernels of groupNorm: the statistics of one group in one read of
// memory, and the normalise + affine + activation pass. Compiled with the
// AVX-512 flags of CMakeLists.txt; the caller dispatches on activeSimdLevel().
// No std:: templates here (see native/gemm/gemm_kernel_avx512.cpp).
//
// Statistics: chunkedGroupStats (group_norm_stats.h) with AVX-512 sweeps. Memory
// is read once for the statistics instead of twice, and each sweep keeps four
// independent 16-lane accumulators, so it runs at load throughput rather than
// at the latency of one add chain.
#include "ops/group_norm.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512DQ__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "ops/avx512_lanes.h"
#include "ops/group_norm_stats.h"

namespace sotr {
namespace detail {
namespace {


inline double sumToDouble(__m512 v) {
  const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
  const __m512d hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
  return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}

// Sum of (p[i] - centre) over [0, n).
inline double sumShifted(const float* p, int64_t n, float centre) {
  const __m512 k = _mm512_set1_ps(centre);
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_sub_ps(_mm512_loadu_ps(p + i), k));
    a1 = _mm512_add_ps(a1, _mm512_sub_ps(_mm512_loadu_ps(p + i + 16), k));
    a2 = _mm512_add_ps(a2, _mm512_sub_ps(_mm512_loadu_ps(p + i + 32), k));
    a3 = _mm512_add_ps(a3, _mm512_sub_ps(_mm512_loadu_ps(p + i + 48), k));
  }
  for (; i + 16 <= n; i += 16) a0 = _mm512_add_ps(a0, _mm512_sub_ps(_mm512_loadu_ps(p + i), k));
  if (i < n) {
    const __mmask16 m = avx512::firstLanes(n - i);
    a1 = _mm512_mask_add_ps(a1, m, a1, _mm512_sub_ps(_mm512_maskz_loadu_ps(m, p + i), k));
  }
  return sumToDouble(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

// Sum of (p[i] - centre)^2 over [0, n).
inline double sumSquares(const float* p, int64_t n, float centre) {
  const __m512 k = _mm512_set1_ps(centre);
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(p + i), k);
    const __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(p + i + 16), k);
    const __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(p + i + 32), k);
    const __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(p + i + 48), k);
    a0 = _mm512_fmadd_ps(d0, d0, a0);
    a1 = _mm512_fmadd_ps(d1, d1, a1);
    a2 = _mm512_fmadd_ps(d2, d2, a2);
    a3 = _mm512_fmadd_ps(d3, d3, a3);
  }
  for (; i + 16 <= n; i += 16) {
    const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(p + i), k);
    a0 = _mm512_fmadd_ps(d, d, a0);
  }
  if (i < n) {
    const __mmask16 m = avx512::firstLanes(n - i);
    const __m512 d = _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, p + i), k);
    a1 = _mm512_fmadd_ps(d, d, a1);
  }
  return sumToDouble(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

void groupStatsAvx512(const float* x, int64_t len, double* meanOut, double* varOut) {
  chunkedGroupStats(x, len, meanOut, varOut, [](const float* p, int64_t n, float c) { return sumShifted(p, n, c); },
                    [](const float* p, int64_t n, float c) { return sumSquares(p, n, c); });
}

template <int Act>  // 0 none, 1 relu, 2 leaky relu
inline __m512 normalise(__m512 v, __m512 k, __m512 va, __m512 vb, __m512 vs) {
  v = _mm512_fmadd_ps(_mm512_sub_ps(v, k), va, vb);
  if (Act == 1) return _mm512_max_ps(_mm512_setzero_ps(), v);  // NaN and -0 pass, as torch.relu
  if (Act == 2) return _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), v, vs);
  return v;
}

template <int Act>
void normaliseRow(const float* x, float* y, int64_t n, float centre, float a, float b, float slope) {
  const __m512 k = _mm512_set1_ps(centre), va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
  const __m512 vs = _mm512_set1_ps(slope);
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512 v0 = normalise<Act>(_mm512_loadu_ps(x + i), k, va, vb, vs);
    const __m512 v1 = normalise<Act>(_mm512_loadu_ps(x + i + 16), k, va, vb, vs);
    const __m512 v2 = normalise<Act>(_mm512_loadu_ps(x + i + 32), k, va, vb, vs);
    const __m512 v3 = normalise<Act>(_mm512_loadu_ps(x + i + 48), k, va, vb, vs);
    _mm512_storeu_ps(y + i, v0);
    _mm512_storeu_ps(y + i + 16, v1);
    _mm512_storeu_ps(y + i + 32, v2);
    _mm512_storeu_ps(y + i + 48, v3);
  }
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, normalise<Act>(_mm512_loadu_ps(x + i), k, va, vb, vs));
  if (i < n) {
    const __mmask16 m = avx512::firstLanes(n - i);
    _mm512_mask_storeu_ps(y + i, m, normalise<Act>(_mm512_maskz_loadu_ps(m, x + i), k, va, vb, vs));
  }
}

void groupNormRowAvx512(const float* x, float* y, int64_t n, float centre, float a, float b, Activation act,
                        float slope) {
  if (act == Activation::Relu) normaliseRow<1>(x, y, n, centre, a, b, slope);
  else if (act == Activation::LeakyRelu) normaliseRow<2>(x, y, n, centre, a, b, slope);
  else normaliseRow<0>(x, y, n, centre, a, b, slope);
}

}  // namespace

GroupNormKernels groupNormAvx512() { return GroupNormKernels{groupStatsAvx512, groupNormRowAvx512}; }

}  // namespace detail
}  // namespace sotr

#else

namespace sotr {
namespace detail {
GroupNormKernels groupNormAvx512() { return GroupNormKernels{}; }
}  // namespace detail
}  // namespace sotr

#endif
