// interpolate(x, size | scaleFactor, mode 'bilinear' | 'nearest', alignCorners)
// NCHW, reproducing torch.nn.functional.interpolate (PyTorch 1.13, CPU, float32)
// bit for bit on contiguous NCHW tensors:
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
//  - for C == 1 or 1x1 maps (tensors that are also channels-last contiguous)
//    torch runs its channels-last kernel: same indices and weights, another
//    blend (bilinearChannelsLast below).
#pragma once
#include <cmath>
#include <cstdint>

#include "ops/registry.h"

namespace sotr {

struct InterpolatePlan {
  int64_t N = 0, C = 0, H = 0, W = 0, Ho = 0, Wo = 0;
  bool bilinear = true, alignCorners = false;
  double scaleH = 0, scaleW = 0;  // scale factors as given (0: from the sizes)
  bool channelsLast = false;      // torch's channels-last kernel (and blend) applies
  Shape outShape;
};

InterpolatePlan planInterpolate(const OpCall& call);

// at::Tensor::is_contiguous(ChannelsLast) of an NCHW tensor given its sizes and
// strides: torch's upsample runs its channels-last kernel for such inputs.
inline bool channelsLastContiguous(const int64_t (&size)[4], const int64_t (&stride)[4]) {
  int64_t expected = 1;
  for (int d : {1, 3, 2, 0}) {
    if (size[d] == 1) continue;
    if (stride[d] != expected) return false;
    expected *= size[d];
  }
  return true;
}

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
// Bilinear over a window of one plane, blended as torch's NCHW kernel does:
// outputs rows x cols at y (row stride ldy) from the taps th[0..rows) and
// tw[0..cols), whose indices are absolute rows / columns of x (row stride ldx).
// The horizontal pass covers the input rows [r0, r1] (only those with
// rowNeeded[h - r0] when rowNeeded is given) into tmp ((r1 - r0 + 1) x cols),
// then each output row blends two of them. Picks the AVX2 + FMA copy when the
// CPU has it (the results are the same bits).
void bilinearWindow(const float* x, int64_t ldx, const LinearTap* th, int64_t rows, const LinearTap* tw, int64_t cols,
                    int64_t r0, int64_t r1, const char* rowNeeded, float* tmp, float* y, int64_t ldy);
bool bilinearWindowAvx2(const float* x, int64_t ldx, const LinearTap* th, int64_t rows, const LinearTap* tw,
                        int64_t cols, int64_t r0, int64_t r1, const char* rowNeeded, float* tmp, float* y,
                        int64_t ldy);  // false: not compiled in

// The blend of torch's channels-last kernel, which it runs for NCHW inputs that
// are also channels-last contiguous (C == 1, or 1x1 maps): the four weights
// multiplied in float32, the four products summed in double, rounded once.
inline float bilinearChannelsLast(float x00, float x01, float x10, float x11, const LinearTap& h, const LinearTap& w) {
  const float w00 = h.l0 * w.l0, w01 = h.l0 * w.l1, w10 = h.l1 * w.l0, w11 = h.l1 * w.l1;
  return static_cast<float>(static_cast<double>(x00) * w00 + static_cast<double>(x01) * w01 +
                            static_cast<double>(x10) * w10 + static_cast<double>(x11) * w11);
}
}  // namespace interp_detail

}  // namespace sotr

// The kernel body, compiled into interpolate.cpp (baseline: std::fma from
// libm) and interpolate_avx2.cpp (FMA instructions). Static, so the two
// copies never merge at link time.
#ifdef SOTR_INTERPOLATE_KERNEL_BODY
static void bilinearWindowImpl(const float* x, int64_t ldx, const sotr::LinearTap* th, int64_t rows,
                               const sotr::LinearTap* tw, int64_t cols, int64_t r0, int64_t r1, const char* rowNeeded,
                               float* tmp, float* y, int64_t ldy) {
  for (int64_t h = r0; h <= r1; ++h) {
    if (rowNeeded && !rowNeeded[h - r0]) continue;
    const float* xr = x + h * ldx;
    float* tr = tmp + (h - r0) * cols;
    for (int64_t j = 0; j < cols; ++j) tr[j] = __builtin_fmaf(xr[tw[j].i0], tw[j].l0, xr[tw[j].i1] * tw[j].l1);
  }
  for (int64_t i = 0; i < rows; ++i) {
    const float* t0 = tmp + (th[i].i0 - r0) * cols;
    const float* t1 = tmp + (th[i].i1 - r0) * cols;
    const float l0 = th[i].l0, l1 = th[i].l1;
    float* yr = y + i * ldy;
    for (int64_t j = 0; j < cols; ++j) yr[j] = __builtin_fmaf(t0[j], l0, t1[j] * l1);
  }
}
#endif
