// gatherKernels cases (CPU only): the op against a direct gather, bit for bit,
// on awkward level sets (1x1 grids, one kernel value, cells at level edges).
#include <cstring>
#include <string>
#include <vector>

#include "../op_test.h"

using namespace sotr;
using namespace sotr_test;

namespace {

struct Spec {
  std::vector<int64_t> grids;
  int64_t D, n;
  bool timed = false;
};

double check(const Spec& s, const OpCall& call, const std::vector<Tensor>& out) {
  const int32_t* cells = call.inputs[0].data<int32_t>();
  for (int64_t i = 0; i < s.n; ++i) {
    int64_t l = 0, start = 0;
    while (cells[i] >= start + s.grids[l] * s.grids[l]) start += s.grids[l] * s.grids[l], ++l;
    const int64_t nn = s.grids[l] * s.grids[l];
    for (int64_t d = 0; d < s.D; ++d) {
      const float want = call.inputs[l + 1].data<float>()[d * nn + cells[i] - start];
      if (std::memcmp(&want, out[0].data<float>() + i * s.D + d, 4) != 0) return INFINITY;
    }
  }
  return 0;
}

OpCase gatherCase(Spec s) {
  OpCase c;
  c.name = "gatherKernels D" + std::to_string(s.D) + " n" + std::to_string(s.n) + " grids";
  for (int64_t g : s.grids) c.name += " " + std::to_string(g);
  c.make = [s](Rng& rng) {
    OpCall call;
    call.op = "gatherKernels";
    int64_t total = 0;
    for (int64_t g : s.grids) total += g * g;
    Tensor cells = cpuTensor(DType::I32, {s.n});
    for (int64_t i = 0; i < s.n; ++i)  // the first and last cells, then random ones
      cells.data<int32_t>()[i] = int32_t(i == 0 ? 0 : i == 1 ? total - 1 : rng.integer(0, total - 1));
    call.inputs.push_back(cells);
    for (int64_t g : s.grids) call.inputs.push_back(randomTensor(rng, {1, s.D, g, g}));
    return call;
  };
  hostOpCheck(c, s.timed, [s](const OpCall& call, const std::vector<Tensor>& out) { return check(s, call, out); });
  return c;
}

OP_TEST_CASE(gatherCase({{1}, 1, 1}));
OP_TEST_CASE(gatherCase({{1}, 3, 0}));
OP_TEST_CASE(gatherCase({{3, 1, 2}, 5, 17}));
OP_TEST_CASE(gatherCase({{40, 36, 24, 16, 12}, 256, 3001, true}));  // SOTR R50: D 256, a few thousand candidates

}  // namespace
