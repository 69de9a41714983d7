// interpolate(x, size | scaleFactor, mode 'bilinear' | 'nearest', alignCorners)
// NCHW, reproducing torch.nn.functional.interpolate (PyTorch 1.13, CPU, float32)
// bit for bit on NCHW tensors with C > 1 and H*W > 1:
//  - output size: `size`, or floor(in * scaleFactor) (double);
//  - scale per axis: (float)(1.0 / scaleFactor) when a scale factor is given
//    (the scale_factor path: recompute_scale_factor unset), else (float)in / out;
//  - bilinear source index in double: max(scale * (dst + 0.5) - 0.5, 0)
//    (align_corners: scale = (float)(in - 1) / (out - 1), src = scale * dst),
//    i0 = (int)src, i1 = i0 + (i0 < in - 1), l1 = (float)(src - i0), l0 = 1 - l1;
//    out == in copies; the blend is fma(x00, l0w, x01 * l1w) per row, then
//    fma(top, l0h, bottom * l1h), as torch's compiled kernel does;
//  - nearest: out == in copies, out == 2 in takes dst >> 1, else
//    min(floor((float)dst * scale), in - 1).
// (For C == 1 or 1x1 maps torch runs its channels-last kernel, whose blend
// rounds differently in the last bit; the indices and weights are the same.)
#pragma once
#include <cmath>
#include <cstdint>

#include "ops/registry.h"

namespace sotr {

struct InterpolatePlan {
  int64_t N = 0, C = 0, H = 0, W = 0, Ho = 0, Wo = 0;
  bool bilinear = true, alignCorners = false;
  double scaleH = 0, scaleW = 0;  // scale factors as given (0: from the sizes)
  Shape outShape;
};

InterpolatePlan planInterpolate(const OpCall& call);

// Source index and weights of one output index along one axis (bilinear).
struct LinearTap {
  int64_t i0, i1;
  float l0, l1;
};

inline float interpAxisScale(int64_t in, int64_t out, double scaleFactor, bool alignCorners) {
  if (alignCorners) return out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.f;
  if (scaleFactor > 0) return static_cast<float>(1.0 / scaleFactor);
  return static_cast<float>(in) / static_cast<float>(out);
}

inline LinearTap linearTap(int64_t dst, int64_t in, int64_t out, float scale, bool alignCorners) {
  LinearTap t;
  if (out == in) {
    t.i0 = t.i1 = dst;
    t.l0 = 1.f;
    t.l1 = 0.f;
    return t;
  }
  double src;
  if (alignCorners) {
    src = static_cast<double>(scale) * static_cast<double>(dst);
  } else {
    src = static_cast<double>(scale) * (static_cast<double>(dst) + 0.5) - 0.5;
    if (src < 0) src = 0;
  }
  t.i0 = static_cast<int64_t>(src);
  t.i1 = t.i0 + (t.i0 < in - 1 ? 1 : 0);
  t.l1 = static_cast<float>(src - static_cast<double>(t.i0));
  t.l0 = 1.f - t.l1;
  return t;
}

inline int64_t nearestIndex(int64_t dst, int64_t in, int64_t out, double scaleFactor) {
  if (out == in) return dst;
  if (out == 2 * in) return dst >> 1;
  const float scale = interpAxisScale(in, out, scaleFactor, false);
  const int64_t s = static_cast<int64_t>(std::floor(static_cast<float>(dst) * scale));
  return s < in - 1 ? s : in - 1;
}

namespace interp_detail {
// Bilinear over `planes` planes: the horizontal pass for each input row a
// vertical tap reads (rowNeeded) into tmp (H x Wo), then the vertical blend.
// The _avx2 variant is the same code compiled with FMA instructions.
bool bilinearPlanesAvx2(const InterpolatePlan& p, const LinearTap* th, const LinearTap* tw, const char* rowNeeded,
                        const float* x, float* y, int64_t planes, float* tmp);  // false: not compiled in
}  // namespace interp_detail

}  // namespace sotr

// The kernel body, compiled into interpolate.cpp (baseline: std::fma from
// libm) and interpolate_avx2.cpp (FMA instructions). Static, so the two
// copies never merge at link time.
#ifdef SOTR_INTERPOLATE_KERNEL_BODY
static void bilinearPlanesImpl(const sotr::InterpolatePlan& p, const sotr::LinearTap* th, const sotr::LinearTap* tw,
                               const char* rowNeeded, const float* x, float* y, int64_t planes, float* tmp) {
  const int64_t H = p.H, W = p.W, Ho = p.Ho, Wo = p.Wo;
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* xp = x + pl * H * W;
    float* yp = y + pl * Ho * Wo;
    for (int64_t h = 0; h < H; ++h) {
      if (!rowNeeded[h]) continue;
      const float* xr = xp + h * W;
      float* tr = tmp + h * Wo;
      for (int64_t j = 0; j < Wo; ++j) tr[j] = __builtin_fmaf(xr[tw[j].i0], tw[j].l0, xr[tw[j].i1] * tw[j].l1);
    }
    for (int64_t i = 0; i < Ho; ++i) {
      const float* t0 = tmp + th[i].i0 * Wo;
      const float* t1 = tmp + th[i].i1 * Wo;
      const float l0 = th[i].l0, l1 = th[i].l1;
      float* yr = yp + i * Wo;
      for (int64_t j = 0; j < Wo; ++j) yr[j] = __builtin_fmaf(t0[j], l0, t1[j] * l1);
    }
  }
}
#endif
