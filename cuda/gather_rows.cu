// CUDA side of gatherRows (see gather_rows.cuh for the design).
#include "cuda/gather_rows.cuh"

#include <algorithm>
#include <climits>
#include <memory>

#include "cuda/common.cuh"
#include "ops/gather_rows.h"
#include "runtime/backend.h"

namespace sotr {
namespace cuda {

namespace {

constexpr int kThreads = 256;

// One vector V per thread and step over the flattened output; I is the index
// type (32-bit when every vector offset fits, to keep the division cheap).
template <typename V, typename I>
__global__ void __launch_bounds__(kThreads)
    gather_rows_kernel(const V* __restrict__ src, V* __restrict__ out, const int32_t* __restrict__ index,
                       I vecsPerRow, I total) {
  const I step = static_cast<I>(gridDim.x) * kThreads;
  for (I e = static_cast<I>(blockIdx.x) * kThreads + threadIdx.x; e < total; e += step) {
    const I r = e / vecsPerRow;
    const I c = e - r * vecsPerRow;
    out[e] = __ldg(src + static_cast<I>(__ldg(index + r)) * vecsPerRow + c);
  }
}

template <typename V>
void launch(const void* src, void* out, const int32_t* index, int64_t m, int64_t rowBytes, int64_t srcRows,
            cudaStream_t stream) {
  const int64_t vecsPerRow = rowBytes / static_cast<int64_t>(sizeof(V));
  const int64_t total = m * vecsPerRow;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(ceil_div<int64_t>(total, kThreads), 1 << 16));
  const V* s = static_cast<const V*>(src);
  V* o = static_cast<V*>(out);
  // 32-bit offsets need room for the last step (e + step) and every source vector.
  if (std::max(total, srcRows * vecsPerRow) + int64_t(blocks) * kThreads <= int64_t(UINT32_MAX))
    gather_rows_kernel<V, uint32_t><<<blocks, kThreads, 0, stream>>>(s, o, index, static_cast<uint32_t>(vecsPerRow),
                                                                     static_cast<uint32_t>(total));
  else
    gather_rows_kernel<V, uint64_t><<<blocks, kThreads, 0, stream>>>(s, o, index, static_cast<uint64_t>(vecsPerRow),
                                                                     static_cast<uint64_t>(total));
  SOTR_CUDA_CHECK_LAUNCH();
}

}  // namespace

void gather_rows(const void* src, void* out, const int32_t* index, int64_t m, int64_t rowBytes, int64_t srcRows,
                 cudaStream_t stream) {
  if (m == 0 || rowBytes == 0) return;
  // The widest vector that divides a row and both bases are aligned to.
  auto fits = [&](int64_t v) {
    return rowBytes % v == 0 && is_aligned(src, static_cast<std::uintptr_t>(v)) &&
           is_aligned(out, static_cast<std::uintptr_t>(v));
  };
  if (fits(16)) launch<uint4>(src, out, index, m, rowBytes, srcRows, stream);
  else if (fits(8)) launch<uint2>(src, out, index, m, rowBytes, srcRows, stream);
  else if (fits(4)) launch<unsigned int>(src, out, index, m, rowBytes, srcRows, stream);
  else launch<unsigned char>(src, out, index, m, rowBytes, srcRows, stream);
}

namespace {

void runGatherRowsCuda(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const GatherRowsPlan p = planGatherRows(call);
  const Tensor& index = call.inputs[1];  // on the host (OpDef::hostInputs)
  checkGatherIndex(call.op, index.data<int32_t>(), p.m, p.n);  // before any launch
  if (p.m == 0 || p.rowBytes == 0) return;
  cudaStream_t stream = static_cast<cudaStream_t>(ctx.stream);
  // The index to the device on the op's stream. CPU storages are pageable, so
  // the driver stages the bytes before cudaMemcpyAsync returns (the host tensor
  // may go once this job ends); the scratch returns to the pool in stream
  // order, after the kernel has read it. On an H100 the whole op (2 KB index,
  // 500 rows of 9.6 KB) took 16 us.
  const size_t indexBytes = static_cast<size_t>(p.m) * sizeof(int32_t);
  std::shared_ptr<Storage> scratch = ctx.backend->allocate(indexBytes);
  SOTR_CUDA_CHECK(cudaMemcpyAsync(scratch->ptr, index.raw(), indexBytes, cudaMemcpyHostToDevice, stream));
  gather_rows(call.inputs[0].raw(), out[0].raw(), static_cast<const int32_t*>(scratch->ptr), p.m, p.rowBytes, p.n,
              stream);
}

CudaRegistrar reg("gatherRows", runGatherRowsCuda);

}  // namespace
}  // namespace cuda
}  // namespace sotr
