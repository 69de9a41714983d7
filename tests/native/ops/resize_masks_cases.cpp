// resizeMasks cases: the op (two float32 bilinear resizes as PyTorch runs
// them, restricted to a window) checked against a plain two-pass float64
// resize over the whole image (first to fh*ratio x fw*ratio, crop, then to
// H0 x W0, PyTorch's align_corners=False index math). The two differ only in
// rounding, so the check is the fraction of differing pixels (reported in the
// nmse column; bound 1e-3, more for plateaus at the threshold). The JS suite
// checks the op bit for bit against PyTorch goldens
// (tests/ops/resize_masks.test.mjs). Where CUDA is available, the CUDA twin
// must equal the CPU's outputs bit for bit (bits and stats).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../op_test.h"

using namespace sotr;
using namespace sotr_test;

namespace {

// Near: the threshold +- 32 ulps, so that about every output is within a few ulps of it and any difference in
// rounding between the twins flips bits (random blobs almost never land that close).
enum class Soft { Blob, Steps, Noise, Near };

struct Spec {
  int64_t n, fh, fw, ratio, h, w, H0, W0;
  bool timed = false;
  double thr = 0.5;
  Soft soft = Soft::Blob;  // Steps: a blob rounded to multiples of 1/8 (plateaus at 0.5); Noise: uniform [0, 1)
  double bound = 1e-3;     // fraction of pixels that may differ from the float64 resize
};

// One axis of PyTorch's bilinear resize (align_corners=False): src index and weight.
void taps(int64_t in, int64_t out, std::vector<int64_t>& i0, std::vector<int64_t>& i1, std::vector<double>& l) {
  i0.resize(out);
  i1.resize(out);
  l.resize(out);
  const double scale = double(in) / double(out);
  for (int64_t o = 0; o < out; ++o) {
    double s = scale * (o + 0.5) - 0.5;
    if (s < 0) s = 0;
    int64_t a = int64_t(std::floor(s));
    if (a > in - 1) a = in - 1;
    i0[o] = a;
    i1[o] = a < in - 1 ? a + 1 : a;
    l[o] = std::min(1.0, s - double(a));
  }
}

std::vector<double> resize(const std::vector<double>& src, int64_t H, int64_t W, int64_t Ho, int64_t Wo) {
  std::vector<int64_t> y0, y1, x0, x1;
  std::vector<double> ly, lx;
  taps(H, Ho, y0, y1, ly);
  taps(W, Wo, x0, x1, lx);
  std::vector<double> out(Ho * Wo);
  for (int64_t y = 0; y < Ho; ++y)
    for (int64_t x = 0; x < Wo; ++x) {
      const double a = src[y0[y] * W + x0[x]] * (1 - lx[x]) + src[y0[y] * W + x1[x]] * lx[x];
      const double b = src[y1[y] * W + x0[x]] * (1 - lx[x]) + src[y1[y] * W + x1[x]] * lx[x];
      out[y * Wo + x] = a * (1 - ly[y]) + b * ly[y];
    }
  return out;
}

double check(const Spec& s, const OpCall& call, const std::vector<Tensor>& out) {
  const float* soft = call.inputs[0].data<float>();
  const uint32_t* bits = reinterpret_cast<const uint32_t*>(out[0].data<int32_t>());
  const int64_t words = 2 * ((s.W0 + 63) / 64);
  const int64_t Hm = s.fh * s.ratio, Wm = s.fw * s.ratio;
  const int64_t ch = std::min(s.h, Hm), cw = std::min(s.w, Wm);
  int64_t differ = 0;
  for (int64_t m = 0; m < s.n; ++m) {
    std::vector<double> src(soft + m * s.fh * s.fw, soft + (m + 1) * s.fh * s.fw);
    const std::vector<double> mid = resize(src, s.fh, s.fw, Hm, Wm);
    std::vector<double> crop(ch * cw);
    for (int64_t y = 0; y < ch; ++y) std::memcpy(&crop[y * cw], &mid[y * Wm], sizeof(double) * cw);
    const std::vector<double> fin = resize(crop, ch, cw, s.H0, s.W0);
    for (int64_t y = 0; y < s.H0; ++y)
      for (int64_t x = 0; x < s.W0; ++x) {
        const bool want = fin[y * s.W0 + x] > s.thr;
        const bool got = (bits[(m * s.H0 + y) * words + (x >> 5)] >> (x & 31)) & 1u;
        differ += want != got;
      }
  }
  // The second output: each mask's area and box, exactly as its bits say (any error fails the case).
  const int32_t* stats = out[1].data<int32_t>();
  for (int64_t m = 0; m < s.n; ++m) {
    int64_t area = 0, x0 = s.W0, y0 = s.H0, x1 = 0, y1 = 0;
    for (int64_t y = 0; y < s.H0; ++y)
      for (int64_t x = 0; x < s.W0; ++x)
        if ((bits[(m * s.H0 + y) * words + (x >> 5)] >> (x & 31)) & 1u) {
          ++area;
          x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x + 1), y1 = std::max(y1, y + 1);
        }
    const int64_t want[5] = {area, area ? x0 : 0, area ? y0 : 0, area ? x1 : 0, area ? y1 : 0};
    for (int k = 0; k < 5; ++k)
      if (stats[m * 5 + k] != want[k]) return INFINITY;
  }
  return double(differ) / double(std::max<int64_t>(1, s.n * s.H0 * s.W0));
}

