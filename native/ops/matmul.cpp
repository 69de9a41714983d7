#include "ops/matmul.h"

#include "gemm/gemm_cpu.h"
#include "runtime/thread_pool.h"

namespace sotr {

Activation parseActivation(const std::string& op, const Attrs& attrs, float* slope) {
  const std::string a = attrs.string(op, "activation", "none");
  *slope = static_cast<float>(attrs.number(op, "negativeSlope", 0.01));
  if (a == "none") return Activation::None;
  if (a == "relu") return Activation::Relu;
  if (a == "leakyRelu") return Activation::LeakyRelu;
  if (a == "sigmoid") return Activation::Sigmoid;
  fail(ErrorKind::Range, op + ": activation must be 'none', 'relu', 'leakyRelu' or 'sigmoid', received '" + a + "'");
}

MatmulPlan planMatmul(const OpCall& call) {
  const std::string& op = call.op;
  const Tensor& a = call.inputs[0];
  const Tensor& b = call.inputs[1];
  expectDType(op, "a", a, DType::F32);
  expectDType(op, "b", b, DType::F32);
  if (a.dim() < 2 || a.dim() > 3) fail(ErrorKind::Shape, op + ": a must be [M, K] or [B, M, K], received " + shapeStr(a.shape));
  if (b.dim() < 2 || b.dim() > 3) fail(ErrorKind::Shape, op + ": b must be [K, N] or [B, K, N], received " + shapeStr(b.shape));
  MatmulPlan p;
  const bool ta = call.attrs.flag(op, "transA", false);
  const bool tb = call.attrs.flag(op, "transB", false);
  p.batchedA = a.dim() == 3;
  p.batchedB = b.dim() == 3;
  const int64_t ba = p.batchedA ? a.size(0) : 1, bb = p.batchedB ? b.size(0) : 1;
  if (p.batchedA && p.batchedB && ba != bb)
    fail(ErrorKind::Shape, op + ": batch sizes differ: a " + shapeStr(a.shape) + ", b " + shapeStr(b.shape));
  p.batch = p.batchedA ? ba : bb;
  const int64_t M = ta ? a.size(-1) : a.size(-2), Ka = ta ? a.size(-2) : a.size(-1);
  const int64_t Kb = tb ? b.size(-1) : b.size(-2), N = tb ? b.size(-2) : b.size(-1);
  if (Ka != Kb)
    fail(ErrorKind::Shape, op + ": inner dimensions differ: a " + shapeStr(a.shape) + (ta ? " (transposed)" : "") +
                               ", b " + shapeStr(b.shape) + (tb ? " (transposed)" : ""));
  GemmArgs& g = p.gemm;
  g.M = M;
  g.N = N;
  g.K = Ka;
  g.transA = ta;
  g.transB = tb;
  g.lda = a.size(-1);
  g.ldb = b.size(-1);
  g.ldc = N;
  g.batch = p.batch;
  g.strideA = p.batchedA ? a.size(-1) * a.size(-2) : 0;
  g.strideB = p.batchedB ? b.size(-1) * b.size(-2) : 0;
  g.strideC = M * N;
  if (call.inputs.size() > 2 && call.inputs[2].defined()) {
    expectDType(op, "bias", call.inputs[2], DType::F32);
    expectShape(op, "bias", call.inputs[2], {N});
    g.ep.channelAxis = 1;
  }
  g.ep.alpha = static_cast<float>(call.attrs.number(op, "alpha", 1.0));
  g.ep.act = parseActivation(op, call.attrs, &g.ep.slope);
  p.outShape = (p.batchedA || p.batchedB) ? Shape{p.batch, M, N} : Shape{M, N};
  return p;
}

GemmArgs bindMatmul(const MatmulPlan& plan, const OpCall& call, const Tensor& out) {
  GemmArgs g = plan.gemm;
  g.A = call.inputs[0].data<float>();
  g.B = call.inputs[1].data<float>();
  g.C = out.data<float>();
  if (call.inputs.size() > 2 && call.inputs[2].defined()) g.ep.bias = call.inputs[2].data<float>();
  return g;
}

static OpRegistrar reg(OpDef{
    "matmul", 2, 3,
    [](const OpCall& call) { return std::vector<TensorSpec>{{DType::F32, planMatmul(call).outShape}}; },
    [](const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
      MatmulPlan plan = planMatmul(call);
      if (out[0].numel() == 0) return;
      gemmF32(bindMatmul(plan, call, out[0]), ctx.pool, call.precision);
    },
    nullptr});

}  // namespace sotr
