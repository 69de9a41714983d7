// matmul cases: awkward sizes, transposes, broadcast batches, epilogues.
#include <cmath>

#include "../op_test.h"

using namespace sotr;
using namespace sotr_test;

namespace {

// Double-precision reference of planMatmul's contract.
double matmulRef(const OpCall& call, const std::vector<Tensor>& out) {
  const Tensor& a = call.inputs[0];
  const Tensor& b = call.inputs[1];
  const bool ta = call.attrs.flag("matmul", "transA", false), tb = call.attrs.flag("matmul", "transB", false);
  const int64_t batch = out[0].dim() == 3 ? out[0].size(0) : 1;
  const int64_t M = out[0].size(-2), N = out[0].size(-1), K = ta ? a.size(-2) : a.size(-1);
  const float* bias = call.inputs.size() > 2 && call.inputs[2].defined() ? call.inputs[2].data<float>() : nullptr;
  const double alpha = call.attrs.number("matmul", "alpha", 1.0);
  std::vector<float> ref(out[0].numel());
  for (int64_t bi = 0; bi < batch; ++bi) {
    const float* A = a.data<float>() + (a.dim() == 3 ? bi * a.size(1) * a.size(2) : 0);
    const float* B = b.data<float>() + (b.dim() == 3 ? bi * b.size(1) * b.size(2) : 0);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k)
          s += static_cast<double>(ta ? A[k * a.size(-1) + i] : A[i * a.size(-1) + k]) *
               (tb ? B[j * b.size(-1) + k] : B[k * b.size(-1) + j]);
        if (bias) s += bias[j];
        s *= alpha;
        std::string act = call.attrs.string("matmul", "activation", "none");
        if (act == "relu") s = s > 0 ? s : 0;
        if (act == "leakyRelu") s = s > 0 ? s : s * call.attrs.number("matmul", "negativeSlope", 0.01);
        ref[(bi * M + i) * N + j] = static_cast<float>(s);
      }
  }
  return nmse(out[0].data<float>(), ref.data(), out[0].numel());
}

OpCase matmulCase(int64_t batchA, int64_t batchB, int64_t M, int64_t N, int64_t K, bool ta, bool tb, bool bias,
                  const char* act, bool timed = false) {
  OpCase c;
  c.name = "matmul " + std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K) +
           (batchA || batchB ? " b" + std::to_string(batchA) + "/" + std::to_string(batchB) : "") + (ta ? " tA" : "") +
           (tb ? " tB" : "") + (bias ? " bias" : "") + " " + act;
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = "matmul";
    Shape sa = ta ? Shape{K, M} : Shape{M, K};
    Shape sb = tb ? Shape{N, K} : Shape{K, N};
    if (batchA) sa.insert(sa.begin(), batchA);
    if (batchB) sb.insert(sb.begin(), batchB);
    call.inputs = {randomTensor(rng, sa), randomTensor(rng, sb)};
    if (bias) call.inputs.push_back(randomTensor(rng, {N}));
    call.attrs.setBool("transA", ta);
    call.attrs.setBool("transB", tb);
    call.attrs.setString("activation", act);
    call.attrs.setNumber("alpha", 0.75);
    return call;
  };
  c.reducedPrecision = true;
  c.cpuReference = timed ? nullptr : matmulRef;
  c.cpuBound = 1e-10;
  c.timed = timed;
  return c;
}

OP_TEST_CASE(matmulCase(0, 0, 1, 1, 1, false, false, false, "none"));
OP_TEST_CASE(matmulCase(0, 0, 7, 13, 5, false, false, true, "relu"));
OP_TEST_CASE(matmulCase(0, 0, 33, 65, 17, true, false, false, "leakyRelu"));
OP_TEST_CASE(matmulCase(0, 0, 127, 255, 129, false, true, true, "none"));
OP_TEST_CASE(matmulCase(0, 0, 64, 96, 300, true, true, false, "none"));
OP_TEST_CASE(matmulCase(3, 0, 20, 31, 40, false, false, true, "none"));
OP_TEST_CASE(matmulCase(0, 3, 20, 31, 40, false, true, false, "relu"));
OP_TEST_CASE(matmulCase(4, 4, 84, 84, 32, false, true, false, "none"));
OP_TEST_CASE(matmulCase(0, 0, 512, 512, 512, false, false, false, "none", true));

}  // namespace
