// The conv epilogue on one 16-lane vector of an output row, shared by the
// Winograd F(2x2) and F(4x4) AVX-512 output transforms (include only from
// *_avx512.cpp; static inline: each translation unit keeps its own copy).
// ((v + bias) * scale + shift) * alpha, then + beta * residual, then the
// activation, rounded step by step as native/gemm/gemm_args.h defines it.
#pragma once
#include <immintrin.h>

#include "gemm/gemm_args.h"

namespace sotr {
namespace conv_detail {

struct EpilogueLanes {
  const GemmEpilogue& ep;
  __m512 alpha, beta, slope;
  bool sigmoid;
  __m512 bias, scale, shift;  // of the current output channel (setChannel)

  explicit EpilogueLanes(const GemmEpilogue& e)
      : ep(e),
        alpha(_mm512_set1_ps(e.alpha)),
        beta(_mm512_set1_ps(e.beta)),
        slope(_mm512_set1_ps(e.slope)),
        sigmoid(e.act == Activation::Sigmoid),
        bias(_mm512_setzero_ps()),
        scale(_mm512_set1_ps(1.f)),
        shift(_mm512_setzero_ps()) {}

  void setChannel(int64_t o) {
    bias = _mm512_set1_ps(ep.bias ? ep.bias[o] : 0.f);
    scale = _mm512_set1_ps(ep.scale ? ep.scale[o] : 1.f);
    shift = _mm512_set1_ps(ep.shift ? ep.shift[o] : 0.f);
  }

  // Stores the lanes of `mask` of epilogue(v) at dst; res: the residual at the same place, or null.
  void store(float* dst, const float* res, __mmask16 mask, __m512 v) const {
    __m512 t = _mm512_mul_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_add_ps(v, bias), scale), shift), alpha);
    if (res) t = _mm512_add_ps(t, _mm512_mul_ps(beta, _mm512_maskz_loadu_ps(mask, res)));
    if (sigmoid) {
      alignas(64) float tmp[16];
      _mm512_store_ps(tmp, t);
      for (int i = 0; i < 16; ++i) tmp[i] = 1.f / (1.f + __builtin_expf(-tmp[i]));
      t = _mm512_load_ps(tmp);
    } else if (ep.act == Activation::Relu) {
      t = _mm512_max_ps(_mm512_setzero_ps(), t);  // NaN and -0 pass, as torch.relu
    } else if (ep.act == Activation::LeakyRelu) {
      const __mmask16 neg = _mm512_cmp_ps_mask(t, _mm512_setzero_ps(), _CMP_LE_OQ);
      t = _mm512_mask_mul_ps(t, neg, t, slope);  // t > 0 ? t : t * slope
    }
    _mm512_mask_storeu_ps(dst, mask, t);
  }

  // Output row oh of image n, channel o (setChannel(o) first), from column ow0: H vectors v[h] of 16 columns, each
  // stored under mk[h] (the first empty mask ends the row). Out is [N, O, Ho, Wo].
  template <int H>
  void storeRow(float* out, int64_t n, int64_t o, int64_t oh, int64_t ow0, int64_t O, int64_t Wo, int64_t P,
                const __mmask16 (&mk)[H], const __m512 (&v)[H]) const {
    const int64_t p0 = oh * Wo + ow0;
    float* dst = out + (n * O + o) * P + p0;
    const float* res = ep.residual ? ep.residual + n * ep.strideR + o * ep.ldr + p0 : nullptr;
    for (int h = 0; h < H; ++h) {
      if (!mk[h]) break;
      store(dst + 16 * h, res ? res + 16 * h : nullptr, mk[h], v[h]);
    }
  }
};

}  // namespace conv_detail
}  // namespace sotr
