// CUDA side of gatherRows (native/ops/gather_rows.h): one launch copies all m
// rows. The host index (checked on the host first) goes to a device scratch
// on the op's stream; then each thread copies one vector of the flattened
// output, so a warp reads and writes consecutive bytes of a row (coalesced):
// 16-byte vectors when the row size and both base pointers allow it, else 8,
// 4 or 1 bytes.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace sotr {
namespace cuda {

// out[i * rowBytes ..] = src[index[i] * rowBytes ..] for i < m; `index` in
// device memory, each entry already known to be a valid row of src.
void gather_rows(const void* src, void* out, const int32_t* index, int64_t m, int64_t rowBytes, int64_t srcRows,
                 cudaStream_t stream);

}  // namespace cuda
}  // namespace sotr
