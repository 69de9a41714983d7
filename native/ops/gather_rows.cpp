// gatherRows: see gather_rows.h.
#include "ops/gather_rows.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/thread_pool.h"

namespace sotr {

GatherRowsPlan planGatherRows(const OpCall& call) {
  const std::string& op = call.op;
  const Tensor& src = call.inputs[0];
  const Tensor& index = call.inputs[1];
  expectDefined(op, "src", src);
  expectDefined(op, "index", index);
  if (src.dtype != DType::I32 && src.dtype != DType::U8 && src.dtype != DType::F32)
    fail(ErrorKind::DType, op + ": src must be int32, uint8 or float32, received " + dtypeName(src.dtype));
  if (src.dim() < 1) fail(ErrorKind::Shape, op + ": src must have at least 1 dimension (rows along dim 0), received a scalar");
  expectDType(op, "index", index, DType::I32);
  expectRank(op, "index", index, 1);
  GatherRowsPlan p;
  p.n = src.size(0);
  p.m = index.size(0);
  p.rowBytes = static_cast<int64_t>(dtypeSize(src.dtype));
  for (int64_t d = 1; d < src.dim(); ++d) p.rowBytes *= src.size(d);
  return p;
}

void checkGatherIndex(const std::string& op, const int32_t* index, int64_t m, int64_t n) {
  for (int64_t i = 0; i < m; ++i)
    if (index[i] < 0 || index[i] >= n)
      fail(ErrorKind::Range, op + ": index[" + std::to_string(i) + "] = " + std::to_string(index[i]) +
                                 " is outside src's " + std::to_string(n) + " rows");
}

namespace {

void runCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const GatherRowsPlan p = planGatherRows(call);
  const int32_t* index = call.inputs[1].data<int32_t>();
  checkGatherIndex(call.op, index, p.m, p.n);  // before any write
  if (p.m == 0 || p.rowBytes == 0) return;
  const char* src = static_cast<const char*>(call.inputs[0].raw());
  char* dst = static_cast<char*>(out[0].raw());
  const size_t per = static_cast<size_t>(p.rowBytes);
  auto rows = [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) std::memcpy(dst + i * p.rowBytes, src + static_cast<int64_t>(index[i]) * p.rowBytes, per);
  };
  // Threads only pay off from about a megabyte; chunks of ~64 KB.
  if (ctx.pool && ctx.pool->size() > 1 && p.m * p.rowBytes > (int64_t(1) << 20))
    ctx.pool->parallelFor(p.m, std::max<int64_t>(1, (int64_t(1) << 16) / p.rowBytes), rows);
  else rows(0, p.m);
}

OpDef def() {
  OpDef d{"gatherRows", 2, 2,
          [](const OpCall& call) {
            const GatherRowsPlan p = planGatherRows(call);
            Shape s = call.inputs[0].shape;
            s[0] = p.m;
            return std::vector<TensorSpec>{{call.inputs[0].dtype, s}};
          },
          runCpu, nullptr};
  d.hostInputs = 1u << 1;  // the index
  return d;
}

OpRegistrar reg(def());

}  // namespace
}  // namespace sotr
