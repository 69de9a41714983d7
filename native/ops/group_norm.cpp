#include "ops/group_norm.h"
#include "ops/group_norm_stats.h"

#include <algorithm>
#include <cmath>

#include "ops/matmul.h"
#include "runtime/cpu_features.h"
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

// The portable kernels: the statistics by chunkedGroupStats (group_norm_stats.h,
// as the AVX-512 ones) with sixteen float lanes per sweep, written so the
// compiler vectorizes them without reassociating.
constexpr int kLanes = 16;
constexpr int64_t kParallelMinFloats = int64_t(1) << 18;  // 1 MiB of input

double laneSum(const float* x, int64_t n, float centre, bool squared) {
  float acc[kLanes] = {};
  int64_t i = 0;
  if (squared) {
    for (; i + kLanes <= n; i += kLanes)
      for (int l = 0; l < kLanes; ++l) {
        const float d = x[i + l] - centre;
        acc[l] += d * d;
      }
  } else {
    for (; i + kLanes <= n; i += kLanes)
      for (int l = 0; l < kLanes; ++l) acc[l] += x[i + l] - centre;
  }
  double total = 0;
  for (; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - centre;
    total += squared ? d * d : d;
  }
  for (int l = 0; l < kLanes; ++l) total += acc[l];
  return total;
}

void groupStatsScalar(const float* x, int64_t len, double* meanOut, double* varOut) {
  detail::chunkedGroupStats(
      x, len, meanOut, varOut, [](const float* p, int64_t n, float c) { return laneSum(p, n, c, false); },
      [](const float* p, int64_t n, float c) { return laneSum(p, n, c, true); });
}

void groupNormRowScalar(const float* x, float* y, int64_t n, float centre, float a, float b, Activation act,
                        float slope) {
  switch (act) {
    case Activation::Relu:
      for (int64_t i = 0; i < n; ++i) {
        const float v = (x[i] - centre) * a + b;
        y[i] = v < 0.f ? 0.f : v;
      }
      break;
    case Activation::LeakyRelu:
      for (int64_t i = 0; i < n; ++i) {
        const float v = (x[i] - centre) * a + b;
        y[i] = v > 0.f ? v : v * slope;
      }
      break;
    default:
      for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - centre) * a + b;
  }
}

void runGroupNormCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const GroupNormPlan p = planGroupNorm(call);
  const float* x = call.inputs[0].data<float>();
  const float* gamma = p.hasWeight ? call.inputs[1].data<float>() : nullptr;
  const float* beta = p.hasBias ? call.inputs[2].data<float>() : nullptr;
  float* y = out[0].data<float>();
  const int64_t Cg = p.C / p.G, len = Cg * p.HW;
  if (out[0].numel() == 0) return;
  detail::GroupNormKernels k;
  if (activeSimdLevel() >= SimdLevel::AVX512) k = detail::groupNormAvx512();
  if (!k.stats) k = detail::GroupNormKernels{groupStatsScalar, groupNormRowScalar};
  // One task per (sample, group): statistics, then normalise + affine +
  // activation while the group is still in this core's cache.
  auto group = [&](int64_t t) {
    const int64_t n = t / p.G, g = t % p.G;
    const float* xs = x + (n * p.C + g * Cg) * p.HW;
    float* ys = y + (n * p.C + g * Cg) * p.HW;
    double mean = 0, var = 0;
    k.stats(xs, len, &mean, &var);
    const double rstd = 1.0 / std::sqrt(var + static_cast<double>(p.eps));
    const float meanF = static_cast<float>(mean);
    const double meanLo = mean - meanF;  // what float(mean) dropped
    // y = (x - meanF) * a + (beta - meanLo * a): subtracting first keeps the
    // low bits when |mean| >> std.
    for (int64_t c = 0; c < Cg; ++c) {
      const int64_t ch = g * Cg + c;
      const double a = rstd * (gamma ? gamma[ch] : 1.f);
      const double b = (beta ? beta[ch] : 0.f) - meanLo * a;
      k.row(xs + c * p.HW, ys + c * p.HW, p.HW, meanF, static_cast<float>(a), static_cast<float>(b), p.act, p.slope);
    }
  };
  // Below 1 MiB of input (the mask branch's 25x42 map) one core does it in a
  // few tens of microseconds and the pool's wake-up and join cost more than
  // the second core saves (A/B through the JS API, 128ch 25x42: one thread
  // 0.065-0.095 ms, two 0.078-0.112 ms); from 50x84 up two threads are level
  // or ahead.
  const int64_t tasks = p.N * p.G;
  if (ctx.pool && ctx.pool->size() > 1 && tasks > 1 && tasks * len >= kParallelMinFloats)
    ctx.pool->parallelTasks(tasks, group);
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
