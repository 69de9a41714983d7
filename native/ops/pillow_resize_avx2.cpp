// The pillowResize passes compiled with AVX2. Vertical: the shared body (the
// int32 sums become vpmovzxbd / vpmulld / vpaddd on 8 lanes). Horizontal, 3 and
// 4 channels: one pixel's channels per 128-bit vector (vpmovzxbd of the pixel,
// vpmulld by the broadcast tap weight, vpaddd), then shift and saturating packs
// (the same clip to 0..255). Integer arithmetic: the bytes are the same as the
// baseline copy's.
#define SOTR_PILLOW_RESIZE_KERNEL_BODY
#include "ops/pillow_resize.h"

#if defined(__AVX2__)
#include <immintrin.h>

#include <cstring>
#endif

namespace sotr {
namespace pillow_detail {

#if defined(__AVX2__)
namespace {

inline __m128i loadPixel4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm_cvtepu8_epi32(_mm_cvtsi32_si128(v));
}

inline __m128i loadPixel3(const uint8_t* p) {
  return _mm_cvtepu8_epi32(_mm_cvtsi32_si128(int32_t(p[0]) | int32_t(p[1]) << 8 | int32_t(p[2]) << 16));
}

inline int32_t clipPack(__m128i acc) {
  const __m128i v = _mm_srai_epi32(acc, kPillowPrecisionBits);
  const __m128i w = _mm_packs_epi32(v, v);  // int32 -> int16, saturating
  return _mm_cvtsi128_si32(_mm_packus_epi16(w, w));  // int16 -> uint8, saturating: the clip to 0..255
}

template <int C>
void horizontalRowVec(const uint8_t* src, const PillowTaps& t, uint8_t* dst) {
  const __m128i half = _mm_set1_epi32(1 << (kPillowPrecisionBits - 1));
  const int64_t ks = t.ksize, Wo = t.outSize, W = t.inSize;
  for (int64_t o = 0; o < Wo; ++o) {
    const int32_t s = t.start[o], n = t.count[o];
    const uint8_t* p = src + static_cast<int64_t>(s) * C;
    const int32_t* w = t.weights.data() + o * ks;
    __m128i acc = half;
    // With 3 channels a 4-byte load reads one byte past the pixel: not past the row's last pixel.
    const int32_t safe = C == 4 || s + n < W ? n : n - 1;
    for (int32_t k = 0; k < safe; ++k) acc = _mm_add_epi32(acc, _mm_mullo_epi32(loadPixel4(p + k * C), _mm_set1_epi32(w[k])));
    for (int32_t k = safe; k < n; ++k) acc = _mm_add_epi32(acc, _mm_mullo_epi32(loadPixel3(p + k * C), _mm_set1_epi32(w[k])));
    const int32_t px = clipPack(acc);
    if (C == 4 || o + 1 < Wo) {
      std::memcpy(dst + o * C, &px, 4);  // with 3 channels the 4th byte is the next pixel's, written next
    } else {
      dst[o * C] = static_cast<uint8_t>(px);
      dst[o * C + 1] = static_cast<uint8_t>(px >> 8);
      dst[o * C + 2] = static_cast<uint8_t>(px >> 16);
    }
  }
}

void horizontalRowAvx2(const uint8_t* src, int64_t C, const PillowTaps& t, uint8_t* dst) {
  if (C == 3) horizontalRowVec<3>(src, t, dst);
  else if (C == 4) horizontalRowVec<4>(src, t, dst);
  else pillowHorizontalRowImpl(src, C, t, dst);
}

}  // namespace
#endif

bool avx2Kernels(Kernels* k) {
#if defined(__AVX2__)
  k->horizontal = horizontalRowAvx2;
  k->vertical = pillowVerticalRowImpl;
  return true;
#else
  (void)k;
  return false;
#endif
}

}  // namespace pillow_detail
}  // namespace sotr
