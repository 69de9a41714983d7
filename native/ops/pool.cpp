#include "ops/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/thread_pool.h"

namespace sotr {

int64_t poolOutputSize(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil, bool ceilMode) {
  const int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceilMode ? stride - 1 : 0);
  // floor division (num may be negative)
  int64_t out = (num >= 0 ? num / stride : -((-num + stride - 1) / stride)) + 1;
  // the last window must start inside the input or its left padding
  if (ceilMode && (out - 1) * stride >= in + pad) --out;
  return out;
}

PoolPlan planPool(const OpCall& call) {
  const std::string& op = call.op;
  PoolPlan p;
  p.isMax = op == "maxPool2d";
  const Tensor& x = call.inputs[0];
  expectDType(op, "x", x, DType::F32);
  if (x.dim() != 4) fail(ErrorKind::Shape, op + ": x must be [N, C, H, W], received " + shapeStr(x.shape));
  p.N = x.size(0);
  p.C = x.size(1);
  p.H = x.size(2);
  p.W = x.size(3);
  if (!call.attrs.has("kernelSize")) fail(ErrorKind::InvalidArgument, op + ": kernelSize is required");
  pairAttr(op, call.attrs, "kernelSize", {1}, 1, &p.kh, &p.kw);
  pairAttr(op, call.attrs, "stride", {p.kh, p.kw}, 1, &p.sh, &p.sw);
  pairAttr(op, call.attrs, "padding", {0}, 0, &p.ph, &p.pw);
  if (p.isMax) pairAttr(op, call.attrs, "dilation", {1}, 1, &p.dh, &p.dw);
  p.ceilMode = call.attrs.flag(op, "ceilMode", false);
  if (!p.isMax) {
    p.countIncludePad = call.attrs.flag(op, "countIncludePad", true);
    p.divisorOverride = call.attrs.integer(op, "divisorOverride", 0);
    if (p.divisorOverride < 0) fail(ErrorKind::Range, op + ": divisorOverride must be >= 0");
  }
  if (p.ph > p.kh / 2 || p.pw > p.kw / 2)
    fail(ErrorKind::Range, op + ": padding must be at most half the kernel size, received padding [" +
                               std::to_string(p.ph) + ", " + std::to_string(p.pw) + "] for kernel [" +
                               std::to_string(p.kh) + ", " + std::to_string(p.kw) + "]");
  p.Ho = poolOutputSize(p.H, p.kh, p.ph, p.sh, p.dh, p.ceilMode);
  p.Wo = poolOutputSize(p.W, p.kw, p.pw, p.sw, p.dw, p.ceilMode);
  if (p.Ho < 1 || p.Wo < 1)
    fail(ErrorKind::Shape, op + ": output size would be " + std::to_string(p.Ho) + " x " + std::to_string(p.Wo) +
                               " for input " + shapeStr(x.shape) + " (too small)");
  p.outShape = {p.N, p.C, p.Ho, p.Wo};
  return p;
}

