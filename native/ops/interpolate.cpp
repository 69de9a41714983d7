#define SOTR_INTERPOLATE_KERNEL_BODY
#include "ops/interpolate.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

namespace sotr {

InterpolatePlan planInterpolate(const OpCall& call) {
  const std::string& op = call.op;
  InterpolatePlan p;
  const Tensor& x = call.inputs[0];
  expectDType(op, "x", x, DType::F32);
  if (x.dim() != 4) fail(ErrorKind::Shape, op + ": x must be [N, C, H, W], received " + shapeStr(x.shape));
  p.N = x.size(0);
  p.C = x.size(1);
  p.H = x.size(2);
  p.W = x.size(3);
  const std::string mode = call.attrs.string(op, "mode", "bilinear");
  if (mode == "bilinear") p.bilinear = true;
  else if (mode == "nearest") p.bilinear = false;
  else fail(ErrorKind::Range, op + ": mode must be 'bilinear' or 'nearest', received '" + mode + "'");
  p.alignCorners = call.attrs.flag(op, "alignCorners", false);
  if (p.alignCorners && !p.bilinear) fail(ErrorKind::Range, op + ": alignCorners only applies to mode 'bilinear'");
  const bool hasSize = call.attrs.has("size"), hasScale = call.attrs.has("scaleFactor");
  if (hasSize == hasScale) fail(ErrorKind::InvalidArgument, op + ": give exactly one of size and scaleFactor");
  if (hasSize) {
    std::vector<int64_t> s = call.attrs.integers(op, "size", {});
    if (s.size() == 1) s.push_back(s[0]);
    if (s.size() != 2) fail(ErrorKind::Range, op + ": size must be a number or [h, w]");
    if (s[0] < 1 || s[1] < 1)
      fail(ErrorKind::Range, op + ": size must be positive, received [" + std::to_string(s[0]) + ", " +
                                 std::to_string(s[1]) + "]");
    p.Ho = s[0];
    p.Wo = s[1];
  } else {
    std::vector<double> s = call.attrs.numbers(op, "scaleFactor", {});
    if (s.size() == 1) s.push_back(s[0]);
    if (s.size() != 2) fail(ErrorKind::Range, op + ": scaleFactor must be a number or [h, w]");
    if (!(s[0] > 0) || !(s[1] > 0)) fail(ErrorKind::Range, op + ": scaleFactor must be positive");
    p.scaleH = s[0];
    p.scaleW = s[1];
    p.Ho = static_cast<int64_t>(std::floor(static_cast<double>(p.H) * s[0]));
    p.Wo = static_cast<int64_t>(std::floor(static_cast<double>(p.W) * s[1]));
    if (p.Ho < 1 || p.Wo < 1)
      fail(ErrorKind::Shape, op + ": scaleFactor gives an empty output for input " + shapeStr(x.shape));
  }
  if ((p.H == 0 || p.W == 0) && p.N * p.C > 0)
    fail(ErrorKind::Shape, op + ": x must have a non-empty spatial size, received " + shapeStr(x.shape));
  p.outShape = {p.N, p.C, p.Ho, p.Wo};
  p.channelsLast = p.bilinear && channelsLastContiguous({p.N, p.C, p.H, p.W}, {p.C * p.H * p.W, p.H * p.W, p.W, 1});
  return p;
}

namespace interp_detail {
void bilinearWindow(const float* x, int64_t ldx, const LinearTap* th, int64_t rows, const LinearTap* tw, int64_t cols,
                    int64_t r0, int64_t r1, const char* rowNeeded, float* tmp, float* y, int64_t ldy) {
  static const bool avx2 = activeSimdLevel() >= SimdLevel::AVX2;
  if (avx2 && bilinearWindowAvx2(x, ldx, th, rows, tw, cols, r0, r1, rowNeeded, tmp, y, ldy)) return;
  bilinearWindowImpl(x, ldx, th, rows, tw, cols, r0, r1, rowNeeded, tmp, y, ldy);
}
}  // namespace interp_detail

namespace {

struct Buffer {
  float* p = nullptr;
  explicit Buffer(int64_t n) {
    p = static_cast<float*>(std::malloc(sizeof(float) * static_cast<size_t>(std::max<int64_t>(n, 1))));
    if (!p) throw hostOutOfMemory("interpolate's workspace", sizeof(float) * static_cast<size_t>(std::max<int64_t>(n, 1)));
  }
  ~Buffer() { std::free(p); }
};

void runInterpolateCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const InterpolatePlan p = planInterpolate(call);
  if (out[0].numel() == 0) return;
  const float* x = call.inputs[0].data<float>();
  float* y = out[0].data<float>();
  const int64_t planes = p.N * p.C;
  const int T = ctx.pool ? ctx.pool->size() : 1;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, p.Ho * p.Wo));
  auto parallel = [&](const std::function<void(int64_t, int64_t)>& fn) {
    if (T > 1 && planes > grain) ctx.pool->parallelFor(planes, grain, fn);
    else fn(0, planes);
  };
  if (!p.bilinear) {
    std::vector<int64_t> hi(p.Ho), wi(p.Wo);
    for (int64_t i = 0; i < p.Ho; ++i) hi[i] = nearestIndex(i, p.H, p.Ho, p.scaleH);
    for (int64_t j = 0; j < p.Wo; ++j) wi[j] = nearestIndex(j, p.W, p.Wo, p.scaleW);
    parallel([&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl) {
        const float* xp = x + pl * p.H * p.W;
        float* yp = y + pl * p.Ho * p.Wo;
        for (int64_t i = 0; i < p.Ho; ++i) {
          float* yr = yp + i * p.Wo;
          if (i > 0 && hi[i] == hi[i - 1]) {  // same source row: copy the row just made
            std::memcpy(yr, yr - p.Wo, sizeof(float) * p.Wo);
            continue;
          }
          const float* xr = xp + hi[i] * p.W;
          if (p.Wo == 2 * p.W) {
            for (int64_t j = 0; j < p.W; ++j) yr[2 * j] = yr[2 * j + 1] = xr[j];
          } else {
            for (int64_t j = 0; j < p.Wo; ++j) yr[j] = xr[wi[j]];
          }
        }
      }
    });
    return;
  }
  const float sh = interpAxisScale(p.H, p.Ho, p.scaleH, p.alignCorners);
  const float sw = interpAxisScale(p.W, p.Wo, p.scaleW, p.alignCorners);
  std::vector<LinearTap> th(p.Ho), tw(p.Wo);
  std::vector<char> needed(p.H, 0);
  for (int64_t i = 0; i < p.Ho; ++i) {
    th[i] = linearTap(i, p.H, p.Ho, sh, p.alignCorners);
    needed[th[i].i0] = needed[th[i].i1] = 1;
  }
  for (int64_t j = 0; j < p.Wo; ++j) tw[j] = linearTap(j, p.W, p.Wo, sw, p.alignCorners);
  if (p.channelsLast) {
    parallel([&](int64_t b, int64_t e) {
      for (int64_t pl = b; pl < e; ++pl) {
        const float* xp = x + pl * p.H * p.W;
        float* yp = y + pl * p.Ho * p.Wo;
        for (int64_t i = 0; i < p.Ho; ++i) {
          const float* r0 = xp + th[i].i0 * p.W;
          const float* r1 = xp + th[i].i1 * p.W;
          for (int64_t j = 0; j < p.Wo; ++j)
            yp[i * p.Wo + j] = interp_detail::bilinearChannelsLast(r0[tw[j].i0], r0[tw[j].i1], r1[tw[j].i0],
                                                                   r1[tw[j].i1], th[i], tw[j]);
        }
      }
    });
    return;
  }
  parallel([&](int64_t b, int64_t e) {
    Buffer tmp(p.H * p.Wo);
    for (int64_t pl = b; pl < e; ++pl)
      interp_detail::bilinearWindow(x + pl * p.H * p.W, p.W, th.data(), p.Ho, tw.data(), p.Wo, 0, p.H - 1,
                                    needed.data(), tmp.p, y + pl * p.Ho * p.Wo, p.Wo);
  });
}

OpRegistrar reg(OpDef{"interpolate", 1, 1,
                      [](const OpCall& call) {
                        return std::vector<TensorSpec>{{DType::F32, planInterpolate(call).outShape}};
                      },
                      runInterpolateCpu, nullptr});

}  // namespace
}  // namespace sotr
