// deformConv2d cases: odd sizes, stride 2, dilation, groups, deformable
// groups, DCNv1 (no mask), offsets that push samples outside the input, and
// R101-DCN's res3 shape (timed).
#include <cmath>

#include "../op_test.h"

using namespace sotr;
using namespace sotr_test;

namespace {

struct DcnSpec {
  int64_t N, C, H, W, O, k, s, p, d, groups, dg;
  bool mask, bias, bn;
  const char* act;
  float offScale;
};

double bilinearRef(const float* plane, int64_t H, int64_t W, double h, double w) {
  if (!(h > -1 && w > -1 && h < H && w < W)) return 0;
  const double hl = std::floor(h), wl = std::floor(w), lh = h - hl, lw = w - wl;
  double v = 0;
  const double ws[4] = {(1 - lh) * (1 - lw), (1 - lh) * lw, lh * (1 - lw), lh * lw};
  for (int q = 0; q < 4; ++q) {
    const int64_t y = static_cast<int64_t>(hl) + q / 2, x = static_cast<int64_t>(wl) + q % 2;
    if (y >= 0 && y < H && x >= 0 && x < W) v += ws[q] * plane[y * W + x];
  }
  return v;
}

double dcnRef(const DcnSpec& sp, const OpCall& call, const std::vector<Tensor>& out) {
  const float* x = call.inputs[0].data<float>();
  const float* off = call.inputs[1].data<float>();
  const float* mask = call.inputs[2].defined() ? call.inputs[2].data<float>() : nullptr;
  const float* w = call.inputs[3].data<float>();
  const float* bias = call.inputs[4].defined() ? call.inputs[4].data<float>() : nullptr;
  const float* scale = call.inputs[5].defined() ? call.inputs[5].data<float>() : nullptr;
  const float* shift = call.inputs[6].defined() ? call.inputs[6].data<float>() : nullptr;
  const int64_t Ho = out[0].size(2), Wo = out[0].size(3), P = Ho * Wo, taps = sp.k * sp.k;
  const int64_t Cg = sp.C / sp.groups, Og = sp.O / sp.groups, cpdg = sp.C / sp.dg;
  const std::string act = sp.act;
  std::vector<float> ref(out[0].numel());
  for (int64_t n = 0; n < sp.N; ++n)
    for (int64_t o = 0; o < sp.O; ++o)
      for (int64_t p = 0; p < P; ++p) {
        const int64_t oy = p / Wo, ox = p % Wo, g = o / Og;
        double acc = 0;
        for (int64_t c = 0; c < Cg; ++c) {
          const int64_t cg = g * Cg + c, dgi = cg / cpdg;
          const float* plane = x + (n * sp.C + cg) * sp.H * sp.W;
          for (int64_t t = 0; t < taps; ++t) {
            const int64_t i = t / sp.k, j = t % sp.k;
            const int64_t oc = ((n * sp.dg + dgi) * taps + t) * 2;
            const double h = double(oy * sp.s - sp.p + i * sp.d) + off[oc * P + p];
            const double ww = double(ox * sp.s - sp.p + j * sp.d) + off[(oc + 1) * P + p];
            double v = bilinearRef(plane, sp.H, sp.W, h, ww);
            if (mask) v *= mask[((n * sp.dg + dgi) * taps + t) * P + p];
            acc += v * w[(o * Cg + c) * taps + t];
          }
        }
        if (bias) acc += bias[o];
        if (scale) acc *= scale[o];
        if (shift) acc += shift[o];
        if (act == "relu") acc = acc > 0 ? acc : 0;
        ref[(n * sp.O + o) * P + p] = static_cast<float>(acc);
      }
  return nmse(out[0].data<float>(), ref.data(), out[0].numel());
}

OpCase dcnCase(DcnSpec sp, bool timed = false) {
  OpCase c;
  c.name = "deformConv2d " + std::to_string(sp.N) + "x" + std::to_string(sp.C) + "x" + std::to_string(sp.H) + "x" +
           std::to_string(sp.W) + " ->" + std::to_string(sp.O) + " k" + std::to_string(sp.k) +
           (sp.s > 1 ? " s" + std::to_string(sp.s) : "") + (sp.d > 1 ? " d" + std::to_string(sp.d) : "") +
           (sp.groups > 1 ? " g" + std::to_string(sp.groups) : "") + (sp.dg > 1 ? " dg" + std::to_string(sp.dg) : "") +
           (sp.mask ? "" : " v1") + (sp.bn ? " bn" : "") + " " + sp.act;
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = "deformConv2d";
    const int64_t Ho = (sp.H + 2 * sp.p - sp.d * (sp.k - 1) - 1) / sp.s + 1;
    const int64_t Wo = (sp.W + 2 * sp.p - sp.d * (sp.k - 1) - 1) / sp.s + 1;
    const float wb = 1.f / std::sqrt(float(sp.C / sp.groups * sp.k * sp.k));
    call.inputs = {randomTensor(rng, {sp.N, sp.C, sp.H, sp.W}),
                   randomTensor(rng, {sp.N, 2 * sp.dg * sp.k * sp.k, Ho, Wo}, -sp.offScale, sp.offScale),
                   sp.mask ? randomTensor(rng, {sp.N, sp.dg * sp.k * sp.k, Ho, Wo}, 0.f, 1.f) : Tensor(),
                   randomTensor(rng, {sp.O, sp.C / sp.groups, sp.k, sp.k}, -wb, wb),
                   sp.bias ? randomTensor(rng, {sp.O}) : Tensor(),
                   sp.bn ? randomTensor(rng, {sp.O}, 0.5f, 1.5f) : Tensor(),
                   sp.bn ? randomTensor(rng, {sp.O}) : Tensor(),
                   Tensor()};
    call.attrs.setNumber("stride", double(sp.s));
    call.attrs.setNumber("padding", double(sp.p));
    call.attrs.setNumber("dilation", double(sp.d));
    call.attrs.setNumber("groups", double(sp.groups));
    call.attrs.setNumber("deformGroups", double(sp.dg));
    call.attrs.setString("activation", sp.act);
    return call;
  };
  c.reducedPrecision = true;
  if (!timed) c.cpuReference = [sp](const OpCall& call, const std::vector<Tensor>& out) { return dcnRef(sp, call, out); };
  c.cpuBound = 1e-10;
  c.timed = timed;
  return c;
}

