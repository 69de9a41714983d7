#define SOTR_PILLOW_RESIZE_KERNEL_BODY
#include "ops/pillow_resize.h"

#include <cmath>
#include <cstring>
#include <string>

#include "runtime/cpu_features.h"
#include "runtime/scratch.h"
#include "runtime/thread_pool.h"

namespace sotr {

namespace {
constexpr int64_t kMaxSide = int64_t(1) << 24;
constexpr int64_t kMaxTapSlots = int64_t(1) << 28;  // ksize * outSize int32 weights (1 GiB)

int64_t bilinearKsize(int64_t in, int64_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  return static_cast<int64_t>(std::ceil(scale > 1 ? scale : 1.0)) * 2 + 1;
}
}  // namespace

// Compiled without FMA (baseline x86-64): the double arithmetic is Pillow's, operation for operation.
PillowTaps pillowBilinearTaps(int64_t inSize, int64_t outSize) {
  PillowTaps t;
  t.inSize = inSize;
  t.outSize = outSize;
  const double scale = static_cast<double>(inSize) / static_cast<double>(outSize);
  const double filterScale = scale < 1.0 ? 1.0 : scale;
  const double support = 1.0 * filterScale;  // the bilinear (triangle) filter's support is 1
  t.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.start.assign(outSize, 0);
  t.count.assign(outSize, 0);
  t.weights.assign(static_cast<size_t>(outSize * t.ksize), 0);
  std::vector<double> k(static_cast<size_t>(t.ksize));
  const double ss = 1.0 / filterScale;
  for (int64_t o = 0; o < outSize; ++o) {
    const double center = (static_cast<double>(o) + 0.5) * scale;
    int64_t xmin = static_cast<int64_t>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int64_t xmax = static_cast<int64_t>(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    double total = 0.0;
    for (int64_t x = 0; x < xmax; ++x) {
      double v = (static_cast<double>(x + xmin) - center + 0.5) * ss;
      if (v < 0.0) v = -v;
      v = v < 1.0 ? 1.0 - v : 0.0;
      k[x] = v;
      total += v;
    }
    int32_t* w = t.weights.data() + o * t.ksize;
    for (int64_t x = 0; x < xmax; ++x) {
      const double kk = total != 0.0 ? k[x] / total : k[x];
      const double fixed = kk * static_cast<double>(1 << kPillowPrecisionBits);
      w[x] = kk < 0 ? static_cast<int32_t>(-0.5 + fixed) : static_cast<int32_t>(0.5 + fixed);
    }
    t.start[o] = static_cast<int32_t>(xmin);
    t.count[o] = static_cast<int32_t>(xmax);
  }
  return t;
}

PillowResizePlan planPillowResize(const OpCall& call) {
  const std::string& op = call.op;
  PillowResizePlan p;
  const Tensor& x = call.inputs[0];
  expectDefined(op, "x", x);
  expectDType(op, "x", x, DType::U8);
  if (x.dim() != 3 || x.size(2) < 1 || x.size(2) > 4)
    fail(ErrorKind::Shape, op + ": x must be uint8 [H, W, C] with C 1..4, received " + shapeStr(x.shape));
  p.H = x.size(0);
  p.W = x.size(1);
  p.C = x.size(2);
  if (p.H < 1 || p.W < 1) fail(ErrorKind::Shape, op + ": x must not be empty, received " + shapeStr(x.shape));
  if (p.H > kMaxSide || p.W > kMaxSide)
    fail(ErrorKind::Range, op + ": x sides must be at most " + std::to_string(kMaxSide) + ", received " + shapeStr(x.shape));
  if (!call.attrs.has("size")) fail(ErrorKind::InvalidArgument, op + ": size [h, w] is required");
  const std::vector<double> s = call.attrs.numbers(op, "size", {});
  if (s.size() != 2) fail(ErrorKind::Range, op + ": size must be [h, w]");
  for (double v : s) {
    if (!(v >= 1 && v <= static_cast<double>(kMaxSide)))
      fail(ErrorKind::Range, op + ": size must be in 1.." + std::to_string(kMaxSide) + ", received [" +
                                 std::to_string(s[0]) + ", " + std::to_string(s[1]) + "]");
    if (v != std::floor(v)) fail(ErrorKind::Range, op + ": size must hold integers, received " + std::to_string(v));
  }
  p.Ho = static_cast<int64_t>(s[0]);
  p.Wo = static_cast<int64_t>(s[1]);
  if ((p.Wo != p.W && bilinearKsize(p.W, p.Wo) * p.Wo > kMaxTapSlots) ||
      (p.Ho != p.H && bilinearKsize(p.H, p.Ho) * p.Ho > kMaxTapSlots))
    fail(ErrorKind::Range, op + ": resizing " + shapeStr(x.shape) + " to [" + std::to_string(p.Ho) + ", " +
                               std::to_string(p.Wo) + "] needs too many filter taps");
  p.Cout = p.C;
  if (call.attrs.has("toBgr")) {
    const std::string order = call.attrs.string(op, "toBgr", "rgb");
    if (order != "rgb" && order != "bgr")
      fail(ErrorKind::Range, op + ": toBgr must be 'rgb' or 'bgr' (the source's channel order), received '" + order + "'");
    p.Cout = 3;
    for (int c = 0; c < 3; ++c) p.map[c] = p.C <= 2 ? 0 : order == "rgb" ? 2 - c : c;
    p.identity = p.C == 3 && order == "bgr";
  }
  const bool hasMean = call.attrs.has("mean"), hasStd = call.attrs.has("std");
  if (hasMean != hasStd) fail(ErrorKind::InvalidArgument, op + ": give both mean and std, or neither");
  p.normalize = hasMean;
  if (p.normalize) {
    const std::vector<double> m = call.attrs.numbers(op, "mean", {});
    const std::vector<double> d = call.attrs.numbers(op, "std", {});
    if (static_cast<int64_t>(m.size()) != p.Cout || static_cast<int64_t>(d.size()) != p.Cout)
      fail(ErrorKind::Range, op + ": mean and std must hold " + std::to_string(p.Cout) + " numbers (one per output channel), received " +
                                 std::to_string(m.size()) + " and " + std::to_string(d.size()));
    for (int64_t c = 0; c < p.Cout; ++c) {
      p.mean[c] = static_cast<float>(m[c]);
      p.stdev[c] = static_cast<float>(d[c]);
      if (!std::isfinite(p.mean[c]) || !std::isfinite(p.stdev[c]) || p.stdev[c] == 0.f)
        fail(ErrorKind::Range, op + ": mean must be finite and std finite and non-zero in float32");
    }
    const double pm = call.attrs.number(op, "padMultiple", 1);
    if (!(pm >= 1 && pm <= 4096) || pm != std::floor(pm))
      fail(ErrorKind::Range, op + ": padMultiple must be an integer in 1..4096, received " + std::to_string(pm));
    p.padMultiple = static_cast<int64_t>(pm);
    p.Hp = (p.Ho + p.padMultiple - 1) / p.padMultiple * p.padMultiple;
    p.Wp = (p.Wo + p.padMultiple - 1) / p.padMultiple * p.padMultiple;
    p.out = {DType::F32, {1, p.Cout, p.Hp, p.Wp}};
  } else {
    if (call.attrs.has("padMultiple")) fail(ErrorKind::InvalidArgument, op + ": padMultiple needs mean and std");
    p.Hp = p.Ho;
    p.Wp = p.Wo;
    p.out = {DType::U8, {p.Ho, p.Wo, p.Cout}};
  }
  return p;
}

namespace {

void runPillowResizeCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const PillowResizePlan p = planPillowResize(call);
  const uint8_t* src = call.inputs[0].data<uint8_t>();
  const int64_t C = p.C;
  const bool horizontal = p.Wo != p.W, vertical = p.Ho != p.H;

  pillow_detail::Kernels kern{pillowHorizontalRowImpl, pillowVerticalRowImpl};
  if (activeSimdLevel() >= SimdLevel::AVX2) {
    pillow_detail::Kernels k2;
    if (pillow_detail::avx2Kernels(&k2)) kern = k2;
  }
  ThreadPool* pool = ctx.pool && ctx.pool->size() > 1 ? ctx.pool : nullptr;
  auto parallel = [&](int64_t n, int64_t bytesPerItem, const std::function<void(int64_t, int64_t)>& fn) {
    const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, bytesPerItem));
    if (pool && n > grain) pool->parallelFor(n, grain, fn);
    else fn(0, n);
  };

