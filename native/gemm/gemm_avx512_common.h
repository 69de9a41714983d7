// Shared by the AVX-512 GEMM kernel sources (gemm_kernel_avx512.cpp, float32,
// and gemm_kernel_avx512_bf16.cpp): the tile and blocking, masks, the zmm / ymm
// vector traits and the fused epilogue. Include only from sources compiled with
// the AVX-512 flags.
// Everything is in an anonymous namespace: each kernel source gets its own
// copy, so the linker never mixes copies compiled for different ISAs.
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "gemm/gemm_cpu.h"

namespace sotr {
namespace gemm_detail {
namespace avx512_common {
namespace {

// 12 x 32 microtile: 24 zmm accumulators + 2 B vectors + 1 broadcast = 27 of
// 32 registers. Per k: 2 vector loads, 12 broadcasts, 24 FMAs (float32) or
// 24 VDPBF16PS (bfloat16, two k each).
constexpr int MR = 12;
constexpr int NV = 2;  // zmm vectors per row
constexpr int NR = 16 * NV;
constexpr int KC = 384;  // A micro-panel 12*384*4 = 18 KiB (L1); B block 384*NC*4 (L2)
constexpr int NC = 512;
// C tiles are prefetched into L2 at the start of a microkernel call (T1
// measured ~1-2% better than T0 or none on Zen 4: the B stream would evict
// them from L1 anyway). auto: GCC's _MM_HINT_T1 is an enum _mm_hint, Clang's a plain int
// (Clang has no _mm_hint type).
constexpr auto kCPrefetch = _MM_HINT_T1;

inline __mmask16 maskN(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF)
                 : n <= 0 ? static_cast<__mmask16>(0)
                          : static_cast<__mmask16>((1u << n) - 1u);
}

// Vector traits: the microkernel is written once for 16-lane zmm and 8-lane
// ymm (AVX-512VL masks) vectors. ymm tiles serve narrow N remainders: Zen 4
// and most AVX-512 cores run two ymm FMAs per cycle but one zmm.
struct Zmm {
  using V = __m512;
  using M = __mmask16;
  static constexpr int L = 16;
  static M mask(int64_t n) { return maskN(n); }
  static M all() { return static_cast<M>(0xFFFF); }
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V loadz(M k, const float* p) { return _mm512_maskz_loadu_ps(k, p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static void storem(float* p, M k, V v) { _mm512_mask_storeu_ps(p, k, v); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  // max returns the 2nd operand for NaN, matching "v > 0 ? v : 0". (The
  // masked form avoids a GCC 12 -Wmaybe-uninitialized false positive.)
  static V relu(V v) { return _mm512_max_ps(zero(), v); }  // "v < 0 ? 0 : v": NaN, -0 pass
  static V leaky(V v, float s) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero(), _CMP_GT_OQ), mul(v, set1(s)), v);
  }
};

struct Ymm {
  using V = __m256;
  using M = __mmask8;
  static constexpr int L = 8;
  static M mask(int64_t n) { return static_cast<M>(maskN(n < 8 ? n : 8)); }
  static M all() { return static_cast<M>(0xFF); }
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V loadz(M k, const float* p) { return _mm256_maskz_loadu_ps(k, p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static void storem(float* p, M k, V v) { _mm256_mask_storeu_ps(p, k, v); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V relu(V v) { return _mm256_max_ps(zero(), v); }
  static V leaky(V v, float s) {
    return _mm256_mask_blend_ps(_mm256_cmp_ps_mask(v, zero(), _CMP_GT_OQ), mul(v, set1(s)), v);
  }
};

// Epilogue on one vector of C at (row, col..); lanes outside mask k are not
// loaded from the channel/residual arrays. Same order as applyEpilogueScalar,
// separate mul and add (no FMA) so a given accumulator rounds identically.
template <class T>
inline typename T::V applyEpi(typename T::V v, const EpiCtx& e, int64_t row, int64_t col, typename T::M k) {
  if (e.bias) v = T::add(v, e.axis == 0 ? T::set1(e.bias[row]) : T::loadz(k, e.bias + col));
  if (e.scale) v = T::mul(v, e.axis == 0 ? T::set1(e.scale[row]) : T::loadz(k, e.scale + col));
  if (e.shift) v = T::add(v, e.axis == 0 ? T::set1(e.shift[row]) : T::loadz(k, e.shift + col));
  if (e.alpha != 1.f) v = T::mul(v, T::set1(e.alpha));
  if (e.res) v = T::add(v, T::mul(T::set1(e.beta), T::loadz(k, e.res + row * e.ldr + col)));
  if (e.act == static_cast<int>(Activation::Relu)) v = T::relu(v);
  else if (e.act == static_cast<int>(Activation::LeakyRelu)) v = T::leaky(v, e.slope);
  return v;
}

inline void sigmoidInPlace(float* p, int n) {
  for (int i = 0; i < n; ++i) p[i] = 1.f / (1.f + __builtin_expf(-p[i]));
}

}  // namespace
}  // namespace avx512_common
}  // namespace gemm_detail
}  // namespace sotr
