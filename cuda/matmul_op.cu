// CUDA side of the matmul op: the shared GEMM core on the device's stream.
#include <cuda_runtime.h>

#include "cuda/gemm.cuh"
#include "ops/matmul.h"

namespace sotr {

static CudaRegistrar reg("matmul", [](const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  MatmulPlan plan = planMatmul(call);
  if (out[0].numel() == 0) return;
  cuda::gemm(bindMatmul(plan, call, out[0]), call.precision, static_cast<cudaStream_t>(ctx.stream));
});

}  // namespace sotr
