// AVX-512 post-processing of dynamic_conv_masks: 16 logits per compare give
// 16 mask bits; sigmoid (vector exp, ~1 ulp) only where some bit is set.
// No std:: templates here (see native/gemm/gemm_kernel_avx512.cpp).
#include "ops/dynamic_conv.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

namespace sotr {
namespace dynconv_detail {
namespace {

// exp(x) for float32 lanes: Cody-Waite reduction by ln 2, degree-7 Taylor
// polynomial on |r| <= ln2/2 (truncation < 1e-8), scalef for 2^n (overflow to
// inf, underflow to 0 as expf).
inline __m512 expPs(__m512 x) {
  x = _mm512_min_ps(_mm512_set1_ps(120.f), _mm512_max_ps(_mm512_set1_ps(-120.f), x));  // NaN stays NaN
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
  __m512 q = _mm512_set1_ps(1.f / 5040.f);
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.f / 720.f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.f / 120.f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.f / 24.f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.f / 6.f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.5f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.f));
  q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(q, n);
}

void maskChunk(const ChunkArgs& a) {
  const __m512 thr = _mm512_set1_ps(a.logitThr);
  const __m512 one = _mm512_set1_ps(1.f);
  const int64_t W = a.W;
  for (int64_t m = 0; m < a.count; ++m) {
    for (int64_t r = 0; r < a.rows; ++r) {
      const float* l = a.logits + m * a.ld + r * W;
      uint64_t* wrow = a.bits + m * a.maskPitch + r * a.wpr;
      __m512 acc = _mm512_setzero_ps();
      int64_t rowArea = 0, first = -1, last = -1;
      for (int64_t w = 0; w < a.wpr; ++w) {
        uint64_t word = 0;
        const int64_t x0 = w * 64;
        for (int q = 0; q < 4; ++q) {
          const int64_t x = x0 + 16 * q, n = W - x;
          if (n <= 0) break;
          const __mmask16 lm = n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
          const __m512 v = _mm512_maskz_loadu_ps(lm, l + x);
          const __mmask16 k = _mm512_mask_cmp_ps_mask(lm, v, thr, _CMP_GT_OQ);
          if (!k) continue;
          word |= static_cast<uint64_t>(k) << (16 * q);
          const __m512 e = expPs(_mm512_sub_ps(_mm512_setzero_ps(), v));
          acc = _mm512_mask_add_ps(acc, k, acc, _mm512_div_ps(one, _mm512_add_ps(one, e)));
        }
        wrow[w] = word;
        if (word) {
          rowArea += __builtin_popcountll(word);
          if (first < 0) first = x0 + __builtin_ctzll(word);
          last = x0 + 63 - __builtin_clzll(word);
        }
      }
      addRow(a, m, r, rowArea, _mm512_reduce_add_ps(acc), first, last);
    }
  }
}

void sigmoidInPlace(float* p, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 lm = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512 v = _mm512_maskz_loadu_ps(lm, p + i);
    const __m512 e = expPs(_mm512_sub_ps(_mm512_setzero_ps(), v));
    _mm512_mask_storeu_ps(p + i, lm, _mm512_div_ps(one, _mm512_add_ps(one, e)));
  }
}

}  // namespace

MaskChunkFn maskChunkAvx512() { return maskChunk; }
SigmoidFn sigmoidAvx512() { return sigmoidInPlace; }

}  // namespace dynconv_detail
}  // namespace sotr

#else

namespace sotr {
namespace dynconv_detail {
MaskChunkFn maskChunkAvx512() { return nullptr; }
SigmoidFn sigmoidAvx512() { return nullptr; }
}  // namespace dynconv_detail
}  // namespace sotr

#endif
