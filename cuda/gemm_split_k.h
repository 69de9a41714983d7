// Split-K choice of the CUDA GEMM core (cuda/gemm.cuh), plain C++ so the CPU
// tests check it.
//
// A GEMM with few output tiles and a deep K (the twin transformer's 3x3 convs
// on 12x24..40x80 grids: 20-100 tiles of 64x64 on a 132-SM card, K = 2304)
// leaves most SMs idle while each CTA walks K alone: on an H100 such a conv
// took 0.22 ms at ~2 TFLOP/s. Split-K gives each of S CTAs a contiguous run
// of k-tiles; they write partial sums to a workspace and a second kernel adds
// the S partials in split order (deterministic) and runs the real epilogue.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "../native/runtime/env.h"

namespace sotr {
namespace cuda {
namespace gemm_core {

struct SplitKChoice {
  int splits = 1;          // CTAs along K per output tile (grid.z)
  int kTilesPerSplit = 0;  // k-tiles each split walks (the last may walk fewer)
};

// tiles: output-tile CTAs of the launch without split (batches included);
// kTiles: k-tiles of the whole K; slots: CTAs the device runs at once
// (SMs x CTAs per SM); minKTiles: fewest k-tiles worth a split of its own;
// outFloats: floats of one partial-sum copy of C (all batches);
// maxWorkspaceFloats: the workspace budget; forced: < 0 auto, 0 or 1 off,
// >= 2 that many splits where K allows (tests, tuning).
inline SplitKChoice choose_split_k(int64_t tiles, int kTiles, int64_t slots, int minKTiles, int64_t outFloats,
                                   int64_t maxWorkspaceFloats, int forced) {
  SplitKChoice c;
  c.kTilesPerSplit = std::max(kTiles, 0);
  if (kTiles < 2 || tiles <= 0 || outFloats <= 0 || forced == 0 || forced == 1) return c;
  int64_t s;
  if (forced >= 2) {
    s = std::min<int64_t>(forced, kTiles);
  } else {
    // Only when the tiles fill less than half of the device's CTA slots:
    // beyond that the partials' extra traffic outweighs the idle SMs won.
    if (2 * tiles > slots) return c;
    s = std::min<int64_t>(slots / tiles, kTiles / std::max(minKTiles, 1));
    s = std::min<int64_t>(s, 32);
  }
  s = std::min<int64_t>(s, maxWorkspaceFloats / outFloats);
  if (s < 2) return c;
  const int per = static_cast<int>((kTiles + s - 1) / s);
  c.splits = (kTiles + per - 1) / per;  // no split left empty
  c.kTilesPerSplit = per;
  if (c.splits < 2) c = SplitKChoice{1, kTiles};
  return c;
}

// SOTR_GEMM_SPLIT_K: unset = auto, 0 = off, N >= 2 = force N (read once).
inline int split_k_override() {
  static const int v = static_cast<int>(env::integer("SOTR_GEMM_SPLIT_K", -1, 0, 64));
  return v;
}

}  // namespace gemm_core
}  // namespace cuda
}  // namespace sotr
