// gatherRows (gather_rows.cpp, cuda/gather_rows.cu): out[i] = src[index[i]],
// rows taken along dim 0 and copied as bytes.
//
// Inputs: 0 src int32 | uint8 | float32 [n, ...] (rank >= 1, on any device)
//         1 index int32 [m], on the host (CPU) whatever src's device: each
//           entry in [0, n), repeats allowed
// Output: [m, ...] (src's dtype and trailing dims), on src's device.
//
// Why the index lives on the host: its callers compute it there (the kept
// candidates of rankCandidates), and every entry is checked on the host before
// anything is written, on every device, with the same Range error naming the
// op. A device-side index could only be checked by a synchronize (or silently
// clamped). The CUDA kernel copies the m * 4 index bytes to the device on the
// op's stream itself, so the caller does not copy it (and does not wait).
#pragma once

#include <cstdint>
#include <string>

#include "ops/registry.h"

namespace sotr {

struct GatherRowsPlan {
  int64_t n = 0, m = 0;
  int64_t rowBytes = 0;  // bytes of one row: numel of src.shape[1:] * dtype size
};

GatherRowsPlan planGatherRows(const OpCall& call);

// Range error naming the op and the first entry outside [0, n).
void checkGatherIndex(const std::string& op, const int32_t* index, int64_t m, int64_t n);

}  // namespace sotr