namespace {

inline float maxNan(float m, float v) { return (v > m || v != v) ? v : m; }

// Row-separable max (dilation 1): the max over the window's rows into a
// temporary row, then over the window's columns. Same result as the direct
// walk: max is associative, and a NaN anywhere wins either way.
void maxPlaneRows(const PoolPlan& p, const float* x, float* y, float* t) {
  for (int64_t oh = 0; oh < p.Ho; ++oh) {
    const int64_t hs = std::max<int64_t>(oh * p.sh - p.ph, 0);
    const int64_t he = std::min(oh * p.sh - p.ph + p.kh, p.H);
    const float ninf = -std::numeric_limits<float>::infinity();
    for (int64_t w = 0; w < p.W; ++w) t[w] = ninf;
    for (int64_t h = hs; h < he; ++h) {
      const float* xr = x + h * p.W;
      for (int64_t w = 0; w < p.W; ++w) t[w] = maxNan(t[w], xr[w]);
    }
    float* yr = y + oh * p.Wo;
    for (int64_t ow = 0; ow < p.Wo; ++ow) {
      const int64_t ws = std::max<int64_t>(ow * p.sw - p.pw, 0);
      const int64_t we = std::min(ow * p.sw - p.pw + p.kw, p.W);
      float m = ninf;
      for (int64_t w = ws; w < we; ++w) m = maxNan(m, t[w]);
      yr[ow] = m;
    }
  }
}

void maxPlane(const PoolPlan& p, const float* x, float* y) {
  for (int64_t oh = 0; oh < p.Ho; ++oh) {
    int64_t hs = oh * p.sh - p.ph;
    const int64_t he = std::min(hs + (p.kh - 1) * p.dh + 1, p.H);
    while (hs < 0) hs += p.dh;
    for (int64_t ow = 0; ow < p.Wo; ++ow) {
      int64_t ws = ow * p.sw - p.pw;
      const int64_t we = std::min(ws + (p.kw - 1) * p.dw + 1, p.W);
      while (ws < 0) ws += p.dw;
      float m = -std::numeric_limits<float>::infinity();
      for (int64_t h = hs; h < he; h += p.dh)
        for (int64_t w = ws; w < we; w += p.dw) {
          const float v = x[h * p.W + w];
          if (v > m || std::isnan(v)) m = v;
        }
      y[oh * p.Wo + ow] = m;
    }
  }
}

void avgPlane(const PoolPlan& p, const float* x, float* y) {
  for (int64_t oh = 0; oh < p.Ho; ++oh) {
    int64_t hs = oh * p.sh - p.ph;
    int64_t he = std::min(hs + p.kh, p.H + p.ph);
    const int64_t poolH = he - hs;
    hs = std::max<int64_t>(hs, 0);
    he = std::min(he, p.H);
    for (int64_t ow = 0; ow < p.Wo; ++ow) {
      int64_t ws = ow * p.sw - p.pw;
      int64_t we = std::min(ws + p.kw, p.W + p.pw);
      const int64_t poolSize = poolH * (we - ws);
      ws = std::max<int64_t>(ws, 0);
      we = std::min(we, p.W);
      float s = 0.f;
      for (int64_t h = hs; h < he; ++h)
        for (int64_t w = ws; w < we; ++w) s += x[h * p.W + w];
      const int64_t div = p.divisorOverride ? p.divisorOverride
                          : p.countIncludePad ? poolSize
                                              : (he - hs) * (we - ws);
      y[oh * p.Wo + ow] = div > 0 ? s / static_cast<float>(div) : 0.f;
    }
  }
}

void runPoolCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const PoolPlan p = planPool(call);
  if (out[0].numel() == 0) return;  // an empty batch or map: nothing to do (and no row buffer of W floats to make)
  const float* x = call.inputs[0].data<float>();
  float* y = out[0].data<float>();
  const int64_t planes = p.N * p.C;
  const bool rows = p.isMax && p.dh == 1 && p.dw == 1;
  auto body = [&](int64_t b, int64_t e) {
    std::vector<float> t(rows ? static_cast<size_t>(p.W) : 0);
    for (int64_t i = b; i < e; ++i) {
      if (rows) maxPlaneRows(p, x + i * p.H * p.W, y + i * p.Ho * p.Wo, t.data());
      else if (p.isMax) maxPlane(p, x + i * p.H * p.W, y + i * p.Ho * p.Wo);
      else avgPlane(p, x + i * p.H * p.W, y + i * p.Ho * p.Wo);
    }
  };
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, p.H * p.W));
  if (ctx.pool && ctx.pool->size() > 1 && planes > grain) ctx.pool->parallelFor(planes, grain, body);
  else body(0, planes);
}

std::vector<TensorSpec> inferPool(const OpCall& call) { return {{DType::F32, planPool(call).outShape}}; }

OpRegistrar regMax(OpDef{"maxPool2d", 1, 1, inferPool, runPoolCpu, nullptr});
OpRegistrar regAvg(OpDef{"avgPool2d", 1, 1, inferPool, runPoolCpu, nullptr});

}  // namespace
}  // namespace sotr
