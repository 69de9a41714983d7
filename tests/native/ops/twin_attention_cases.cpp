// twinAttention cases: awkward grids (H, W in {1, 7, 40, 80, 84, 130, 256}),
// odd channel counts and head sizes, both modes. Small cases are checked
// against a double-precision reference of the op's definition; all run CUDA
// vs the CPU twin where a GPU is present (tf32/bf16/fp16 too).
#include <cmath>
#include <string>
#include <vector>

#include "../op_test.h"

using namespace sotr;
using namespace sotr_test;

namespace {

// One MHA along an axis of src (NCHW, one image), in double: returns
// Wout·attn + bias per channel/pixel into dst (not gated).
void mhaRef(const std::vector<double>& src, int64_t C, int64_t H, int64_t W, int64_t heads, bool cols,
            const float* wq, const float* wkv, const float* wo, const float* bo, std::vector<double>& dst) {
  const int64_t N = H * W, d = C / heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<double> q(N * C), k(N * C), v(N * C), o(N * C);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      double sq = 0, sk = 0, sv = 0;
      for (int64_t j = 0; j < C; ++j) {
        const double xv = src[j * N + n];
        sq += wq[c * C + j] * xv;
        sk += wkv[c * C + j] * xv;
        sv += wkv[(C + c) * C + j] * xv;
      }
      q[n * C + c] = sq;
      k[n * C + c] = sk;
      v[n * C + c] = sv;
    }
  const int64_t nseq = cols ? W : H, L = cols ? H : W;
  auto tok = [&](int64_t s, int64_t t) { return cols ? t * W + s : s * W + t; };
  std::vector<double> p(L);
  for (int64_t s = 0; s < nseq; ++s)
    for (int64_t hd = 0; hd < heads; ++hd)
      for (int64_t i = 0; i < L; ++i) {
        double mx = -1e300;
        for (int64_t j = 0; j < L; ++j) {
          double a = 0;
          for (int64_t e = 0; e < d; ++e) a += q[tok(s, i) * C + hd * d + e] * k[tok(s, j) * C + hd * d + e];
          p[j] = a * scale;
          mx = std::max(mx, p[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < L; ++j) sum += (p[j] = std::exp(p[j] - mx));
        for (int64_t e = 0; e < d; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < L; ++j) acc += p[j] * v[tok(s, j) * C + hd * d + e];
          o[tok(s, i) * C + hd * d + e] = acc / sum;
        }
      }
  dst.assign(C * N, 0.0);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t n = 0; n < N; ++n) {
      double acc = bo[c];
      for (int64_t j = 0; j < C; ++j) acc += wo[c * C + j] * o[n * C + j];
      dst[c * N + n] = acc;
    }
}

double twinRef(const OpCall& call, const std::vector<Tensor>& out) {
  const Tensor& x = call.inputs[0];
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), N = H * W;
  const int64_t heads = call.attrs.integer("twinAttention", "heads", 8);
  const bool seq = call.attrs.string("twinAttention", "mode", "parallel") == "sequential";
  const double gc = call.attrs.number("twinAttention", "gCol", 0), gr = call.attrs.number("twinAttention", "gRow", 0);
  auto w = [&](int i) { return call.inputs[i].data<float>(); };
  std::vector<float> ref(B * C * N);
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> xs(x.data<float>() + b * C * N, x.data<float>() + (b + 1) * C * N), col, row;
    mhaRef(xs, C, H, W, heads, true, w(1), w(2), w(3), w(4), col);
    std::vector<double> t(C * N);
    for (int64_t i = 0; i < C * N; ++i) t[i] = xs[i] + gc * col[i];
    mhaRef(seq ? t : xs, C, H, W, heads, false, w(5), w(6), w(7), w(8), row);
    for (int64_t i = 0; i < C * N; ++i) ref[b * C * N + i] = static_cast<float>(t[i] + gr * row[i]);
  }
  return nmse(out[0].data<float>(), ref.data(), out[0].numel());
}

OpCase twinCase(int64_t B, int64_t C, int64_t H, int64_t W, int64_t heads, bool sequential, bool reference,
                bool timed = false) {
  OpCase c;
  c.name = "twinAttention " + std::to_string(B) + "x" + std::to_string(C) + "x" + std::to_string(H) + "x" +
           std::to_string(W) + " h" + std::to_string(heads) + (sequential ? " seq" : " par");
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = "twinAttention";
    // nn.Linear's init range (±1/sqrt(C)) keeps the scores in a realistic range.
    const float r = 1.f / std::sqrt(static_cast<float>(C));
    call.inputs = {randomTensor(rng, {B, C, H, W})};
    for (int dir = 0; dir < 2; ++dir) {
      call.inputs.push_back(randomTensor(rng, {C, C}, -r, r));
      call.inputs.push_back(randomTensor(rng, {2 * C, C}, -r, r));
      call.inputs.push_back(randomTensor(rng, {C, C}, -r, r));
      call.inputs.push_back(randomTensor(rng, {C}, -r, r));
    }
    call.attrs.setNumber("heads", static_cast<double>(heads));
    call.attrs.setString("mode", sequential ? "sequential" : "parallel");
    call.attrs.setNumber("gCol", rng.uniform(0.3f, 0.9f));
    call.attrs.setNumber("gRow", -rng.uniform(0.3f, 0.9f));
    return call;
  };
  c.reducedPrecision = true;
  // Three chained products (projection, scores, output) in reduced precision.
  c.bounds.tf32 = 1e-5;
  c.bounds.bf16 = 2e-4;
  c.bounds.fp16 = 1e-4;
  c.cpuReference = reference ? twinRef : nullptr;
  c.cpuBound = 1e-10;
  c.timed = timed;
  return c;
}

OP_TEST_CASE(twinCase(1, 8, 1, 1, 2, false, true));
OP_TEST_CASE(twinCase(2, 12, 7, 1, 3, true, true));
OP_TEST_CASE(twinCase(1, 16, 1, 7, 1, false, true));
OP_TEST_CASE(twinCase(2, 24, 7, 40, 2, false, true));
OP_TEST_CASE(twinCase(1, 20, 40, 7, 5, true, true));
OP_TEST_CASE(twinCase(3, 33, 7, 7, 3, true, true));
OP_TEST_CASE(twinCase(1, 64, 40, 80, 2, true, true));
OP_TEST_CASE(twinCase(1, 96, 1, 130, 2, false, true));
OP_TEST_CASE(twinCase(1, 40, 84, 7, 1, false, true));
OP_TEST_CASE(twinCase(1, 32, 84, 130, 4, false, false));
OP_TEST_CASE(twinCase(1, 48, 130, 84, 3, true, false));
OP_TEST_CASE(twinCase(1, 32, 256, 256, 2, false, false));
OP_TEST_CASE(twinCase(2, 16, 256, 1, 1, true, false));
OP_TEST_CASE(twinCase(1, 128, 1, 256, 8, false, false));
OP_TEST_CASE(twinCase(2, 256, 24, 48, 8, false, false, true));
OP_TEST_CASE(twinCase(1, 256, 40, 80, 8, true, false, true));
OP_TEST_CASE(twinCase(2, 256, 40, 80, 8, false, false, true));
// The GPU issue's benchmark shape (B = 8 grids of 40x80, 256 channels, parallel as released).
OP_TEST_CASE(twinCase(8, 256, 40, 80, 8, false, false, true));

}  // namespace
