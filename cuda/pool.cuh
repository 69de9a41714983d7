// CUDA side of maxPool2d / avgPool2d (see native/ops/pool.h): one thread per
// output element, the same window walk and summation order as the CPU twin.
#pragma once
#include "cuda/common.cuh"
