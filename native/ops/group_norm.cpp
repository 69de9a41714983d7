#include "ops/group_norm.h"

#include <algorithm>
#include <cmath>

#include "ops/matmul.h"
#include "runtime/thread_pool.h"

namespace sotr {

GroupNormPlan planGroupNorm(const OpCall& call) {
  const std::string& op = call.op;
  GroupNormPlan p;
  const Tensor& x = call.inputs[0];
  expectDType(op, "x", x, DType::F32);
  if (x.dim() < 2) fail(ErrorKind::Shape, op + ": x must be [N, C, ...], received " + shapeStr(x.shape));
  p.N = x.size(0);
  p.C = x.size(1);
  for (int64_t d = 2; d < x.dim(); ++d) p.HW *= x.shape[d];
  if (!call.attrs.has("groups")) fail(ErrorKind::InvalidArgument, op + ": groups is required");
  p.G = call.attrs.integer(op, "groups", 1);
  if (p.G < 1) fail(ErrorKind::Range, op + ": groups must be >= 1, received " + std::to_string(p.G));
  if (p.C % p.G != 0)
    fail(ErrorKind::Shape, op + ": channels (" + std::to_string(p.C) + ") must be divisible by groups (" +
                               std::to_string(p.G) + ")");
  const double eps = call.attrs.number(op, "eps", 1e-5);
  if (!(eps >= 0)) fail(ErrorKind::Range, op + ": eps must be >= 0");
  p.eps = static_cast<float>(eps);
  p.act = parseActivation(op, call.attrs, &p.slope);
  if (p.act == Activation::Sigmoid) fail(ErrorKind::Range, op + ": activation must be 'none', 'relu' or 'leakyRelu'");
  if (call.inputs.size() > 1 && call.inputs[1].defined()) {
    expectDType(op, "weight", call.inputs[1], DType::F32);
    expectShape(op, "weight", call.inputs[1], {p.C});
    p.hasWeight = true;
  }
  if (call.inputs.size() > 2 && call.inputs[2].defined()) {
    expectDType(op, "bias", call.inputs[2], DType::F32);
    expectShape(op, "bias", call.inputs[2], {p.C});
    p.hasBias = true;
  }
  p.outShape = x.shape;
  return p;
}

namespace {

// Sum of x (or of (x - centre)^2 when squared), float lanes within chunks of
// 512, double across chunks.
double sumLanes(const float* x, int64_t n, float centre, bool squared = false) {
  double total = 0;
  for (int64_t c0 = 0; c0 < n; c0 += 512) {
    const int64_t c1 = c0 + 512 < n ? c0 + 512 : n;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = c0;
    for (; i + 8 <= c1; i += 8)
      for (int l = 0; l < 8; ++l) {
        const float d = x[i + l] - centre;
        acc[l] += squared ? d * d : d;
      }
    double part = 0;
    for (; i < c1; ++i) {
      const double d = static_cast<double>(x[i]) - centre;
      part += squared ? d * d : d;
    }
    for (int l = 0; l < 8; ++l) part += acc[l];
    total += part;
  }
  return total;
}

void runGroupNormCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const GroupNormPlan p = planGroupNorm(call);
  const float* x = call.inputs[0].data<float>();
  const float* gamma = p.hasWeight ? call.inputs[1].data<float>() : nullptr;
  const float* beta = p.hasBias ? call.inputs[2].data<float>() : nullptr;
  float* y = out[0].data<float>();
  const int64_t Cg = p.C / p.G, len = Cg * p.HW;
  if (out[0].numel() == 0) return;
  auto group = [&](int64_t t) {
    const int64_t n = t / p.G, g = t % p.G;
    const float* xs = x + (n * p.C + g * Cg) * p.HW;
    float* ys = y + (n * p.C + g * Cg) * p.HW;
    // Two passes: the mean, then the centred sum of squares. Eight float
    // lanes per chunk (vectorized without reassociation), chunks summed in
    // double, so accuracy stays that of a double sum.
    // Shifted by the first value so the float lanes add small numbers.
    const double mean = len ? xs[0] + sumLanes(xs, len, xs[0]) / len : 0;
    const float meanF = static_cast<float>(mean);
    const double var = len ? sumLanes(xs, len, meanF, true) / len : 0;
    const double rstd = 1.0 / std::sqrt(var + static_cast<double>(p.eps));
    const float meanLo = static_cast<float>(mean - meanF);  // what float(mean) dropped
    // y = (x - mean) * a + beta: subtracting first keeps the low bits when
    // |mean| >> std.
    for (int64_t c = 0; c < Cg; ++c) {
      const int64_t ch = g * Cg + c;
      const float a = static_cast<float>(rstd * (gamma ? gamma[ch] : 1.f));
      const float bb = beta ? beta[ch] : 0.f;
      const float* xc = xs + c * p.HW;
      float* yc = ys + c * p.HW;
      switch (p.act) {
        case Activation::Relu:
          for (int64_t i = 0; i < p.HW; ++i) {
            const float v = ((xc[i] - meanF) - meanLo) * a + bb;
            yc[i] = v > 0.f ? v : 0.f;
          }
          break;
        case Activation::LeakyRelu:
          for (int64_t i = 0; i < p.HW; ++i) {
            const float v = ((xc[i] - meanF) - meanLo) * a + bb;
            yc[i] = v > 0.f ? v : v * p.slope;
          }
          break;
        default:
          for (int64_t i = 0; i < p.HW; ++i) yc[i] = ((xc[i] - meanF) - meanLo) * a + bb;
      }
    }
  };
  const int64_t tasks = p.N * p.G;
  if (ctx.pool && ctx.pool->size() > 1 && tasks > 1 && tasks * len > 32768) ctx.pool->parallelTasks(tasks, group);
  else
    for (int64_t t = 0; t < tasks; ++t) group(t);
}

OpRegistrar reg(OpDef{"groupNorm", 1, 3,
                      [](const OpCall& call) {
                        return std::vector<TensorSpec>{{DType::F32, planGroupNorm(call).outShape}};
                      },
                      runGroupNormCpu, nullptr});

}  // namespace
}  // namespace sotr
