// CUDA side of groupNorm (see native/ops/group_norm.h). Three launches:
//  1. per (sample, group) chunk: count, mean and centred sum of squares (double);
//  2. per (sample, group): Chan's merge of the chunks -> mean, 1/sqrt(var + eps);
//  3. y = (float)(x * a + b), a = rstd * gamma[c], b = beta[c] - mean * a, in
//     double with the CPU twin's rounding order, then the activation.
#pragma once
#include "cuda/common.cuh"
