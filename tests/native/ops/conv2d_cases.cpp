// conv2d cases: awkward sizes (odd maps, 1x1 maps, stride 2 on odd inputs,
// channel counts off the tile sizes, groups, dilation), every epilogue piece,
// and shapes that take each path of the CPU engine (per-block columns, shared
// columns split over row blocks, 1x1 read in place).
#include <cmath>
#include <string>

#include "../op_test.h"

using namespace sotr;
using namespace sotr_test;

namespace {

struct ConvSpec {
  int64_t N, C, H, W, O, kh, kw, sh, sw, ph, pw, dh, dw, groups;
  bool bias, bn, residual;
  const char* act;
  const char* algo = "auto";  // conv2d's attr algorithm
};

// Double-precision direct convolution with the op's epilogue.
double convRef(const OpCall& call, const std::vector<Tensor>& out, int biasSlot) {
  const Tensor& x = call.inputs[0];
  const Tensor& w = call.inputs[biasSlot == 2 ? 1 : 3];
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = w.size(0), Cg = w.size(1), kh = w.size(2), kw = w.size(3);
  const int64_t G = C / Cg, Og = O / G;
  const int64_t Ho = out[0].size(2), Wo = out[0].size(3);
  auto pair = [&](const char* k, int64_t d, int64_t* a, int64_t* b) {
    auto v = call.attrs.integers(call.op, k, {d});
    *a = v[0];
    *b = v.size() > 1 ? v[1] : v[0];
  };
  int64_t sh, sw, ph, pw, dh, dw;
  pair("stride", 1, &sh, &sw);
  pair("padding", 0, &ph, &pw);
  pair("dilation", 1, &dh, &dw);
  auto opt = [&](int s) -> const float* {
    return static_cast<int>(call.inputs.size()) > s && call.inputs[s].defined() ? call.inputs[s].data<float>() : nullptr;
  };
  const float *bias = opt(biasSlot), *scale = opt(biasSlot + 1), *shift = opt(biasSlot + 2), *res = opt(biasSlot + 3);
  const std::string act = call.attrs.string(call.op, "activation", "none");
  const double slope = call.attrs.number(call.op, "negativeSlope", 0.01);
  const double alpha = call.attrs.number(call.op, "alpha", 1.0), beta = call.attrs.number(call.op, "beta", 1.0);
  std::vector<float> ref(out[0].numel());
  const float* X = x.data<float>();
  const float* Wt = w.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o) {
      const int64_t g = o / Og;
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow) {
          double s = 0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t ih = oh * sh - ph + i * dh, iw = ow * sw - pw + j * dw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                s += double(X[((n * C + g * Cg + c) * H + ih) * W + iw]) * Wt[((o * Cg + c) * kh + i) * kw + j];
              }
          if (bias) s += bias[o];
          if (scale) s *= scale[o];
          if (shift) s += shift[o];
          const int64_t idx = ((n * O + o) * Ho + oh) * Wo + ow;
          s *= alpha;
          if (res) s += beta * res[idx];
          if (act == "relu") s = s > 0 ? s : 0;
          if (act == "leakyRelu") s = s > 0 ? s : s * slope;
          if (act == "sigmoid") s = 1 / (1 + std::exp(-s));
          ref[idx] = static_cast<float>(s);
        }
    }
  return nmse(out[0].data<float>(), ref.data(), out[0].numel());
}

