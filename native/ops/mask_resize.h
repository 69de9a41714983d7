// resizeMasks (mask_resize.cpp): soft masks [n, fh, fw] float32 -> binary
// masks at the original image size, bit-packed int32 [n, H0, 2*ceil(W0/64)],
// through the official two bilinear resizes (x ratio, crop [h, w], to
// [H0, W0]) and the threshold. Attrs: ratio, crop [h, w], size [H0, W0],
// threshold (default 0.5). Second output int32 [n, 5]: area, x0, y0, x1, y1
// (box of the set pixels, ends exclusive; zeros when empty). CPU twin here,
// CUDA twin in cuda/mask_resize.cu (bit-identical).
#pragma once

#include "ops/registry.h"

namespace sotr {

// A checked resizeMasks call and what both twins derive from it (one place, so
// they cannot disagree on a flag or a rounding).
struct ResizeMasksPlan {
  int64_t n = 0, fh = 0, fw = 0, ratio = 1, h = 0, w = 0, H0 = 0, W0 = 0, words = 0;
  double threshold = 0.5;
  int64_t ch = 0, cw = 0;         // rows / columns of the first resize's output that the crop keeps
  bool cl1 = false, cl2 = false;  // torch's channels-last blend in the first / second resize
  float thr = 0.5f;               // the threshold in float32, as torch compares
  // Only outputs whose span reaches a source pixel above boxThr can exceed thr.
  float boxThr = 0.f;
};

ResizeMasksPlan planResizeMasks(const OpCall& call);

}  // namespace sotr
