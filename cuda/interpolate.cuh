// CUDA side of interpolate (see native/ops/interpolate.h): one thread per
// output element, the index math in double and the blend in float with
// explicitly rounded operations (__dmul_rn, __fmaf_rn, ...) so no contraction
// changes a bit: the result equals the CPU twin (and PyTorch) exactly.
#pragma once
#include "cuda/common.cuh"
