// AVX2 + FMA post-processing of dynamic_conv_masks and dynamic_conv's sigmoid,
// for CPUs without AVX-512: 8 logits per compare give 8 mask bits (movemask);
// sigmoid (vector exp, ~1 ulp) only where some bit is set. The exp is the
// AVX-512 file's arithmetic with 2^n applied in two exact halves instead of
// vscalefps, so the values are the same in float32's normal range.
// No std:: templates here (see native/gemm/gemm_kernel_avx2.cpp).
#include "ops/dynamic_conv.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include "gemm/avx2_lanes.h"

namespace sotr {
namespace dynconv_detail {
namespace {

// 2^n for integral n in [-252, 254], as the product of two powers of two that each
// fit the exponent field (rounding only where the result is subnormal).
inline __m256 pow2(__m256 n) {
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i h = _mm256_srai_epi32(ni, 1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 a = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
  const __m256 b = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), bias), 23));
  return _mm256_mul_ps(a, b);
}

// exp(x): the AVX-512 file's expPs (Cody-Waite by ln 2, degree-7 Taylor on
// |r| <= ln2/2), clamped to [-120, 120] (exp(120) overflows to inf as expf).
inline __m256 expPs(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(120.f), _mm256_max_ps(_mm256_set1_ps(-120.f), x));  // NaN stays NaN
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
  __m256 q = _mm256_set1_ps(1.f / 5040.f);
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.f / 720.f));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.f / 120.f));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.f / 24.f));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.f / 6.f));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.5f));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.f));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(1.f));
  return _mm256_mul_ps(q, pow2(n));
}

inline __m256 sigmoidPs(__m256 v) {
  const __m256 one = _mm256_set1_ps(1.f);
  return _mm256_div_ps(one, _mm256_add_ps(one, expPs(_mm256_sub_ps(_mm256_setzero_ps(), v))));
}

void maskChunk(const ChunkArgs& a) {
  const __m256 thr = _mm256_set1_ps(a.logitThr);
  const int64_t W = a.W;
  for (int64_t m = 0; m < a.count; ++m) {
    for (int64_t r = 0; r < a.rows; ++r) {
      const float* l = a.logits + m * a.ld + r * W;
      uint64_t* wrow = a.bits + m * a.maskPitch + r * a.wpr;
      __m256 acc = _mm256_setzero_ps();
      int64_t rowArea = 0, first = -1, last = -1;
      for (int64_t w = 0; w < a.wpr; ++w) {
        uint64_t word = 0;
        const int64_t x0 = w * 64;
        for (int q = 0; q < 8; ++q) {
          const int64_t x = x0 + 8 * q, n = W - x;
          if (n <= 0) break;
          // Lanes past the row are loaded as 0 and masked out of the compare.
          const __m256i lm = avx2::firstLanes(n);
          const __m256 v = _mm256_maskload_ps(l + x, lm);
          const __m256 gt = _mm256_and_ps(_mm256_cmp_ps(v, thr, _CMP_GT_OQ), _mm256_castsi256_ps(lm));
          const unsigned k = static_cast<unsigned>(_mm256_movemask_ps(gt));
          if (!k) continue;
          word |= static_cast<uint64_t>(k) << (8 * q);
          acc = _mm256_add_ps(acc, _mm256_and_ps(gt, sigmoidPs(v)));
        }
        wrow[w] = word;
        if (word) {
          rowArea += __builtin_popcountll(word);
          if (first < 0) first = x0 + __builtin_ctzll(word);
          last = x0 + 63 - __builtin_clzll(word);
        }
      }
      addRow(a, m, r, rowArea, avx2::hsum(acc), first, last);
    }
  }
}

void sigmoidInPlace(float* p, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(p + i, sigmoidPs(_mm256_loadu_ps(p + i)));
  if (i < n) {
    const __m256i lm = avx2::firstLanes(n - i);
    _mm256_maskstore_ps(p + i, lm, sigmoidPs(_mm256_maskload_ps(p + i, lm)));
  }
}

}  // namespace

MaskChunkFn maskChunkAvx2() { return maskChunk; }
SigmoidFn sigmoidAvx2() { return sigmoidInPlace; }

}  // namespace dynconv_detail
}  // namespace sotr

#else

namespace sotr {
namespace dynconv_detail {
MaskChunkFn maskChunkAvx2() { return nullptr; }
SigmoidFn sigmoidAvx2() { return nullptr; }
}  // namespace dynconv_detail
}  // namespace sotr

#endif
