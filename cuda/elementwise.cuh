// CUDA side of the element-wise ops (see native/ops/elementwise.h): grid-stride
// loops; binary ops walk the collapsed broadcast plan; arithmetic uses
// explicitly rounded intrinsics so results equal the CPU twin bit for bit
// (sigmoid aside: expf vs the host's exp may differ in the last bit).
#pragma once
#include "cuda/common.cuh"
