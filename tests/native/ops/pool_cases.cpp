// maxPool2d / avgPool2d cases: ResNet's stem pool on odd sizes, P6's
// kernel-1 stride-2 pool, ceil mode, dilation, rectangular windows.
#include <cmath>
#include <limits>

#include "../op_test.h"

using namespace sotr;
using namespace sotr_test;

namespace {

struct PoolSpec {
  bool isMax;
  int64_t N, C, H, W, kh, kw, sh, sw, ph, pw, dil;
  bool ceil, countIncludePad;
};

int64_t outSize(int64_t in, int64_t k, int64_t pad, int64_t s, int64_t d, bool ceil) {
  int64_t num = in + 2 * pad - d * (k - 1) - 1 + (ceil ? s - 1 : 0);
  int64_t o = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
  if (ceil && (o - 1) * s >= in + pad) --o;
  return o;
}

double poolRef(const PoolSpec& s, const OpCall& call, const std::vector<Tensor>& out) {
  const float* x = call.inputs[0].data<float>();
  const int64_t Ho = out[0].size(2), Wo = out[0].size(3);
  std::vector<float> ref(out[0].numel());
  for (int64_t pl = 0; pl < s.N * s.C; ++pl)
    for (int64_t oh = 0; oh < Ho; ++oh)
      for (int64_t ow = 0; ow < Wo; ++ow) {
        double acc = s.isMax ? -INFINITY : 0;
        int64_t cnt = 0, padded = 0;
        for (int64_t i = 0; i < s.kh; ++i)
          for (int64_t j = 0; j < s.kw; ++j) {
            const int64_t h = oh * s.sh - s.ph + i * s.dil, w = ow * s.sw - s.pw + j * s.dil;
            if (h < s.H + s.ph && w < s.W + s.pw) padded++;
            if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
            const double v = x[(pl * s.H + h) * s.W + w];
            if (s.isMax) acc = std::max(acc, v);
            else acc += v;
            cnt++;
          }
        if (!s.isMax) acc /= s.countIncludePad ? padded : cnt;
        ref[(pl * Ho + oh) * Wo + ow] = static_cast<float>(acc);
      }
  return nmse(out[0].data<float>(), ref.data(), out[0].numel());
}

OpCase poolCase(PoolSpec s) {
  OpCase c;
  c.name = std::string(s.isMax ? "maxPool2d " : "avgPool2d ") + std::to_string(s.N) + "x" + std::to_string(s.C) + "x" +
           std::to_string(s.H) + "x" + std::to_string(s.W) + " k" + std::to_string(s.kh) + "x" + std::to_string(s.kw) +
           " s" + std::to_string(s.sh) + " p" + std::to_string(s.ph) + (s.dil > 1 ? " d" + std::to_string(s.dil) : "") +
           (s.ceil ? " ceil" : "") + (!s.isMax && !s.countIncludePad ? " nopad" : "");
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = s.isMax ? "maxPool2d" : "avgPool2d";
    call.inputs = {randomTensor(rng, {s.N, s.C, s.H, s.W})};
    call.attrs.setNumbers("kernelSize", {double(s.kh), double(s.kw)});
    call.attrs.setNumbers("stride", {double(s.sh), double(s.sw)});
    call.attrs.setNumbers("padding", {double(s.ph), double(s.pw)});
    if (s.isMax) call.attrs.setNumber("dilation", double(s.dil));
    call.attrs.setBool("ceilMode", s.ceil);
    if (!s.isMax) call.attrs.setBool("countIncludePad", s.countIncludePad);
    return call;
  };
  c.exact = s.isMax;  // a max is a copy
  c.cpuReference = [s](const OpCall& call, const std::vector<Tensor>& out) { return poolRef(s, call, out); };
  c.cpuBound = s.isMax ? 0 : 1e-13;
  return c;
}

// isMax, N, C, H, W, kh, kw, sh, sw, ph, pw, dil, ceil, countIncludePad
OP_TEST_CASE(poolCase({true, 2, 3, 9, 11, 3, 3, 2, 2, 1, 1, 1, false, true}));
OP_TEST_CASE(poolCase({true, 1, 64, 200, 336, 3, 3, 2, 2, 1, 1, 1, false, true}));
OP_TEST_CASE(poolCase({true, 1, 5, 13, 21, 1, 1, 2, 2, 0, 0, 1, false, true}));
OP_TEST_CASE(poolCase({true, 1, 2, 7, 9, 2, 2, 2, 2, 0, 0, 1, true, true}));
OP_TEST_CASE(poolCase({true, 1, 2, 10, 9, 3, 3, 1, 1, 1, 1, 2, false, true}));
OP_TEST_CASE(poolCase({true, 1, 3, 1, 1, 3, 3, 2, 2, 1, 1, 1, false, true}));
OP_TEST_CASE(poolCase({true, 1, 3, 8, 7, 3, 2, 2, 1, 1, 0, 1, true, true}));
OP_TEST_CASE(poolCase({false, 1, 5, 8, 10, 2, 2, 2, 2, 0, 0, 1, false, true}));
OP_TEST_CASE(poolCase({false, 1, 256, 200, 336, 2, 2, 2, 2, 0, 0, 1, false, true}));
OP_TEST_CASE(poolCase({false, 2, 3, 9, 7, 3, 3, 2, 2, 1, 1, 1, false, true}));
OP_TEST_CASE(poolCase({false, 2, 3, 9, 7, 3, 3, 2, 2, 1, 1, 1, false, false}));
OP_TEST_CASE(poolCase({false, 1, 2, 7, 9, 2, 2, 2, 2, 1, 1, 1, true, true}));

}  // namespace
