// linear(x, weight, bias?, activation): torch.nn.Linear layout.
//   x [..., in], weight [out, in], bias [out] -> [..., out]
//   y = act(x · weightᵀ + bias), one GEMM over all leading dims (M = their product).
#pragma once
#include "gemm/gemm_args.h"
#include "ops/registry.h"

namespace sotr {

struct LinearPlan {
  GemmArgs gemm;  // pointers null
  Shape outShape;
  bool hasBias = false;
};

LinearPlan planLinear(const OpCall& call);
GemmArgs bindLinear(const LinearPlan& p, const OpCall& call, const Tensor& out);

}  // namespace sotr
