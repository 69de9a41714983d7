// interpolate cases. The CPU twin is checked bit for bit against PyTorch by
// tests/ops/interpolate.test.mjs; here CUDA must equal the CPU bit for bit
// (same double index math, same fma order), on SOTR's resizes (x2 upsample,
// the square grids, P6 -> P5) and awkward ones.
#include "../op_test.h"

using namespace sotr;
using namespace sotr_test;

namespace {

OpCase interpCase(Shape shape, std::vector<double> size, std::vector<double> scale, const char* mode,
                  bool align = false, bool timed = false) {
  OpCase c;
  c.name = std::string("interpolate ") + mode + " " + shapeStr(shape) +
           (size.empty() ? " scale " + std::to_string(scale[0]).substr(0, 4) + "," + std::to_string(scale[1]).substr(0, 4)
                         : " -> " + std::to_string(int(size[0])) + "x" + std::to_string(int(size[1]))) +
           (align ? " align" : "");
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = "interpolate";
    call.inputs = {randomTensor(rng, shape)};
    if (!size.empty()) call.attrs.setNumbers("size", size);
    else call.attrs.setNumbers("scaleFactor", scale);
    call.attrs.setString("mode", mode);
    call.attrs.setBool("alignCorners", align);
    return call;
  };
  c.exact = true;
  c.timed = timed;
  return c;
}

OP_TEST_CASE(interpCase({1, 3, 25, 42}, {}, {2, 2}, "bilinear"));
OP_TEST_CASE(interpCase({2, 5, 50, 84}, {40, 40}, {}, "bilinear"));
OP_TEST_CASE(interpCase({1, 4, 84, 50}, {36, 36}, {}, "bilinear"));
OP_TEST_CASE(interpCase({1, 3, 13, 17}, {25, 34}, {}, "bilinear"));
OP_TEST_CASE(interpCase({1, 3, 9, 13}, {}, {0.5, 0.5}, "bilinear"));
OP_TEST_CASE(interpCase({1, 3, 9, 13}, {}, {1.7, 0.3}, "bilinear"));
OP_TEST_CASE(interpCase({1, 3, 1, 1}, {5, 7}, {}, "bilinear"));
OP_TEST_CASE(interpCase({1, 3, 6, 1}, {6, 4}, {}, "bilinear"));
OP_TEST_CASE(interpCase({1, 3, 7, 9}, {13, 5}, {}, "bilinear", true));
OP_TEST_CASE(interpCase({1, 3, 7, 9}, {14, 18}, {}, "nearest"));
OP_TEST_CASE(interpCase({1, 3, 7, 9}, {10, 5}, {}, "nearest"));
OP_TEST_CASE(interpCase({1, 3, 9, 13}, {}, {1.7, 0.3}, "nearest"));
OP_TEST_CASE(interpCase({1, 128, 100, 168}, {}, {2, 2}, "bilinear", false, true));

}  // namespace
