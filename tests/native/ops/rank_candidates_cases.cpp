// rankCandidates cases (CPU only): the op against a direct transcription of the
// TypeScript it replaced (area filter, float32 rescoring, a stable sort by score
// descending then index, the nmsPre cut, the gather), bit for bit, on awkward
// inputs: no candidates, one, all filtered out, nmsPre below / at / above the
// count, heavy score ties, a NaN score, odd mask sizes, an empty masks
// placeholder [n, 0, 0] (nothing gathered).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "../op_test.h"

using namespace sotr;
using namespace sotr_test;

namespace {

struct Spec {
  int64_t n, H, W2, nmsPre;
  bool ties = false, nan = false, timed = false;
  bool absentMasks = false;  // masks input left undefined (optional): nothing gathered
};

double check(const Spec& s, const OpCall& call, const std::vector<Tensor>& out) {
  const float* scores = call.inputs[0].data<float>();
  const float* strides = call.inputs[1].data<float>();
  const int32_t* areas = call.inputs[3].data<int32_t>();
  const float* soft = call.inputs[4].data<float>();
  std::vector<int32_t> keep;
  std::vector<float> score1(s.n, 0.f);
  for (int64_t i = 0; i < s.n; ++i) {
    const float area = float(areas[i]);
    if (area > strides[i]) {
      keep.push_back(int32_t(i));
      score1[i] = float(double(scores[i]) * double(float(double(soft[i]) / double(area))));
    }
  }
  std::stable_sort(keep.begin(), keep.end(), [&](int32_t a, int32_t b) {
    const float sa = score1[a], sb = score1[b];
    if (std::isnan(sa) || std::isnan(sb)) return !std::isnan(sa) && std::isnan(sb);
    return sa > sb;
  });
  const int64_t kept = std::min<int64_t>(int64_t(keep.size()), s.nmsPre);
  if (out[0].data<int32_t>()[0] != int32_t(keep.size()) || out[0].data<int32_t>()[1] != kept) return INFINITY;
  const int64_t per = s.H * s.W2;
  if (out[6].shape != Shape{std::min(s.n, s.nmsPre), s.H, s.W2}) return INFINITY;
  for (int64_t k = 0; k < kept; ++k) {
    const int32_t i = keep[k];
    if (out[1].data<int32_t>()[k] != i || std::memcmp(out[2].data<float>() + k, &score1[i], 4) != 0 ||
        out[3].data<int32_t>()[k] != call.inputs[2].data<int32_t>()[i] || out[4].data<int32_t>()[k] != areas[i] ||
        std::memcmp(out[5].data<float>() + k, soft + i, 4) != 0 ||
        (per && std::memcmp(out[6].data<int32_t>() + k * per, call.inputs[5].data<int32_t>() + i * per, per * 4) != 0) ||
        std::memcmp(out[7].data<int32_t>() + 4 * k, call.inputs[6].data<int32_t>() + 4 * i, 16) != 0)
      return INFINITY;
  }
  return 0;
}

OpCase rankCase(Spec s) {
  OpCase c;
  c.name = "rankCandidates n" + std::to_string(s.n) + " masks " + std::to_string(s.H) + "x" + std::to_string(s.W2) +
           " nmsPre " + std::to_string(s.nmsPre) + (s.ties ? " ties" : "") + (s.nan ? " nan" : "") +
           (s.absentMasks ? " no masks input" : "");
  c.make = [s](Rng& rng) {
    OpCall call;
    call.op = "rankCandidates";
    Tensor scores = cpuTensor(DType::F32, {s.n}), strides = cpuTensor(DType::F32, {s.n}), labels = cpuTensor(DType::I32, {s.n});
    Tensor areas = cpuTensor(DType::I32, {s.n}), soft = cpuTensor(DType::F32, {s.n});
    Tensor masks = cpuTensor(DType::I32, {s.n, s.H, s.W2}), boxes = cpuTensor(DType::I32, {s.n, 4});
    for (int64_t i = 0; i < s.n; ++i) {
      scores.data<float>()[i] = s.ties ? 0.25f * float(rng.integer(1, 3)) : rng.uniform(0.1f, 1.f);
      strides.data<float>()[i] = float(8 << rng.integer(0, 2));
      labels.data<int32_t>()[i] = int32_t(rng.integer(0, 4));
      areas.data<int32_t>()[i] = int32_t(rng.integer(0, 60));
      soft.data<float>()[i] = s.ties ? 0.5f * float(areas.data<int32_t>()[i]) : float(areas.data<int32_t>()[i]) * rng.uniform(0.5f, 1.f);
      for (int k = 0; k < 4; ++k) boxes.data<int32_t>()[4 * i + k] = int32_t(rng.integer(0, 100));
    }
    if (s.nan && s.n > 3) {
      areas.data<int32_t>()[1] = areas.data<int32_t>()[2] = 50;
      soft.data<float>()[1] = soft.data<float>()[2] = std::numeric_limits<float>::quiet_NaN();
    }
    for (int64_t i = 0; i < masks.numel(); ++i) masks.data<int32_t>()[i] = int32_t(rng.integer(-1000000, 1000000));
    call.inputs = {scores, strides, labels, areas, soft, s.absentMasks ? Tensor() : masks, boxes};
    call.attrs.setNumber("nmsPre", double(s.nmsPre));
    return call;
  };
  hostOpCheck(c, s.timed, [s](const OpCall& call, const std::vector<Tensor>& out) { return check(s, call, out); });
  return c;
}

// n, H, W2, nmsPre
OP_TEST_CASE(rankCase({0, 3, 2, 5}));
OP_TEST_CASE(rankCase({1, 1, 2, 1}));
OP_TEST_CASE(rankCase({7, 5, 2, 3}));
OP_TEST_CASE(rankCase({7, 5, 2, 7}));
OP_TEST_CASE(rankCase({33, 3, 4, 500, true}));        // ties: index order
OP_TEST_CASE(rankCase({40, 2, 2, 10, true, true}));   // a NaN score sorts last
OP_TEST_CASE(rankCase({3001, 200, 12, 500, false, false, true}));  // SOTR R50 at 800x1333: a few thousand candidates
OP_TEST_CASE(rankCase({7, 0, 0, 3}));                 // empty masks placeholder: no gather
OP_TEST_CASE(rankCase({3001, 0, 0, 500, false, false, true}));  // the same, as a CUDA model calls it
OP_TEST_CASE(rankCase({9, 0, 0, 4, true, false, false, true}));  // masks input absent (what the TS wrapper sends)

}  // namespace
