// deformConv2d: modulated deformable convolution (DCNv2, detectron2 / mmcv
// ModulatedDeformConv semantics), NCHW:
//   inputs x [N, C, H, W], offset [N, 2*DG*kh*kw, Ho, Wo], mask [N, DG*kh*kw, Ho, Wo]
//   (optional: absent = DCNv1), weight [O, C/groups, kh, kw], then bias, scale,
//   shift, residual as conv2d (same epilogue).
// Offsets: for deformable group dg and tap t = i*kw + j, channel (dg*kh*kw + t)*2
// is dy and +1 is dx; mask channel dg*kh*kw + t. Input channel c belongs to
// deformable group c / (C / DG). Sampling position
//   (oy*sh - ph + i*dh + dy, ox*sw - pw + j*dw + dx),
// bilinear, zero when not (h > -1 && w > -1 && h < H && w < W), each corner only
// when inside; value = (w1*v1 + w2*v2 + w3*v3 + w4*v4) * mask.
#pragma once
#include <cmath>
#include <cstdint>

#include "ops/conv2d.h"

namespace sotr {

struct DeformPlan {
  Conv2dPlan conv;  // geometry + epilogue (weight in slot 3, bias from slot 4)
  int64_t deformGroups = 1;
  bool hasMask = false;
};

DeformPlan planDeformConv2d(const OpCall& call);

// One bilinear sample of a deformable tap: 4 corner offsets into the channel
// plane (-1: outside, contributes 0) and weights, times the modulation.
struct DeformSample {
  int32_t idx[4];
  float w[4];
  float m;
};

inline DeformSample deformSample(float h, float w, int64_t H, int64_t W, float m) {
  DeformSample s;
  s.m = m;
  if (!(h > -1.f && w > -1.f && h < static_cast<float>(H) && w < static_cast<float>(W))) {
    for (int k = 0; k < 4; ++k) {
      s.idx[k] = -1;
      s.w[k] = 0.f;
    }
    return s;
  }
  const float hlf = std::floor(h), wlf = std::floor(w);
  const int64_t hl = static_cast<int64_t>(hlf), wl = static_cast<int64_t>(wlf);
  const float lh = h - hlf, lw = w - wlf, hh = 1.f - lh, hw = 1.f - lw;
  s.w[0] = hh * hw;
  s.w[1] = hh * lw;
  s.w[2] = lh * hw;
  s.w[3] = lh * lw;
  s.idx[0] = hl >= 0 && wl >= 0 ? static_cast<int32_t>(hl * W + wl) : -1;
  s.idx[1] = hl >= 0 && wl + 1 <= W - 1 ? static_cast<int32_t>(hl * W + wl + 1) : -1;
  s.idx[2] = hl + 1 <= H - 1 && wl >= 0 ? static_cast<int32_t>((hl + 1) * W + wl) : -1;
  s.idx[3] = hl + 1 <= H - 1 && wl + 1 <= W - 1 ? static_cast<int32_t>((hl + 1) * W + wl + 1) : -1;
  return s;
}

// Structure-of-arrays samples of `n` (tap, pixel) entries, as the column
// builder keeps them; deformRow fills dst[q] = value of sample q.
struct DeformSamples {
  const int32_t* idx[4];
  const float* w[4];
  const float* m;
};
namespace deform_detail {
// deform_conv2d_avx512.cpp (16 samples per step, masked gathers, the same
// rounding as the scalar loop); false when built without AVX-512.
bool deformRowAvx512(const DeformSamples& s, int64_t n, const float* plane, float* dst);
}  // namespace deform_detail

inline float deformValue(const DeformSample& s, const float* plane) {
  const float v1 = s.idx[0] >= 0 ? plane[s.idx[0]] : 0.f;
  const float v2 = s.idx[1] >= 0 ? plane[s.idx[1]] : 0.f;
  const float v3 = s.idx[2] >= 0 ? plane[s.idx[2]] : 0.f;
  const float v4 = s.idx[3] >= 0 ? plane[s.idx[3]] : 0.f;
  return (s.w[0] * v1 + s.w[1] * v2 + s.w[2] * v3 + s.w[3] * v4) * s.m;
}

}  // namespace sotr