OpCase convCase(ConvSpec s, bool timed = false) {
  OpCase c;
  c.name = "conv2d " + std::to_string(s.N) + "x" + std::to_string(s.C) + "x" + std::to_string(s.H) + "x" +
           std::to_string(s.W) + " ->" + std::to_string(s.O) + " k" + std::to_string(s.kh) + "x" + std::to_string(s.kw) +
           (s.sh != 1 || s.sw != 1 ? " s" + std::to_string(s.sh) + "," + std::to_string(s.sw) : "") +
           (s.dh != 1 || s.dw != 1 ? " d" + std::to_string(s.dh) : "") +
           (s.groups != 1 ? " g" + std::to_string(s.groups) : "") + (s.bias ? " b" : "") + (s.bn ? " bn" : "") +
           (s.residual ? " res" : "") + " " + s.act + (std::string(s.algo) != "auto" ? std::string(" ") + s.algo : "");
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = "conv2d";
    const int64_t Ho = (s.H + 2 * s.ph - s.dh * (s.kh - 1) - 1) / s.sh + 1;
    const int64_t Wo = (s.W + 2 * s.pw - s.dw * (s.kw - 1) - 1) / s.sw + 1;
    const float wb = 1.f / std::sqrt(float(s.C / s.groups * s.kh * s.kw));
    call.inputs = {randomTensor(rng, {s.N, s.C, s.H, s.W}), randomTensor(rng, {s.O, s.C / s.groups, s.kh, s.kw}, -wb, wb)};
    call.inputs.push_back(s.bias ? randomTensor(rng, {s.O}) : Tensor());
    call.inputs.push_back(s.bn ? randomTensor(rng, {s.O}, 0.5f, 1.5f) : Tensor());
    call.inputs.push_back(s.bn ? randomTensor(rng, {s.O}) : Tensor());
    call.inputs.push_back(s.residual ? randomTensor(rng, {s.N, s.O, Ho, Wo}) : Tensor());
    call.attrs.setNumbers("stride", {double(s.sh), double(s.sw)});
    call.attrs.setNumbers("padding", {double(s.ph), double(s.pw)});
    call.attrs.setNumbers("dilation", {double(s.dh), double(s.dw)});
    call.attrs.setNumber("groups", double(s.groups));
    call.attrs.setString("activation", s.act);
    if (std::string(s.algo) != "auto") call.attrs.setString("algorithm", s.algo);
    if (s.residual) {  // the ReZero form: x + g * FF(x)
      call.attrs.setNumber("alpha", 0.75);
      call.attrs.setNumber("beta", 1.25);
    }
    return call;
  };
  c.reducedPrecision = true;
  if (!timed) c.cpuReference = [](const OpCall& call, const std::vector<Tensor>& out) { return convRef(call, out, 2); };
  c.cpuBound = 1e-10;
  c.timed = timed;
  return c;
}

