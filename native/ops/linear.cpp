#include "ops/linear.h"

#include "gemm/gemm_cpu.h"
#include "ops/matmul.h"

namespace sotr {

LinearPlan planLinear(const OpCall& call) {
  const std::string& op = call.op;
  LinearPlan p;
  const Tensor& x = call.inputs[0];
  const Tensor& w = call.inputs[1];
  expectDType(op, "x", x, DType::F32);
  expectDType(op, "weight", w, DType::F32);
  if (x.dim() < 1) fail(ErrorKind::Shape, op + ": x must be [..., in], received " + shapeStr(x.shape));
  if (w.dim() != 2) fail(ErrorKind::Shape, op + ": weight must be [out, in], received " + shapeStr(w.shape));
  const int64_t in = x.shape.back();
  if (w.size(1) != in)
    fail(ErrorKind::Shape, op + ": weight " + shapeStr(w.shape) + " must have " + std::to_string(in) +
                               " input features for x " + shapeStr(x.shape));
  const int64_t outF = w.size(0);
  GemmArgs& g = p.gemm;
  g.M = in ? x.numel() / in : 1;
  if (!in) {
    g.M = 1;
    for (int64_t d = 0; d + 1 < x.dim(); ++d) g.M *= x.shape[d];
  }
  g.N = outF;
  g.K = in;
  g.lda = std::max<int64_t>(in, 1);
  g.transB = true;
  g.ldb = std::max<int64_t>(in, 1);
  g.ldc = std::max<int64_t>(outF, 1);
  if (call.inputs.size() > 2 && call.inputs[2].defined()) {
    expectDType(op, "bias", call.inputs[2], DType::F32);
    expectShape(op, "bias", call.inputs[2], {outF});
    p.hasBias = true;
  }
  g.ep.channelAxis = 1;
  g.ep.act = parseActivation(op, call.attrs, &g.ep.slope);
  p.outShape = x.shape;
  p.outShape.back() = outF;
  return p;
}

GemmArgs bindLinear(const LinearPlan& p, const OpCall& call, const Tensor& out) {
  GemmArgs g = p.gemm;
  g.A = call.inputs[0].data<float>();
  g.B = call.inputs[1].data<float>();
  g.C = out.data<float>();
  if (p.hasBias) g.ep.bias = call.inputs[2].data<float>();
  return g;
}

static OpRegistrar reg(OpDef{
    "linear", 2, 3,
    [](const OpCall& call) { return std::vector<TensorSpec>{{DType::F32, planLinear(call).outShape}}; },
    [](const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
      const LinearPlan p = planLinear(call);
      if (out[0].numel() == 0) return;
      gemmF32(bindLinear(p, call, out[0]), ctx.pool, call.precision);
    },
    nullptr});

}  // namespace sotr
