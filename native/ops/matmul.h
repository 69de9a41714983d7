// matmul: C = act(alpha * (op(A) op(B) + bias)), batched with broadcast of a
// rank-2 operand. The public face of the shared GEMM core.
#pragma once
#include "ops/registry.h"

namespace sotr {

struct MatmulPlan {
  GemmArgs gemm;  // pointers left null; filled by the backend
  int64_t batch = 1;
  bool batchedA = false, batchedB = false;
  Shape outShape;
};

MatmulPlan planMatmul(const OpCall& call);
// Fills pointers and strides of plan.gemm for the given tensors.
GemmArgs bindMatmul(const MatmulPlan& plan, const OpCall& call, const Tensor& out);
Activation parseActivation(const std::string& op, const Attrs& attrs, float* slope);

}  // namespace sotr