// N, C, H, W, O, kh, kw, sh, sw, ph, pw, dh, dw, groups, bias, bn, residual, act
OP_TEST_CASE(convCase({1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, false, false, false, "none"}));
OP_TEST_CASE(convCase({1, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false, false, "relu"}));
OP_TEST_CASE(convCase({2, 4, 9, 11, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, false, true, false, "none"}));
OP_TEST_CASE(convCase({2, 6, 1, 1, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false, true, "leakyRelu"}));
OP_TEST_CASE(convCase({1, 5, 10, 8, 4, 3, 3, 1, 1, 2, 2, 2, 2, 1, true, false, false, "none"}));
OP_TEST_CASE(convCase({2, 8, 6, 7, 12, 3, 3, 1, 1, 1, 1, 1, 1, 4, true, true, true, "leakyRelu"}));
OP_TEST_CASE(convCase({1, 3, 33, 31, 17, 7, 7, 2, 2, 3, 3, 1, 1, 1, false, true, false, "relu"}));
OP_TEST_CASE(convCase({1, 4, 9, 6, 5, 3, 1, 2, 1, 1, 0, 1, 1, 1, true, false, false, "sigmoid"}));
// 1x1: read in place (many blocks, few blocks), and with stride 2
OP_TEST_CASE(convCase({1, 37, 45, 51, 29, 1, 1, 1, 1, 0, 0, 1, 1, 1, true, true, true, "relu"}));
OP_TEST_CASE(convCase({1, 64, 5, 7, 200, 1, 1, 1, 1, 0, 0, 1, 1, 1, true, false, false, "none"}));
OP_TEST_CASE(convCase({2, 24, 13, 15, 40, 1, 1, 2, 2, 0, 0, 1, 1, 1, false, true, true, "relu"}));
// few column blocks, many rows: shared columns split over row blocks
OP_TEST_CASE(convCase({1, 40, 5, 9, 130, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false, true, "leakyRelu"}));
OP_TEST_CASE(convCase({3, 9, 4, 5, 100, 3, 3, 1, 1, 1, 1, 1, 1, 1, false, true, false, "none"}));
// many column blocks with row blocks (deep K, column block of 32)
OP_TEST_CASE(convCase({1, 300, 11, 23, 100, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true, true, "relu"}));
OP_TEST_CASE(convCase({2, 19, 37, 29, 23, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false, false, "relu"}));
OP_TEST_CASE(convCase({1, 16, 31, 33, 24, 5, 3, 2, 1, 2, 1, 2, 1, 2, true, false, false, "none"}));
// grouped 1x1 read in place; a batch of images; 1x1 maps
OP_TEST_CASE(convCase({2, 12, 9, 10, 8, 1, 1, 1, 1, 0, 0, 1, 1, 2, true, false, true, "none"}));
OP_TEST_CASE(convCase({3, 16, 23, 19, 21, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true, false, "relu"}));
OP_TEST_CASE(convCase({4, 7, 1, 1, 9, 1, 1, 1, 1, 0, 0, 1, 1, 1, true, false, false, "none"}));
// Winograd F(2x2, 3x3) (3x3 stride 1, >= 16 channels): odd outputs (partial
// tiles), padding 0 and 2, tile rows wider than a 16-tile chunk, a batch,
// tasks crossing tile rows and images, every epilogue piece, the sigmoid;
// and the same geometries forced onto the direct engine.
OP_TEST_CASE(convCase({1, 16, 4, 4, 16, 3, 3, 1, 1, 0, 0, 1, 1, 1, true, false, false, "none"}));
OP_TEST_CASE(convCase({2, 33, 13, 71, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true, true, "leakyRelu"}));
OP_TEST_CASE(convCase({1, 20, 9, 40, 47, 3, 3, 1, 1, 0, 0, 1, 1, 1, false, false, true, "relu"}));
OP_TEST_CASE(convCase({3, 24, 7, 5, 17, 3, 3, 1, 1, 2, 2, 1, 1, 1, true, false, false, "sigmoid"}));
OP_TEST_CASE(convCase({1, 130, 25, 68, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true, true, "none", "winograd"}));
OP_TEST_CASE(convCase({2, 33, 13, 71, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true, true, "leakyRelu", "direct"}));
OP_TEST_CASE(convCase({1, 300, 11, 23, 100, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true, true, "relu", "direct"}));
OP_TEST_CASE(convCase({1, 40, 5, 9, 130, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false, true, "leakyRelu", "direct"}));
// Winograd F(4x4, 3x3): the same awkward geometries (partial tiles in both
// directions, outputs narrower than a tile, 16-tile chunks and tasks crossing
// tile rows and images, every epilogue piece), a deep one, and 'winograd2'.
OP_TEST_CASE(convCase({1, 16, 4, 4, 16, 3, 3, 1, 1, 0, 0, 1, 1, 1, true, false, false, "none", "winograd4"}));
OP_TEST_CASE(convCase({2, 33, 13, 71, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true, true, "leakyRelu", "winograd4"}));
OP_TEST_CASE(convCase({1, 20, 9, 40, 47, 3, 3, 1, 1, 0, 0, 1, 1, 1, false, false, true, "relu", "winograd4"}));
OP_TEST_CASE(convCase({3, 24, 7, 5, 17, 3, 3, 1, 1, 2, 2, 1, 1, 1, true, false, false, "sigmoid", "winograd4"}));
OP_TEST_CASE(convCase({1, 130, 25, 68, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true, true, "none", "winograd4"}));
OP_TEST_CASE(convCase({2, 64, 34, 67, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, false, true, false, "relu", "winograd4"}));
OP_TEST_CASE(convCase({1, 512, 9, 11, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false, false, "none", "winograd4"}));
OP_TEST_CASE(convCase({2, 33, 13, 71, 18, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true, true, "leakyRelu", "winograd2"}));
// 'winograd2' on CUDA runs the opt-in Winograd F(2x2, 3x3) kernels
// (cuda/conv2d_winograd.cu): one tile, padding 0 with odd output rows and
// O % 4 != 0, padding 2 with a batch of 3 and the sigmoid, asymmetric padding
// with C % 4 != 0 and BN only, odd Ho and Wo (partial tiles in both
// directions) with every epilogue piece, a deeper one, and the 25x84 level
// (odd tile rows). On the GPU, SOTR_CUDA_CONV_WINOGRAD=1 also sends every
// 'auto' case above that winogradGeometry accepts through them.
OP_TEST_CASE(convCase({1, 16, 4, 4, 16, 3, 3, 1, 1, 0, 0, 1, 1, 1, true, false, false, "none", "winograd2"}));
OP_TEST_CASE(convCase({1, 20, 9, 40, 47, 3, 3, 1, 1, 0, 0, 1, 1, 1, false, false, true, "relu", "winograd2"}));
OP_TEST_CASE(convCase({3, 24, 7, 5, 17, 3, 3, 1, 1, 2, 2, 1, 1, 1, true, false, false, "sigmoid", "winograd2"}));
OP_TEST_CASE(convCase({2, 17, 6, 35, 19, 3, 3, 1, 1, 1, 2, 1, 1, 1, false, true, false, "none", "winograd2"}));
OP_TEST_CASE(convCase({2, 37, 11, 29, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true, true, "relu", "winograd2"}));
OP_TEST_CASE(convCase({1, 130, 25, 68, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, true, true, "none", "winograd2"}));
OP_TEST_CASE(convCase({1, 48, 25, 84, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false, true, "leakyRelu", "winograd2"}));
// FPN P2 (timed: no double reference at this size): on CUDA V needs 68.8M
// floats, over the 2^25 of a pass, so steps 2-4 run in 3 passes, the last of
// 416 tiles.
OP_TEST_CASE(convCase({1, 256, 200, 336, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false, true, "relu", "winograd2"}, true));
// the transformer's conv on a small map (timed)
OP_TEST_CASE(convCase({1, 256, 12, 24, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false, false, "leakyRelu"}, true));
OP_TEST_CASE(convCase({1, 64, 100, 168, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, false, true, false, "relu"}, true));
OP_TEST_CASE(convCase({1, 256, 12, 24, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false, false, "leakyRelu", "direct"}, true));
OP_TEST_CASE(convCase({1, 64, 100, 168, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, false, true, false, "relu", "direct"}, true));
OP_TEST_CASE(convCase({1, 256, 12, 24, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false, false, "leakyRelu", "winograd2"}, true));
OP_TEST_CASE(convCase({1, 64, 100, 168, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, false, true, false, "relu", "winograd2"}, true));
OP_TEST_CASE(convCase({1, 256, 12, 24, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false, false, "leakyRelu", "winograd4"}, true));
// its largest level, implicit GEMM vs the CUDA Winograd F(2x2) (timed)
OP_TEST_CASE(convCase({1, 256, 40, 80, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false, false, "leakyRelu", "direct"}, true));
OP_TEST_CASE(convCase({1, 256, 40, 80, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1, true, false, false, "leakyRelu", "winograd2"}, true));
OP_TEST_CASE(convCase({1, 64, 100, 168, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, false, true, false, "relu", "winograd4"}, true));

}  // namespace
