// rankCandidates (rank_candidates.cpp): SOTR post-processing steps 7-9
// (sotr-architecture.md §10) on the host, off the JavaScript thread: the mask
// area filter, the maskness rescoring, the sort and the nmsPre cut, and the
// gather of the kept masks for Matrix NMS.
//
// Inputs (n candidates, in candidate index order):
//   0 scores float32 [n]    (selectCandidates' probabilities)
//   1 strides float32 [n]   (minimum mask area per candidate)
//   2 labels int32 [n]
//   3 areas int32 [n]       } the binary masks as dynamicConvMasks gives them
//   4 softSums float32 [n]  }
//   5 masks int32 [n, H, W2] (bit-packed rows, any W2), optional: absent (or
//     any H * W2 = 0), nothing is gathered and output 6 is [m, 0, 0], for
//     callers that gather the kept masks where they are (gatherRows(masks,
//     order) on the device)
//   6 boxes int32 [n, 4]
// Attrs: nmsPre (integer >= 1, default: no cut).
// Outputs (capacity m = min(n, nmsPre); the first `kept` entries are the
// result, the rest zero):
//   0 counts int32 [2]: candidates after the area filter, and kept = min(that, nmsPre)
//   1 order int32 [m]: candidate indices (rows of the inputs), by rescored score
//     descending, then index ascending
//   2 scores float32 [m]: the rescored scores, in that order
//   3 labels int32 [m], 4 areas int32 [m], 5 softSums float32 [m], 6 masks int32 [m, H, W2],
//   7 boxes int32 [m, 4]: gathered (the kept masks, ready for Matrix NMS)
//
// Float32 semantics of the TypeScript version it replaced: a candidate is kept
// when float32(area) > stride; its score is f32(score * f32(softSum / f32(area)))
// (each operation in double, rounded to float32). A NaN score sorts after every
// number (NaNs by index). CPU only.
#pragma once

#include "ops/registry.h"
