// Element-wise and data-movement cases: broadcasting in every direction,
// scalars, the transformer's width duplication and halves averaging.
#include <cmath>

#include "../op_test.h"

using namespace sotr;
using namespace sotr_test;

namespace {

OpCase unaryCase(const char* op, Shape s) {
  OpCase c;
  c.name = std::string(op) + " " + shapeStr(s);
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = op;
    call.inputs = {randomTensor(rng, s, -4.f, 4.f)};
    if (std::string(op) == "leakyRelu") call.attrs.setNumber("negativeSlope", 0.2);
    return call;
  };
  c.exact = std::string(op) != "sigmoid";
  c.bounds.fp32 = 1e-12;
  return c;
}

OpCase binaryCase(const char* op, Shape a, Shape b, double alpha = 1, bool scalar = false) {
  OpCase c;
  c.name = std::string(op) + " " + shapeStr(a) + (scalar ? " scalar" : " " + shapeStr(b)) +
           (alpha != 1 ? " alpha" : "");
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = op;
    call.inputs = {randomTensor(rng, a)};
    if (scalar) call.attrs.setNumber("other", 1.75);
    else call.inputs.push_back(randomTensor(rng, b, 0.5f, 1.5f));
    if (alpha != 1) call.attrs.setNumber("alpha", alpha);
    return call;
  };
  c.cpuReference = [=](const OpCall& call, const std::vector<Tensor>& out) {
    // Independent broadcasting by full index arithmetic.
    const Shape& os = out[0].shape;
    const int64_t r = static_cast<int64_t>(os.size());
    std::vector<float> ref(out[0].numel());
    for (int64_t i = 0; i < out[0].numel(); ++i) {
      int64_t rem = i, ia = 0, ib = 0, ma = 1, mb = 1;
      for (int64_t d = r - 1; d >= 0; --d) {
        const int64_t idx = rem % os[d];
        rem /= os[d];
        const int64_t da = d - (r - static_cast<int64_t>(a.size())), db = d - (r - static_cast<int64_t>(b.size()));
        if (da >= 0) {
          ia += (a[da] == 1 ? 0 : idx) * ma;
          ma *= a[da];
        }
        if (!scalar && db >= 0) {
          ib += (b[db] == 1 ? 0 : idx) * mb;
          mb *= b[db];
        }
      }
      const double x = call.inputs[0].data<float>()[ia];
      const double y = scalar ? 1.75 : call.inputs[1].data<float>()[ib];
      const std::string o = op;
      ref[i] = static_cast<float>(o == "add" ? x + alpha * y : o == "sub" ? x - alpha * y : o == "mul" ? x * y : x / y);
    }
    return nmse(out[0].data<float>(), ref.data(), out[0].numel());
  };
  c.cpuBound = 1e-13;
  c.exact = true;
  return c;
}

OpCase concatCase(std::vector<Shape> shapes, int64_t axis) {
  OpCase c;
  c.name = "concat " + std::to_string(shapes.size()) + "x " + shapeStr(shapes[0]) + " axis " + std::to_string(axis);
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = "concat";
    for (auto& s : shapes) call.inputs.push_back(randomTensor(rng, s));
    call.attrs.setNumber("axis", double(axis));
    return call;
  };
  c.exact = true;
  return c;
}

OpCase sliceCase(Shape s, int64_t axis, int64_t start, int64_t end) {
  OpCase c;
  c.name = "slice " + shapeStr(s) + " axis " + std::to_string(axis) + " [" + std::to_string(start) + ":" +
           std::to_string(end) + "]";
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = "slice";
    call.inputs = {randomTensor(rng, s)};
    call.attrs.setNumber("axis", double(axis));
    call.attrs.setNumber("start", double(start));
    call.attrs.setNumber("end", double(end));
    return call;
  };
  c.exact = true;
  return c;
}

OpCase halvesCase(Shape s) {
  OpCase c;
  c.name = "meanWidthHalves " + shapeStr(s);
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = "meanWidthHalves";
    call.inputs = {randomTensor(rng, s)};
    return call;
  };
  c.exact = true;
  return c;
}

OP_TEST_CASE(unaryCase("relu", {3, 1001}));
OP_TEST_CASE(unaryCase("leakyRelu", {2, 7, 13}));
OP_TEST_CASE(unaryCase("sigmoid", {100003}));
OP_TEST_CASE(binaryCase("add", {2, 3, 4, 5}, {3, 1, 5}));
OP_TEST_CASE(binaryCase("add", {1, 256, 50, 84}, {1, 256, 50, 84}, 0.5));
OP_TEST_CASE(binaryCase("sub", {4, 1}, {1, 6}, 2));
OP_TEST_CASE(binaryCase("mul", {7, 1, 9}, {1, 5, 1}));
OP_TEST_CASE(binaryCase("mul", {33, 17}, {}, 1, true));
OP_TEST_CASE(binaryCase("div", {1, 1, 1}, {2, 3, 4}));
OP_TEST_CASE(binaryCase("add", {2, 256, 1, 1}, {2, 256, 25, 42}));
OP_TEST_CASE(concatCase({{1, 256, 12, 12}, {1, 256, 12, 12}}, 3));
OP_TEST_CASE(concatCase({{2, 3, 4, 5}, {2, 1, 4, 5}, {2, 7, 4, 5}}, 1));
OP_TEST_CASE(concatCase({{3, 5}, {4, 5}}, 0));
OP_TEST_CASE(sliceCase({2, 3, 7, 10}, 3, 5, 10));
OP_TEST_CASE(sliceCase({2, 9, 7}, 1, -4, -1));
OP_TEST_CASE(halvesCase({1, 256, 40, 80}));
OP_TEST_CASE(halvesCase({2, 3, 5, 6}));

}  // namespace