// N, C, H, W, O, k, s, p, d, groups, dg, mask, bias, bn, act, offScale
OP_TEST_CASE(dcnCase({1, 4, 7, 9, 5, 3, 1, 1, 1, 1, 1, true, true, false, "none", 1.5f}));
OP_TEST_CASE(dcnCase({2, 6, 9, 11, 4, 3, 2, 1, 1, 1, 2, true, false, true, "relu", 2.f}));
OP_TEST_CASE(dcnCase({1, 3, 8, 7, 6, 3, 1, 2, 2, 1, 1, false, true, false, "none", 1.f}));
OP_TEST_CASE(dcnCase({1, 8, 6, 6, 10, 3, 1, 1, 1, 2, 2, true, true, false, "relu", 3.f}));
OP_TEST_CASE(dcnCase({1, 5, 5, 5, 3, 3, 1, 1, 1, 1, 1, true, false, false, "none", 8.f}));
OP_TEST_CASE(dcnCase({1, 48, 13, 17, 40, 3, 1, 1, 1, 1, 4, true, false, true, "relu", 2.f}));
OP_TEST_CASE(dcnCase({1, 37, 11, 9, 130, 3, 1, 1, 1, 1, 1, true, true, false, "none", 1.f}));
OP_TEST_CASE(dcnCase({1, 128, 100, 168, 128, 3, 1, 1, 1, 1, 1, true, false, true, "relu", 1.f}, true));

}  // namespace
