// groupNorm cases: the mask branch's GN(32) + ReLU on 128 and 256 channels,
// 1x1 maps, one group, no affine, a mean far from zero, rank 3; leakyRelu;
// groups longer than the kernels' 2048-float chunks with odd tails, and channels
// whose means differ by far more than their spread (the chunk merge).
#include <cmath>

#include "../op_test.h"

using namespace sotr;
using namespace sotr_test;

namespace {

double gnRef(int64_t G, const OpCall& call, const std::vector<Tensor>& out) {
  const Tensor& x = call.inputs[0];
  const int64_t N = x.size(0), C = x.size(1), HW = x.numel() / (N * C), Cg = C / G;
  const float* gm = call.inputs.size() > 1 && call.inputs[1].defined() ? call.inputs[1].data<float>() : nullptr;
  const float* bt = call.inputs.size() > 2 && call.inputs[2].defined() ? call.inputs[2].data<float>() : nullptr;
  const std::string act = call.attrs.string("groupNorm", "activation", "none");
  const double slope = call.attrs.number("groupNorm", "negativeSlope", 0.01);
  std::vector<float> ref(x.numel());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < G; ++g) {
      const float* xs = x.data<float>() + (n * C + g * Cg) * HW;
      double s = 0, q = 0;
      for (int64_t i = 0; i < Cg * HW; ++i) s += xs[i];
      const double mean = s / (Cg * HW);
      for (int64_t i = 0; i < Cg * HW; ++i) q += (xs[i] - mean) * (xs[i] - mean);
      const double rstd = 1 / std::sqrt(q / (Cg * HW) + 1e-5);
      for (int64_t c = 0; c < Cg; ++c)
        for (int64_t i = 0; i < HW; ++i) {
          const int64_t ch = g * Cg + c;
          double v = (xs[c * HW + i] - mean) * rstd * (gm ? gm[ch] : 1) + (bt ? bt[ch] : 0);
          if (act == "relu") v = v > 0 ? v : 0;
          if (act == "leakyRelu") v = v > 0 ? v : v * slope;
          ref[(n * C + ch) * HW + i] = static_cast<float>(v);
        }
    }
  return nmse(out[0].data<float>(), ref.data(), x.numel());
}

// offset: added to every value; channelStep: channel c also gets c * channelStep.
OpCase gnCase(Shape shape, int64_t G, bool affine, const char* act, float offset = 0.f, bool timed = false,
              float channelStep = 0.f) {
  OpCase c;
  c.name = "groupNorm " + shapeStr(shape) + " g" + std::to_string(G) + (affine ? " affine" : "") + " " + act +
           (offset != 0.f ? " offset" : "") + (channelStep != 0.f ? " channel means" : "");
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = "groupNorm";
    call.inputs = {randomTensor(rng, shape, offset - 2.f, offset + 2.f)};
    if (channelStep != 0.f) {
      Tensor& x = call.inputs[0];
      const int64_t C = x.size(1), HW = x.numel() / (x.size(0) * C);
      for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] += channelStep * static_cast<float>((i / HW) % C);
    }
    if (affine) {
      call.inputs.push_back(randomTensor(rng, {shape[1]}, 0.5f, 1.5f));
      call.inputs.push_back(randomTensor(rng, {shape[1]}));
    }
    call.attrs.setNumber("groups", double(G));
    call.attrs.setString("activation", act);
    return call;
  };
  if (!timed) c.cpuReference = [G](const OpCall& call, const std::vector<Tensor>& out) { return gnRef(G, call, out); };
  c.cpuBound = 1e-12;
  c.timed = timed;
  return c;
}

OP_TEST_CASE(gnCase({2, 8, 5, 7}, 4, true, "relu"));
OP_TEST_CASE(gnCase({1, 128, 25, 42}, 32, true, "relu"));
OP_TEST_CASE(gnCase({2, 12, 1, 1}, 3, true, "none"));
OP_TEST_CASE(gnCase({1, 6, 4, 3}, 2, false, "none"));
OP_TEST_CASE(gnCase({1, 5, 3, 4}, 1, true, "relu"));
OP_TEST_CASE(gnCase({1, 8, 6, 6}, 2, true, "none", 100.f));
OP_TEST_CASE(gnCase({2, 6, 10}, 3, true, "none"));
OP_TEST_CASE(gnCase({1, 1, 2000, 3}, 1, true, "none"));
OP_TEST_CASE(gnCase({2, 6, 7, 13}, 3, true, "leakyRelu"));
OP_TEST_CASE(gnCase({1, 4, 1503, 1}, 1, true, "relu", 100.f));
OP_TEST_CASE(gnCase({2, 8, 37, 41}, 2, true, "leakyRelu", -3.f, false, 40.f));
OP_TEST_CASE(gnCase({1, 128, 200, 336}, 32, true, "relu", 0.f, true));

}  // namespace
