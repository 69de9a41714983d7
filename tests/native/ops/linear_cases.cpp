// linear cases: the heads (256 -> 80 / 256 over grid cells), any leading dims,
// sizes off the tile sizes.
#include <cmath>

#include "../op_test.h"

using namespace sotr;
using namespace sotr_test;

namespace {

double linearRef(const OpCall& call, const std::vector<Tensor>& out) {
  const Tensor& x = call.inputs[0];
  const Tensor& w = call.inputs[1];
  const int64_t K = w.size(1), N = w.size(0), M = x.numel() / K;
  const float* b = call.inputs.size() > 2 && call.inputs[2].defined() ? call.inputs[2].data<float>() : nullptr;
  const std::string act = call.attrs.string("linear", "activation", "none");
  std::vector<float> ref(M * N);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = b ? b[j] : 0;
      for (int64_t k = 0; k < K; ++k) s += double(x.data<float>()[i * K + k]) * w.data<float>()[j * K + k];
      if (act == "relu") s = s > 0 ? s : 0;
      if (act == "sigmoid") s = 1 / (1 + std::exp(-s));
      ref[i * N + j] = static_cast<float>(s);
    }
  return nmse(out[0].data<float>(), ref.data(), M * N);
}

OpCase linearCase(Shape xs, int64_t outF, bool bias, const char* act) {
  OpCase c;
  c.name = "linear " + shapeStr(xs) + " -> " + std::to_string(outF) + (bias ? " bias" : "") + " " + act;
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = "linear";
    const float wb = 1.f / std::sqrt(float(xs.back()));
    call.inputs = {randomTensor(rng, xs), randomTensor(rng, {outF, xs.back()}, -wb, wb)};
    if (bias) call.inputs.push_back(randomTensor(rng, {outF}));
    call.attrs.setString("activation", act);
    return call;
  };
  c.reducedPrecision = true;
  c.cpuReference = linearRef;
  c.cpuBound = 1e-10;
  return c;
}

OP_TEST_CASE(linearCase({7}, 3, false, "none"));
OP_TEST_CASE(linearCase({3, 5, 17}, 11, true, "relu"));
OP_TEST_CASE(linearCase({1, 40, 40, 256}, 80, true, "sigmoid"));
OP_TEST_CASE(linearCase({36, 36, 256}, 256, true, "none"));
OP_TEST_CASE(linearCase({2, 3, 4, 33}, 130, true, "none"));

}  // namespace