OpCase maskCase(Spec s) {
  OpCase c;
  char thr[32];
  std::snprintf(thr, sizeof thr, "%g", s.thr);
  c.name = "resizeMasks " + std::to_string(s.n) + "x" + std::to_string(s.fh) + "x" + std::to_string(s.fw) + " x" +
           std::to_string(s.ratio) + " crop " + std::to_string(s.h) + "x" + std::to_string(s.w) + " -> " +
           std::to_string(s.H0) + "x" + std::to_string(s.W0) + (s.thr != 0.5 ? std::string(" thr ") + thr : "") +
           (s.soft == Soft::Steps ? " steps" : s.soft == Soft::Noise ? " noise" : s.soft == Soft::Near ? " near" : "");
  c.make = [s](Rng& rng) {
    OpCall call;
    call.op = "resizeMasks";
    Tensor soft = cpuTensor(DType::F32, {s.n, s.fh, s.fw});
    float* p = soft.data<float>();
    for (int64_t m = 0; m < s.n; ++m) {  // a blob per mask
      const double cy = rng.uniform(0, float(s.fh)), cx = rng.uniform(0, float(s.fw));
      const double rad = 1 + rng.uniform(0, 0.5f) * double(std::max(s.fh, s.fw));
      for (int64_t y = 0; y < s.fh; ++y)
        for (int64_t x = 0; x < s.fw; ++x) {
          float v = float(1 / (1 + std::exp(4 * (std::hypot(y - cy, x - cx) / rad - 1))));
          if (s.soft == Soft::Steps) v = std::round(v * 8) / 8;
          if (s.soft == Soft::Noise) v = rng.uniform(0, 1);
          if (s.soft == Soft::Near) v = float(s.thr) * (1 + rng.uniform(-1, 1) * 0x1p-19f);
          p[(m * s.fh + y) * s.fw + x] = v;
        }
    }
    call.inputs = {soft};
    call.attrs.setNumber("ratio", double(s.ratio));
    call.attrs.setNumbers("crop", {double(s.h), double(s.w)});
    call.attrs.setNumbers("size", {double(s.H0), double(s.W0)});
    if (s.thr != 0.5) call.attrs.setNumber("threshold", s.thr);
    return call;
  };
  c.exact = true;  // the CUDA twin: the same bits and stats
  c.timed = s.timed;
  c.cpuReference = [s](const OpCall& call, const std::vector<Tensor>& out) { return check(s, call, out); };
  c.cpuBound = s.bound;
  return c;
}

Spec thr(Spec s, double t) {
  s.thr = t;
  return s;
}
Spec with(Spec s, Soft soft, double bound) {
  s.soft = soft;
  s.bound = bound;
  return s;
}

