// selectCandidates cases (CPU only: host post-processing): the op against a
// direct transcription of the TypeScript it replaced (every probability through
// the sigmoid, a kept map per class, then the row-major (cell, class) scan),
// bit for bit, on awkward grids (1x1, odd sizes, one class), tie-heavy logits
// (equal neighbours under point NMS), thresholds at both ends, NaN and
// infinities. The JS suite checks it against the TypeScript itself.
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "../op_test.h"
#include "ops/select_candidates.h"

using namespace sotr;
using namespace sotr_test;

namespace {

struct Spec {
  std::vector<int64_t> grids;
  int64_t classes;
  double threshold;
  int logits;  // 0 uniform in [-6, 3], 1 a few values (ties), 2 with NaN and infinities
  bool timed = false;
};

struct Ref {
  std::vector<int32_t> cells, labels, rows, distinctCells;
  std::vector<float> scores, strides;
};

Ref reference(const Spec& s, const OpCall& call) {
  Ref r;
  int64_t offset = 0;
  for (size_t l = 0; l < s.grids.size(); ++l) {
    const int64_t n = s.grids[l], nn = n * n, C = s.classes;
    const float* cate = call.inputs[l].data<float>();
    std::vector<float> p(C * nn, 0.f), kept(C * nn, 0.f);
    for (int64_t i = 0; i < C * nn; ++i)
      if (!std::isnan(cate[i]) && cate[i] != -std::numeric_limits<float>::infinity()) p[i] = sigmoid32Exact(cate[i]);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < n; ++y)
        for (int64_t x = 0; x < n; ++x) {
          auto at = [&](int64_t yy, int64_t xx) {
            return yy < 0 || xx < 0 ? -std::numeric_limits<float>::infinity() : p[c * nn + yy * n + xx];
          };
          const float v = at(y, x);
          const float m = std::max(std::max(v, at(y - 1, x)), std::max(at(y - 1, x - 1), at(y, x - 1)));
          kept[c * nn + y * n + x] = m == v ? v : 0.f;
        }
    for (int64_t cell = 0; cell < nn; ++cell)
      for (int64_t c = 0; c < C; ++c) {
        const float v = kept[c * nn + cell];
        if (double(v) > s.threshold) {
          if (r.distinctCells.empty() || r.distinctCells.back() != int32_t(offset + cell)) r.distinctCells.push_back(int32_t(offset + cell));
          r.rows.push_back(int32_t(r.distinctCells.size() - 1));
          r.cells.push_back(int32_t(offset + cell));
          r.labels.push_back(int32_t(c));
          r.scores.push_back(v);
          r.strides.push_back(float(8 << l));
        }
      }
    offset += nn;
  }
  return r;
}

double check(const Spec& s, const OpCall& call, const std::vector<Tensor>& out) {
  const Ref r = reference(s, call);
  const int64_t n = out[0].data<int32_t>()[0], d = out[0].data<int32_t>()[1];
  if (n != int64_t(r.cells.size()) || d != int64_t(r.distinctCells.size())) return INFINITY;
  if (n == 0) return 0;
  bool same = std::memcmp(out[1].raw(), r.cells.data(), n * 4) == 0 && std::memcmp(out[2].raw(), r.labels.data(), n * 4) == 0 &&
              std::memcmp(out[3].raw(), r.scores.data(), n * 4) == 0 && std::memcmp(out[4].raw(), r.strides.data(), n * 4) == 0 &&
              std::memcmp(out[5].raw(), r.rows.data(), n * 4) == 0 && std::memcmp(out[6].raw(), r.distinctCells.data(), d * 4) == 0;
  for (int64_t i = n; i < out[1].numel(); ++i)
    same = same && out[1].data<int32_t>()[i] == 0 && out[3].data<float>()[i] == 0.f && out[5].data<int32_t>()[i] == 0;
  for (int64_t i = d; i < out[6].numel(); ++i) same = same && out[6].data<int32_t>()[i] == 0;
  return same ? 0.0 : INFINITY;
}

OpCase selectCase(Spec s) {
  OpCase c;
  c.name = "selectCandidates C" + std::to_string(s.classes) + " grids";
  for (int64_t g : s.grids) c.name += " " + std::to_string(g);
  c.name += " t" + std::to_string(s.threshold).substr(0, 4) + (s.logits == 1 ? " ties" : s.logits == 2 ? " nan/inf" : "");
  c.make = [s](Rng& rng) {
    OpCall call;
    call.op = "selectCandidates";
    std::vector<double> strides;
    for (size_t l = 0; l < s.grids.size(); ++l) {
      const int64_t n = s.grids[l];
      Tensor t = cpuTensor(DType::F32, {1, s.classes, n, n});
      float* p = t.data<float>();
      for (int64_t i = 0; i < t.numel(); ++i) {
        if (s.logits == 1) p[i] = float(rng.integer(-2, 2));
        else p[i] = rng.uniform(-6.f, 3.f);
        if (s.logits == 2) {
          const int64_t k = rng.integer(0, 19);
          if (k == 0) p[i] = std::numeric_limits<float>::quiet_NaN();
          if (k == 1) p[i] = std::numeric_limits<float>::infinity();
          if (k == 2) p[i] = -std::numeric_limits<float>::infinity();
          if (k == 3) p[i] = -120.f;
        }
      }
      call.inputs.push_back(t);
      strides.push_back(double(8 << l));
    }
    call.attrs.setNumber("threshold", s.threshold);
    call.attrs.setNumbers("strides", strides);
    return call;
  };
  hostOpCheck(c, s.timed, [s](const OpCall& call, const std::vector<Tensor>& out) { return check(s, call, out); });
  return c;
}

OP_TEST_CASE(selectCase({{1}, 1, 0.1, 0}));
OP_TEST_CASE(selectCase({{2, 3}, 5, 0.1, 0}));
OP_TEST_CASE(selectCase({{7, 1, 4}, 3, 0.1, 1}));       // ties: equal neighbours both kept
OP_TEST_CASE(selectCase({{5, 3}, 4, 0.0, 1}));          // threshold 0: every unsuppressed pair
OP_TEST_CASE(selectCase({{6}, 2, 0.5, 0}));
OP_TEST_CASE(selectCase({{6, 2}, 3, 1.0, 0}));          // threshold 1: none
OP_TEST_CASE(selectCase({{9, 4}, 3, 0.1, 2}));          // NaN, infinities, saturated logits
OP_TEST_CASE(selectCase({{9}, 3, 0.0, 2}));
OP_TEST_CASE(selectCase({{40, 36, 24, 16, 12}, 80, 0.1, 0, true}));  // SOTR's five levels, COCO classes

}  // namespace
