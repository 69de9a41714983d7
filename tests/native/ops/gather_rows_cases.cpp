// gatherRows cases: the CPU twin against a direct row copy, and CUDA against
// the CPU, both bit for bit, on awkward sizes: no rows (m = 0), one source
// row, rows of 1, 3, 5, 8, 12 and 4000 bytes (every vector width of the
// kernel), rank-1 sources, repeated indices, int32 / uint8 / float32, and the
// post-processing's shape (kept masks' bits out of a few thousand candidates).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "../op_test.h"

using namespace sotr;
using namespace sotr_test;

namespace {

struct Spec {
  DType dtype;
  Shape src;  // [n, ...]
  int64_t m;
  bool repeats = false;  // a few rows over and over
  bool timed = false;
};

double check(const OpCall& call, const std::vector<Tensor>& out) {
  const Tensor& src = call.inputs[0];
  const int32_t* index = call.inputs[1].data<int32_t>();
  const int64_t m = call.inputs[1].size(0);
  Shape want = src.shape;
  want[0] = m;
  if (out[0].shape != want || out[0].dtype != src.dtype) return INFINITY;
  const int64_t row = src.size(0) ? static_cast<int64_t>(src.bytes()) / src.size(0) : 0;
  const char* s = static_cast<const char*>(src.raw());
  const char* o = static_cast<const char*>(out[0].raw());
  for (int64_t i = 0; i < m; ++i)
    if (row && std::memcmp(o + i * row, s + index[i] * row, static_cast<size_t>(row)) != 0) return INFINITY;
  return 0;
}

OpCase gatherCase(Spec s) {
  OpCase c;
  c.name = std::string("gatherRows ") + dtypeName(s.dtype) + " " + shapeStr(s.src) + " m" + std::to_string(s.m) +
           (s.repeats ? " repeats" : "");
  c.make = [s](Rng& rng) {
    OpCall call;
    call.op = "gatherRows";
    Tensor src = cpuTensor(s.dtype, s.src);
    auto* bytes = static_cast<uint8_t*>(src.raw());
    if (s.dtype == DType::F32)
      for (int64_t i = 0; i < src.numel(); ++i) src.data<float>()[i] = rng.uniform(-100.f, 100.f);
    else
      for (size_t i = 0; i < src.bytes(); ++i) bytes[i] = static_cast<uint8_t>(rng.integer(0, 255));
    const int64_t n = s.src[0];
    Tensor index = cpuTensor(DType::I32, {s.m});
    for (int64_t i = 0; i < s.m; ++i)  // the first and last rows, then random (or a few repeated) ones
      index.data<int32_t>()[i] = int32_t(i == 0 ? 0 : i == 1 ? n - 1 : rng.integer(0, s.repeats ? std::min<int64_t>(n, 3) - 1 : n - 1));
    call.inputs = {src, index};
    return call;
  };
  c.exact = true;
  c.timed = s.timed;
  c.cpuReference = check;
  c.cpuBound = 0;
  return c;
}

// dtype, src shape, m
OP_TEST_CASE(gatherCase({DType::F32, {4, 3}, 0}));           // no rows
OP_TEST_CASE(gatherCase({DType::I32, {1}, 1}));              // rank 1, one row
OP_TEST_CASE(gatherCase({DType::U8, {1, 5}, 6, true}));      // one source row, taken 6 times
OP_TEST_CASE(gatherCase({DType::U8, {9, 1}, 17, true}));     // rows of 1 byte
OP_TEST_CASE(gatherCase({DType::U8, {7, 3}, 11}));           // 3 bytes
OP_TEST_CASE(gatherCase({DType::U8, {13, 5}, 64}));          // 5 bytes
OP_TEST_CASE(gatherCase({DType::F32, {33, 2}, 40}));         // 8 bytes
OP_TEST_CASE(gatherCase({DType::F32, {5, 3}, 9, true}));     // 12 bytes
OP_TEST_CASE(gatherCase({DType::I32, {1000}, 777}));         // rank 1, 4 bytes
OP_TEST_CASE(gatherCase({DType::I32, {37, 1000}, 301}));     // 4000 bytes
OP_TEST_CASE(gatherCase({DType::F32, {6, 10, 100}, 5}));     // 4000 bytes, rank 3
OP_TEST_CASE(gatherCase({DType::U8, {4, 4000}, 3}));         // 4000 bytes of uint8
OP_TEST_CASE(gatherCase({DType::I32, {2, 0, 4}, 3}));        // empty rows
OP_TEST_CASE(gatherCase({DType::I32, {2000, 200, 12}, 500, false, true}));  // kept masks' bits, 200x336 at 1/4 scale

}  // namespace
