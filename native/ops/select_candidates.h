// selectCandidates (select_candidates.cpp): SOTR post-processing steps 1 and 3
// (sotr-architecture.md §10) on the host, off the JavaScript thread.
//
// Inputs: the class logits of each level, float32 [C, N_l, N_l] or
//         [1, C, N_l, N_l] (1..8 levels, one class count C).
// Attrs:  threshold (number, required): a candidate's probability must be above it;
//         strides (numbers, one per level, required): each candidate's minimum
//         mask area (the level's instance stride), copied to output 4.
//         classes (numbers, optional): only these class indices give candidates,
//         as if every other class's logits were -inf (point NMS is per class,
//         so the kept classes' candidates are unchanged); absent: all classes.
// Outputs (capacity cap = C * sum N_l^2; the first `count` entries are the
// candidates, the rest zero):
//   0 counts int32 [2]: count (candidates) and distinct (their distinct cells)
//   1 cells int32 [cap]: the global cell index (levels concatenated)
//   2 labels int32 [cap]: the class
//   3 scores float32 [cap]: the probability after point NMS
//   4 strides float32 [cap]: the level's stride
//   5 rows int32 [cap]: the candidate's row in output 6 (its cell's rank among
//     the distinct cells)
//   6 distinctCells int32 [sum N_l^2]: the candidates' cells, each once,
//     ascending (the first `distinct` entries, the rest zero)
//
// Per level: p = sigmoid(logit) in float32 with PyTorch's rounding (1 / (1 +
// exp(-x)), each step rounded to float32; exp in double then rounded, as the
// TypeScript version computed it with Math.exp), then point NMS (2x2 max pool
// with the top/left neighbours: keep p where it equals the window's max, else
// 0), then the (cell, class) pairs whose kept value is above the threshold, in
// row-major (cell, class) order: the candidate index order that the sorts of
// later steps use to break ties. Logits too low to reach the threshold skip the
// exp (a lower neighbour never suppresses a candidate). A cell with several
// classes above the threshold gives several candidates with one mask kernel:
// outputs 5 and 6 let the caller compute each distinct cell's mask once (an
// untrained R50 has ~4 candidates a cell). CPU only: a CUDA model
// copies the logits to the host (the model does).
#pragma once

#include "ops/registry.h"

namespace sotr {

// sigmoid(x) as PyTorch rounds it in float32 (and ts/model's old sigmoid32):
// 1 / (1 + exp(-x)), exp computed in double, each step rounded to float32.
float sigmoid32Exact(float x);

}  // namespace sotr
