// matrix_nms: the Matrix NMS of SOLOv2 / SOTR (adet utils.matrix_nms, see
// ../shared/docs/sotr-architecture.md §10) on binary masks.
//
// Inputs: 0 masks, uint8 [n, H, W] (nonzero = set) or bit-packed int32
//           [n, H, 2*wpr] (ops/bitmask.h; attr `width` optionally checks wpr)
//         1 labels int32 [n]
//         2 scores float32 [n], sorted in descending order (else Range error;
//           the CUDA kernel reads them on the device and trusts the caller:
//           the JavaScript matrixNms checks them on the host)
//         3 areas int32 [n]       } optional, both or neither; must describe
//         4 boxes int32 [n, 4]    } the masks (as dynamic_conv_masks gives them)
// Attrs:  kernel 'gaussian' (default) | 'linear', sigma (default 2, >= 0),
//         intersections (bool): also output the intersection counts,
//         algorithm 'auto' | 'popcount' | 'mma' | 'bmma' (CUDA kernel choice).
// Outputs: 0 decayed scores float32 [n]
//          1 (intersections) int32 [n, n]: entry (i, j) = |B_i ∩ B_j| for
//            i < j with label_i == label_j, 0 elsewhere (exact integers).
//
// decay_j = min(1, min over i < j with label_i == label_j of f(IoU_ij, comp_i)),
// comp_i = max over k < i with label_k == label_i of IoU_ki (0 if none),
// gaussian f = exp(-sigma IoU^2) / exp(-sigma comp^2), computed as one
// exp(sigma * min_i(comp_i^2 - IoU_ij^2)) per column; linear f = (1 - IoU) /
// (1 - comp). This equals the reference's column min over all i (its other
// entries are >= 1 and row 0 gives <= 1). A pair with zero union has IoU 0.
// Linear kernel, comp_i = 1 (mask i duplicates a higher-scored mask of its
// class): row i is skipped. The reference gives x/0 = inf there (no effect) or
// 0/0 = NaN when mask j duplicates i too; such a j also duplicates the first
// mask of the group (comp < 1), whose term is 0, so the result is 0 where the
// reference gives NaN.
#pragma once
#include "ops/registry.h"

namespace sotr {

struct MatrixNmsPlan {
  int64_t n = 0, height = 0, wpr = 0;  // wpr: 64-bit words per mask row
  bool dense = false;                  // input 0 is uint8 [n, H, W]
  int64_t width = 0;                   // dense: W; bits: attr width or 64 * wpr
  bool hasStats = false;               // areas and boxes given
  bool gaussian = true;
  float sigma = 2.f;
  bool intersections = false;
  // CUDA intersection kernel (attr `algorithm`): 'auto', 'popcount' (AND +
  // __popc), 'mma' (bits expanded to bytes, int8 tensor cores) or 'bmma'
  // (1-bit tensor cores, AND + popc); the last two need sm_80+. The CPU twin
  // ignores it; the counts are the same integers.
  enum class Algorithm { Auto, Popcount, Mma, Bmma } algorithm = Algorithm::Auto;
};

MatrixNmsPlan planMatrixNms(const OpCall& call);

// Fails with a Range error unless scores are in descending order (no NaN).
void checkSortedScores(const std::string& op, const float* scores, int64_t n);

}  // namespace sotr
