// gatherKernels: see gather_kernels.h.
#include "ops/gather_kernels.h"

#include <string>
#include <vector>

#include "runtime/thread_pool.h"

namespace sotr {
namespace {

constexpr int64_t kMaxLevels = 8;

struct Plan {
  int64_t n = 0, D = 0, cells = 0;
  std::vector<int64_t> start, size;  // first global cell and N_l^2 per level
};

Plan plan(const OpCall& call) {
  const std::string& op = call.op;
  Plan p;
  const Tensor& cells = call.inputs[0];
  expectDefined(op, "cells", cells);
  expectDType(op, "cells", cells, DType::I32);
  expectRank(op, "cells", cells, 1);
  p.n = cells.size(0);
  for (size_t l = 1; l < call.inputs.size(); ++l) {
    const Tensor& t = call.inputs[l];
    const std::string arg = "kernel[" + std::to_string(l - 1) + "]";
    expectDefined(op, arg, t);
    expectDType(op, arg, t, DType::F32);
    const bool ok = (t.dim() == 3 || (t.dim() == 4 && t.size(0) == 1)) && t.size(-1) == t.size(-2) && t.size(-1) >= 1 &&
                    t.size(-3) >= 1;
    if (!ok) fail(ErrorKind::Shape, op + ": " + arg + " must be [D, N, N] or [1, D, N, N] with D, N >= 1, received " + shapeStr(t.shape));
    const int64_t d = t.size(-3);
    if (l == 1) p.D = d;
    else if (d != p.D)
      fail(ErrorKind::Shape, op + ": every level must have the same kernel size D, kernel[0] has " + std::to_string(p.D) + ", " +
                                 arg + " has " + std::to_string(d));
    p.start.push_back(p.cells);
    p.size.push_back(t.size(-1) * t.size(-1));
    p.cells += t.size(-1) * t.size(-1);
  }
  return p;
}

void runCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const Plan p = plan(call);
  const int32_t* cells = call.inputs[0].data<int32_t>();
  for (int64_t i = 0; i < p.n; ++i)
    if (cells[i] < 0 || cells[i] >= p.cells)
      fail(ErrorKind::Range, call.op + ": cells[" + std::to_string(i) + "] = " + std::to_string(cells[i]) +
                                 " is outside the levels' " + std::to_string(p.cells) + " cells");
  float* dst = out[0].data<float>();
  const int64_t L = static_cast<int64_t>(p.start.size()), D = p.D;
  auto rows = [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      int64_t l = L - 1;
      while (p.start[l] > cells[i]) --l;
      const float* k = call.inputs[l + 1].data<float>();
      const int64_t nn = p.size[l], cell = cells[i] - p.start[l];
      float* o = dst + i * D;
      for (int64_t d = 0; d < D; ++d) o[d] = k[d * nn + cell];
    }
  };
  if (ctx.pool && ctx.pool->size() > 1 && p.n * D > 65536) ctx.pool->parallelFor(p.n, 64, rows);
  else rows(0, p.n);
}

OpRegistrar reg(OpDef{"gatherKernels", 2, 1 + kMaxLevels,
                      [](const OpCall& call) {
                        const Plan p = plan(call);
                        return std::vector<TensorSpec>{{DType::F32, {p.n, p.D}}};
                      },
                      runCpu, nullptr});

}  // namespace
}  // namespace sotr