// n, fh, fw, ratio, h, w, H0, W0
OP_TEST_CASE(maskCase({5, 25, 34, 4, 97, 133, 480, 640, false}));
OP_TEST_CASE(maskCase({3, 9, 13, 8, 70, 100, 33, 47, false}));
OP_TEST_CASE(maskCase({2, 1, 1, 4, 3, 4, 5, 7, false}));                   // 1x1 masks: channels-last first resize
OP_TEST_CASE(maskCase({100, 200, 336, 4, 800, 1333, 800, 1333, true}));  // SOTR at 800x1333
// Awkward shapes for the CUDA twin (tiles, ballots, padding words, torch's kernel choice).
OP_TEST_CASE(maskCase({0, 25, 34, 4, 97, 133, 480, 640}));      // no masks
OP_TEST_CASE(maskCase({1, 25, 34, 4, 97, 133, 480, 641}));      // one mask: channels-last first resize
OP_TEST_CASE(maskCase({1, 12, 20, 4, 45, 90, 70, 100}));        // one mask, crop keeps every column: both channels-last
OP_TEST_CASE(maskCase({3, 1, 1, 1, 1, 1, 9, 70}));              // 1x1 masks, ratio 1, 1x1 crop: both channels-last
OP_TEST_CASE(maskCase({1, 1, 1, 1, 1, 1, 1, 1}));               // the smallest call
OP_TEST_CASE(maskCase({4, 20, 30, 4, 77, 117, 95, 65}));        // W0 = 65: one column in a second word pair
OP_TEST_CASE(maskCase({4, 20, 30, 4, 77, 117, 300, 33}));       // W0 = 33
OP_TEST_CASE(maskCase({3, 16, 24, 2, 29, 43, 2, 1}));           // a single output column
OP_TEST_CASE(maskCase({3, 40, 50, 1, 40, 50, 60, 75}));         // ratio 1, crop = the whole map
OP_TEST_CASE(maskCase({3, 40, 50, 1, 33, 41, 33, 40}));         // ratio 1, crop = output height (copy taps)
OP_TEST_CASE(maskCase({6, 50, 64, 1, 50, 64, 7, 9}));           // strong downscale: spans skip source pixels
OP_TEST_CASE(maskCase(thr({5, 25, 34, 4, 97, 133, 321, 479}, 0.3)));  // thresholds that are not float32 values
OP_TEST_CASE(maskCase(thr({4, 18, 22, 4, 70, 88, 131, 97}, 0.1)));
OP_TEST_CASE(maskCase(thr({3, 18, 22, 4, 70, 88, 131, 97}, -0.25)));  // every pixel set (no source box)
OP_TEST_CASE(maskCase(thr({3, 18, 22, 4, 70, 88, 131, 97}, 0)));
OP_TEST_CASE(maskCase(with({4, 30, 40, 4, 117, 150, 260, 333}, Soft::Steps, 1e-2)));  // plateaus at the threshold
OP_TEST_CASE(maskCase(with({1, 30, 40, 4, 117, 150, 260, 333}, Soft::Steps, 1e-2)));
OP_TEST_CASE(maskCase(with({3, 30, 40, 4, 117, 150, 260, 333}, Soft::Noise, 1e-2)));
// Values at the threshold within rounding: the float64 resize cannot judge these (bound 1: only the stats are
// checked), they are there for the CUDA twin's bit-exactness, one per blend torch may take.
OP_TEST_CASE(maskCase(with({3, 30, 40, 4, 117, 150, 260, 333}, Soft::Near, 1)));
OP_TEST_CASE(maskCase(with({1, 30, 40, 4, 117, 150, 260, 333}, Soft::Near, 1)));   // channels-last first resize
OP_TEST_CASE(maskCase(with(thr({1, 12, 20, 4, 45, 90, 70, 100}, 0.3), Soft::Near, 1)));  // both channels-last
OP_TEST_CASE(maskCase(with(thr({4, 1, 1, 3, 2, 2, 65, 97}, 0.3), Soft::Near, 1)));        // 1x1 masks
OP_TEST_CASE(maskCase({10, 200, 268, 4, 800, 1067, 1080, 1440, true}));  // R50's last step at 1080x1440

}  // namespace
