// The sampling loop of deformConv2d's column builder with AVX-512: 16 samples
// per step, four masked gathers (a corner outside the input is not read and
// counts 0), then ((w1*v1 + w2*v2) + w3*v3) + w4*v4, times the modulation,
// with explicitly rounded operations (no contraction into FMA), so the result
// equals the scalar loop's (and the CUDA kernel's) bit for bit.
// Compiled with AVX-512 flags; reached only through activeSimdLevel(). No
// out-of-line std:: templates in here.
#include "ops/deform_conv2d.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512DQ__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

namespace sotr {
namespace deform_detail {

bool deformRowAvx512(const DeformSamples& s, int64_t n, const float* plane, float* dst) {
  constexpr int R = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  for (int64_t q = 0; q < n; q += 16) {
    const __mmask16 tail = n - q >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - q)) - 1u);
    __m512 acc = _mm512_setzero_ps();
    for (int k = 0; k < 4; ++k) {
      const __m512i idx = _mm512_maskz_loadu_epi32(tail, s.idx[k] + q);
      const __mmask16 in = tail & _mm512_cmpge_epi32_mask(idx, _mm512_setzero_si512());
      const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), in, idx, plane, 4);
      const __m512 prod = _mm512_mul_round_ps(_mm512_maskz_loadu_ps(tail, s.w[k] + q), v, R);
      acc = k == 0 ? prod : _mm512_add_round_ps(acc, prod, R);
    }
    acc = _mm512_mul_round_ps(acc, _mm512_maskz_loadu_ps(tail, s.m + q), R);
    _mm512_mask_storeu_ps(dst + q, tail, acc);
  }
  return true;
}

}  // namespace deform_detail
}  // namespace sotr

#else

namespace sotr {
namespace deform_detail {
bool deformRowAvx512(const DeformSamples&, int64_t, const float*, float*) { return false; }
}  // namespace deform_detail
}  // namespace sotr

#endif
