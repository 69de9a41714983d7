// pillowResize cases (CPU only: host preprocessing, no CUDA kernel). The op is
// checked bit for bit against Pillow itself by tests/ops/pillow_resize.test.mjs
// (goldens written by Pillow 9.4: tests/reference/make_pillow_resize_fixtures.py);
// that is the reference. Here, on awkward sizes (1-pixel images, one axis only,
// large factors, 1..4 channels, the model's 1920x1080 -> 1333x750), the op's
// fast paths (pass skipping, threads, SIMD) are checked against the plainest
// form of the same arithmetic: Pillow's BILINEAR resample as its documentation
// and source describe it (triangle filter, support scaled by the downscale
// factor, coefficients normalised then quantised to 22-bit integers, rounding
// and clipping per pass, horizontal pass first), written out by us per output
// pixel. Bit-exactness with Pillow needs exactly those integer coefficients, so
// this is the same algorithm as the op's by necessity, not shared code; what it
// adds to the goldens is sizes and paths they do not reach. The single-threaded
// scalar path is also compared with the threaded SIMD one.
#include <cmath>
#include <cstring>

#include "../op_test.h"
#include "runtime/cpu_features.h"

using namespace sotr;
using namespace sotr_test;

namespace {

struct Spec {
  int64_t H, W, C, Ho, Wo;
  bool normalize = false;
  int64_t pad = 1;
  bool timed = false;
  int toBgr = 0;  // attr toBgr: 0 absent, 1 'rgb', 2 'bgr'
};

// What ts/model/preprocess.ts's toBgr did in JavaScript before the op took it over: interleaved 1..4 channels ->
// BGR (grey replicated, alpha dropped). The reference converts first, then resizes 3 channels.
std::vector<uint8_t> refToBgr(const uint8_t* x, int64_t pixels, int64_t C, bool srcIsBgr) {
  std::vector<uint8_t> o(pixels * 3);
  for (int64_t i = 0; i < pixels; ++i)
    for (int c = 0; c < 3; ++c) o[i * 3 + c] = C <= 2 ? x[i * C] : x[i * C + (srcIsBgr ? c : 2 - c)];
  return o;
}

// Pillow's BILINEAR coefficients for one axis (its precompute_coeffs / normalize_coeffs_8bpc, 9.4), written out.
void refCoeffs(int64_t in, int64_t out, std::vector<int>& bounds, std::vector<int>& kk, int& ksize) {
  const double scale = double(in) / double(out);
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = 1.0 * filterscale;
  ksize = int(std::ceil(support)) * 2 + 1;
  bounds.assign(out * 2, 0);
  kk.assign(out * ksize, 0);
  std::vector<double> pre(ksize);
  for (int64_t xx = 0; xx < out; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = int(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in) xmax = int(in);
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      double t = (x + xmin - center + 0.5) * ss;
      if (t < 0.0) t = -t;
      const double w = t < 1.0 ? 1.0 - t : 0.0;
      pre[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) pre[x] /= ww;
      kk[xx * ksize + x] = pre[x] < 0 ? int(-0.5 + pre[x] * (1 << 22)) : int(0.5 + pre[x] * (1 << 22));
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
}

uint8_t refClip(int v) {
  v >>= 22;
  return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

std::vector<uint8_t> refResize(const Spec& s, const uint8_t* x) {
  std::vector<uint8_t> cur(x, x + s.H * s.W * s.C);
  int64_t w = s.W;
  if (s.Wo != s.W) {
    std::vector<int> b, k;
    int ks;
    refCoeffs(s.W, s.Wo, b, k, ks);
    std::vector<uint8_t> o(s.H * s.Wo * s.C);
    for (int64_t y = 0; y < s.H; ++y)
      for (int64_t xx = 0; xx < s.Wo; ++xx)
        for (int64_t c = 0; c < s.C; ++c) {
          int acc = 1 << 21;
          for (int t = 0; t < b[xx * 2 + 1]; ++t) acc += cur[(y * s.W + b[xx * 2] + t) * s.C + c] * k[xx * ks + t];
          o[(y * s.Wo + xx) * s.C + c] = refClip(acc);
        }
    cur.swap(o);
    w = s.Wo;
  }
  if (s.Ho != s.H) {
    std::vector<int> b, k;
    int ks;
    refCoeffs(s.H, s.Ho, b, k, ks);
    std::vector<uint8_t> o(s.Ho * w * s.C);
    for (int64_t yy = 0; yy < s.Ho; ++yy)
      for (int64_t i = 0; i < w * s.C; ++i) {
        int acc = 1 << 21;
        for (int t = 0; t < b[yy * 2 + 1]; ++t) acc += cur[(b[yy * 2] + t) * w * s.C + i] * k[yy * ks + t];
        o[yy * w * s.C + i] = refClip(acc);
      }
    cur.swap(o);
  }
  return cur;
}

const double kMean[4] = {103.53, 116.28, 123.675, 99.5};
const double kStd[4] = {57.375, 57.12, 58.395, 61.25};

double check(const Spec& s0, const OpCall& call, const std::vector<Tensor>& out) {
  Spec s = s0;
  std::vector<uint8_t> ref;
  if (s.toBgr) {
    const std::vector<uint8_t> bgr = refToBgr(call.inputs[0].data<uint8_t>(), s.H * s.W, s.C, s.toBgr == 2);
    s.C = 3;
    ref = refResize(s, bgr.data());
  } else {
    ref = refResize(s, call.inputs[0].data<uint8_t>());
  }
  int64_t bad = 0;
  if (!s.normalize) {
    for (int64_t i = 0; i < out[0].numel(); ++i) bad += out[0].data<uint8_t>()[i] != ref[i];
  } else {
    const int64_t Hp = out[0].size(2), Wp = out[0].size(3);
    for (int64_t c = 0; c < s.C; ++c)
      for (int64_t y = 0; y < Hp; ++y)
        for (int64_t x = 0; x < Wp; ++x) {
          float want = 0.f;
          if (y < s.Ho && x < s.Wo)
            want = (float(ref[(y * s.Wo + x) * s.C + c]) - float(kMean[c])) / float(kStd[c]);
          const float got = out[0].data<float>()[(c * Hp + y) * Wp + x];
          bad += std::memcmp(&got, &want, sizeof(float)) != 0;
        }
  }
  // The single-threaded scalar path must give the same bytes as the threaded SIMD one.
  const OpDef* def = findOp("pillowResize");
  std::vector<Tensor> again{cpuTensor(out[0].dtype, out[0].shape)};
  ExecContext ec;
  setActiveSimdLevel(SimdLevel::Scalar);
  def->cpu(call, again, ec);
  resetActiveSimdLevel();
  if (std::memcmp(again[0].raw(), out[0].raw(), out[0].bytes()) != 0) bad += 1;
  return bad ? INFINITY : 0.0;
}

OpCase resizeCase(Spec s) {
  OpCase c;
  c.name = "pillowResize " + std::to_string(s.H) + "x" + std::to_string(s.W) + "x" + std::to_string(s.C) + " -> " +
           std::to_string(s.Ho) + "x" + std::to_string(s.Wo) + (s.normalize ? " norm pad" + std::to_string(s.pad) : "") +
           (s.toBgr ? (s.toBgr == 1 ? " toBgr(rgb)" : " toBgr(bgr)") : "");
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = "pillowResize";
    Tensor x = cpuTensor(DType::U8, {s.H, s.W, s.C});
    uint8_t* p = x.data<uint8_t>();
    for (int64_t i = 0; i < x.numel(); ++i) p[i] = uint8_t(rng.integer(0, 255));
    if (s.H > 8 && s.W > 8)  // a black and a white block: clipped sums at both ends
      for (int64_t y = 0; y < 4; ++y)
        for (int64_t xx = 0; xx < 4; ++xx)
          for (int64_t ch = 0; ch < s.C; ++ch) {
            p[(y * s.W + xx) * s.C + ch] = 255;
            p[((s.H - 1 - y) * s.W + s.W - 1 - xx) * s.C + ch] = 0;
          }
    call.inputs = {x};
    call.attrs.setNumbers("size", {double(s.Ho), double(s.Wo)});
    if (s.toBgr) call.attrs.setString("toBgr", s.toBgr == 1 ? "rgb" : "bgr");
    const int64_t Cout = s.toBgr ? 3 : s.C;
    if (s.normalize) {
      call.attrs.setNumbers("mean", std::vector<double>(kMean, kMean + Cout));
      call.attrs.setNumbers("std", std::vector<double>(kStd, kStd + Cout));
      call.attrs.setNumber("padMultiple", double(s.pad));
    }
    return call;
  };
  hostOpCheck(c, s.timed, [s](const OpCall& call, const std::vector<Tensor>& out) { return check(s, call, out); });
  return c;
}

// H, W, C, Ho, Wo
OP_TEST_CASE(resizeCase({23, 37, 3, 57, 91}));    // up, both axes
OP_TEST_CASE(resizeCase({96, 128, 3, 33, 45}));   // down, both axes
OP_TEST_CASE(resizeCase({40, 50, 3, 17, 50}));    // height only
OP_TEST_CASE(resizeCase({61, 33, 3, 61, 100}));   // width only
OP_TEST_CASE(resizeCase({70, 90, 3, 71, 89}));    // one up, one down, by one pixel
OP_TEST_CASE(resizeCase({13, 17, 3, 13, 17}));    // same size: a copy
OP_TEST_CASE(resizeCase({1, 1, 3, 5, 7}));        // 1 pixel up
OP_TEST_CASE(resizeCase({9, 11, 3, 1, 1}));       // down to 1 pixel
OP_TEST_CASE(resizeCase({1, 37, 3, 1, 12}));      // a 1-pixel row
OP_TEST_CASE(resizeCase({29, 1, 3, 64, 1}));      // a 1-pixel column
OP_TEST_CASE(resizeCase({7, 300, 1, 3, 11}));     // factors 2.3 and 27 (wide kernels), grey
OP_TEST_CASE(resizeCase({19, 21, 2, 40, 9}));     // 2 channels
OP_TEST_CASE(resizeCase({19, 21, 4, 8, 50}));     // 4 channels
OP_TEST_CASE(resizeCase({31, 47, 3, 29, 45, true, 32}));   // normalised, padded to 32
OP_TEST_CASE(resizeCase({31, 47, 3, 31, 45, true, 32}));   // normalised, width only
OP_TEST_CASE(resizeCase({31, 47, 3, 31, 47, true, 1}));    // normalised, same size
OP_TEST_CASE(resizeCase({1, 1, 1, 1, 3, true, 8}));        // normalised, grey 1 pixel
OP_TEST_CASE(resizeCase({1080, 1920, 3, 750, 1333, false, 1, true}));  // a 1080p photo -> the network's input
OP_TEST_CASE(resizeCase({1080, 1920, 3, 750, 1333, true, 32, true}));   // the same, normalised and padded
// toBgr: the conversion of decoded pixels folded into the resize (grey replicated, alpha dropped, RGB reversed).
OP_TEST_CASE(resizeCase({23, 37, 3, 57, 91, false, 1, false, 1}));    // RGB, up, uint8 out
OP_TEST_CASE(resizeCase({23, 37, 3, 57, 91, false, 1, false, 2}));    // BGR (identity map)
OP_TEST_CASE(resizeCase({40, 50, 1, 17, 50, false, 1, false, 1}));    // grey, height only
OP_TEST_CASE(resizeCase({61, 33, 2, 61, 100, false, 1, false, 1}));   // grey + alpha, width only
OP_TEST_CASE(resizeCase({19, 21, 4, 8, 50, false, 1, false, 1}));     // RGBA
OP_TEST_CASE(resizeCase({19, 21, 4, 19, 21, false, 1, false, 2}));    // BGRA, same size: a converting copy
OP_TEST_CASE(resizeCase({13, 17, 1, 13, 17, true, 8, false, 1}));     // grey, same size, normalised
OP_TEST_CASE(resizeCase({31, 47, 4, 29, 45, true, 32, false, 1}));    // RGBA normalised, padded
OP_TEST_CASE(resizeCase({31, 47, 2, 31, 45, true, 32, false, 2}));    // grey + alpha normalised, width only
OP_TEST_CASE(resizeCase({31, 47, 3, 33, 47, true, 32, false, 1}));    // RGB normalised, height only
OP_TEST_CASE(resizeCase({1, 1, 4, 3, 1, true, 1, false, 1}));         // 1 pixel RGBA
OP_TEST_CASE(resizeCase({1080, 1920, 3, 750, 1333, true, 32, true, 1}));  // a decoded 1080p RGB photo -> the network's input

}  // namespace