  PillowTaps vt;
  int64_t yFirst = 0, yLast = p.H;  // input rows the vertical pass reads
  if (vertical) {
    vt = pillowBilinearTaps(p.H, p.Ho);
    yFirst = vt.start[0];
    yLast = static_cast<int64_t>(vt.start[p.Ho - 1]) + vt.count[p.Ho - 1];
  }
  // uint8 output: written in place by the passes when its channels are the source's (u8direct), else through the
  // channel map row by row (u8conv, toBgr).
  uint8_t* u8direct = !p.normalize && p.identity ? out[0].data<uint8_t>() : nullptr;
  uint8_t* u8conv = !p.normalize && !p.identity ? out[0].data<uint8_t>() : nullptr;
  const int64_t Cout = p.Cout;

  // The horizontal pass, into the output itself when nothing follows, else into a temporary image of the rows the
  // vertical pass reads.
  const uint8_t* vsrc = src + yFirst * p.W * C;  // row yFirst of the vertical pass's source
  const int64_t stride = p.Wo * C;
  // The temporary image: a grow-only buffer of the queue thread (no page faults per call), freed when above 16 MiB.
  static thread_local Scratch scratch;
  struct Trim {
    ~Trim() { scratch.trim(int64_t(4) << 20); }
  } trim;
  if (horizontal) {
    const PillowTaps ht = pillowBilinearTaps(p.W, p.Wo);
    uint8_t* dst;
    if (!vertical && u8direct) {
      dst = u8direct;
    } else {
      dst = reinterpret_cast<uint8_t*>(scratch.get(((yLast - yFirst) * stride + 3) / 4));
    }
    parallel(yLast - yFirst, (p.W + p.Wo) * C * 2, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) kern.horizontal(src + (yFirst + r) * p.W * C, C, ht, dst + r * stride);
    });
    if (dst == u8direct) return;
    vsrc = dst;
  }

  // The vertical pass (or a copy), row by row, then the uint8 row or the normalised planes, each output channel
  // read from its source channel.
  if (u8direct && !vertical) {
    std::memcpy(u8direct, vsrc, static_cast<size_t>(p.Ho * stride));
    return;
  }
  float lut[4][256];
  float* f32out = nullptr;
  if (p.normalize) {
    for (int64_t c = 0; c < Cout; ++c)
      for (int v = 0; v < 256; ++v) lut[c][v] = (static_cast<float>(v) - p.mean[c]) / p.stdev[c];
    f32out = out[0].data<float>();
  }
  const int64_t plane = p.Hp * p.Wp;
  parallel(p.Ho, stride * (vertical ? 4 : 1) * (p.normalize ? 4 : 1), [&](int64_t b, int64_t e) {
    std::vector<uint8_t> rowBuf(vertical && !u8direct ? static_cast<size_t>(stride) : 0);
    for (int64_t o = b; o < e; ++o) {
      const uint8_t* row;
      if (vertical) {
        uint8_t* dst = u8direct ? u8direct + o * stride : rowBuf.data();
        kern.vertical(vsrc + (vt.start[o] - yFirst) * stride, stride, vt.weights.data() + o * vt.ksize, vt.count[o], dst);
        if (u8direct) continue;
        row = dst;
      } else {
        row = vsrc + o * stride;
      }
      if (u8conv) {
        uint8_t* y = u8conv + o * p.Wo * Cout;
        for (int64_t x = 0; x < p.Wo; ++x)
          for (int64_t c = 0; c < Cout; ++c) y[x * Cout + c] = row[x * C + p.map[c]];
        continue;
      }
      for (int64_t c = 0; c < Cout; ++c) {
        float* y = f32out + c * plane + o * p.Wp;
        const float* l = lut[c];
        const uint8_t* r = row + p.map[c];
        for (int64_t x = 0; x < p.Wo; ++x) y[x] = l[r[x * C]];
        for (int64_t x = p.Wo; x < p.Wp; ++x) y[x] = 0.f;
      }
    }
  });
  if (p.normalize && p.Hp > p.Ho)
    for (int64_t c = 0; c < Cout; ++c)
      std::memset(f32out + c * plane + p.Ho * p.Wp, 0, sizeof(float) * static_cast<size_t>((p.Hp - p.Ho) * p.Wp));
}

OpRegistrar reg(OpDef{"pillowResize", 1, 1,
                      [](const OpCall& call) { return std::vector<TensorSpec>{planPillowResize(call).out}; },
                      runPillowResizeCpu, nullptr});

}  // namespace
}  // namespace sotr
