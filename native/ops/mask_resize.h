// resizeMasks (mask_resize.cpp): soft masks [n, fh, fw] float32 -> binary
// masks at the original image size, bit-packed int32 [n, H0, 2*ceil(W0/64)],
// through the official two bilinear resizes (x ratio, crop [h, w], to
// [H0, W0]) and the threshold. Attrs: ratio, crop [h, w], size [H0, W0],
// threshold (default 0.5). Second output int32 [n, 5]: area, x0, y0, x1, y1
// (box of the set pixels, ends exclusive; zeros when empty). CPU only
// (post-processing runs on the host).
#pragma once

#include "ops/registry.h"
