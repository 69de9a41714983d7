// pillowResize(x, size [h, w], mean?, std?, padMultiple?): Pillow's
// Image.resize(size, BILINEAR) on 8-bit images, bit for bit (Pillow 9.4,
// libImaging/Resample.c), on the host.
//
// x: uint8 [H, W, C] (interleaved pixels, C 1..4, each channel resampled on its
// own: Pillow's L, RGB, RGBX and CMYK modes; Pillow premultiplies the alpha of
// LA/RGBA images first, which this op does not do).
// Output: uint8 [h, w, C]; or, when `mean` and `std` (C numbers each) are given,
// the network input: float32 [1, C, Hp, Wp] with (v - mean[c]) / std[c] in
// float32 (as the PyTorch reference computes it) and zeros up to Hp, Wp, the
// size rounded up to a multiple of `padMultiple` (default 1).
//
// Attr `toBgr` ('rgb' | 'bgr'): convert to 3-channel BGR as Pillow's
// convert('RGB') + detectron2's BGR flip would, from pixels whose colour
// channels are in that order: C = 1 or 2 grey (+ alpha) replicated to the three
// channels, C = 3 reordered, C = 4 alpha (the 4th channel) dropped. The output
// then has 3 channels (and mean/std 3 numbers). Channels are resampled
// independently, so converting after the resample (what the op does, reading
// the source channel of each output channel) gives the bytes of converting
// first: the JavaScript thread passes decoded pixels as they are.
//
// The algorithm (Pillow's separable "resample" with its triangle filter, whose
// support grows with the downscale factor, i.e. antialiased): per output index
// a window of input taps, double weights normalised to sum 1, converted to
// 22-bit fixed point ((int)(0.5 + k * 2^22)), accumulated in int32 from a
// rounding bias of 2^21, shifted right by 22 and clipped to 0..255. The
// horizontal pass runs first (when the width changes) into a uint8 image, which
// the vertical pass (when the height changes) reads; a pass whose size does not
// change is skipped. The taps are computed in the baseline translation unit (no
// FMA contraction can change a weight); the passes are integer arithmetic, so
// the scalar and AVX2 copies of the kernels give the same bytes.
//
// CPU only (host preprocessing): there is no CUDA kernel.
#pragma once
#include <cstdint>
#include <vector>

#include "ops/registry.h"

namespace sotr {

constexpr int kPillowPrecisionBits = 22;

// The taps of one axis: for output index o, count[o] input indices from
// start[o], weights[o * ksize .. + count[o]) (the rest of the ksize slots 0).
struct PillowTaps {
  int64_t inSize = 0, outSize = 0, ksize = 0;
  std::vector<int32_t> start, count, weights;
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the BILINEAR filter.
PillowTaps pillowBilinearTaps(int64_t inSize, int64_t outSize);

struct PillowResizePlan {
  int64_t H = 0, W = 0, C = 0, Ho = 0, Wo = 0;
  // Output channels and the source channel of each (identity unless toBgr).
  int64_t Cout = 0;
  int map[4] = {0, 1, 2, 3};
  bool identity = true;
  bool normalize = false;
  float mean[4] = {0, 0, 0, 0}, stdev[4] = {1, 1, 1, 1};
  int64_t padMultiple = 1, Hp = 0, Wp = 0;
  TensorSpec out;
};

PillowResizePlan planPillowResize(const OpCall& call);

namespace pillow_detail {
// One row of the horizontal pass: src row of W pixels -> dst row of t.outSize.
using HorizontalRowFn = void (*)(const uint8_t* src, int64_t C, const PillowTaps& t, uint8_t* dst);
// One row of the vertical pass: n taps, rows base + k * stride (k < n), weights w -> dst (stride bytes).
using VerticalRowFn = void (*)(const uint8_t* base, int64_t stride, const int32_t* w, int64_t n, uint8_t* dst);
struct Kernels {
  HorizontalRowFn horizontal = nullptr;
  VerticalRowFn vertical = nullptr;
};
// The kernels compiled with AVX2 (pillow_resize_avx2.cpp); false when that file
// was built without its flags.
bool avx2Kernels(Kernels* k);
}  // namespace pillow_detail

}  // namespace sotr

// The kernel bodies, compiled into pillow_resize.cpp (baseline) and
// pillow_resize_avx2.cpp (AVX2). Static, so the two copies never merge at link
// time. Integer arithmetic only: every copy gives the same bytes.
#ifdef SOTR_PILLOW_RESIZE_KERNEL_BODY
#include <algorithm>

namespace {

inline uint8_t pillowClip8(int32_t acc) {
  const int32_t v = acc >> sotr::kPillowPrecisionBits;  // arithmetic shift, as Pillow
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

template <int C>
void pillowHorizontalRowC(const uint8_t* src, const sotr::PillowTaps& t, uint8_t* dst) {
  const int32_t half = 1 << (sotr::kPillowPrecisionBits - 1);
  const int64_t ks = t.ksize;
  for (int64_t o = 0; o < t.outSize; ++o) {
    const uint8_t* s = src + static_cast<int64_t>(t.start[o]) * C;
    const int32_t* w = t.weights.data() + o * ks;
    const int32_t n = t.count[o];
    int32_t acc[C];
    for (int c = 0; c < C; ++c) acc[c] = half;
    for (int32_t k = 0; k < n; ++k) {
      const int32_t wk = w[k];
      for (int c = 0; c < C; ++c) acc[c] += static_cast<int32_t>(s[k * C + c]) * wk;
    }
    for (int c = 0; c < C; ++c) dst[o * C + c] = pillowClip8(acc[c]);
  }
}

void pillowHorizontalRowImpl(const uint8_t* src, int64_t C, const sotr::PillowTaps& t, uint8_t* dst) {
  switch (C) {
    case 1: pillowHorizontalRowC<1>(src, t, dst); break;
    case 2: pillowHorizontalRowC<2>(src, t, dst); break;
    case 3: pillowHorizontalRowC<3>(src, t, dst); break;
    default: pillowHorizontalRowC<4>(src, t, dst); break;
  }
}

// Blocks of 256 bytes: the int32 sums stay in L1 while the taps stream through.
void pillowVerticalRowImpl(const uint8_t* base, int64_t stride, const int32_t* w, int64_t n, uint8_t* dst) {
  constexpr int64_t B = 256;
  alignas(64) int32_t acc[B];
  const int32_t half = 1 << (sotr::kPillowPrecisionBits - 1);
  for (int64_t i0 = 0; i0 < stride; i0 += B) {
    const int64_t m = std::min(B, stride - i0);
    for (int64_t i = 0; i < m; ++i) acc[i] = half;
    for (int64_t k = 0; k < n; ++k) {
      const uint8_t* r = base + k * stride + i0;
      const int32_t wk = w[k];
      for (int64_t i = 0; i < m; ++i) acc[i] += static_cast<int32_t>(r[i]) * wk;
    }
    for (int64_t i = 0; i < m; ++i) dst[i0 + i] = pillowClip8(acc[i]);
  }
}

}  // namespace
#endif
