// matrix_nms cases: awkward sizes (widths around word edges, 1 x 1, wide
// rows), dense uint8 and bit-packed inputs, with and without areas/boxes,
// shared labels, duplicates, nested and empty masks, both kernels. The
// intersection counts are compared bit for bit (int32 output); the decayed
// scores by NMSE. The CPU result is checked against a brute-force reference.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../op_test.h"
#include "ops/bitmask.h"

using namespace sotr;
using namespace sotr_test;

namespace {

struct NmsSpec {
  int64_t n, h, w;
  int classes;
  bool packed;      // bit-packed int32 input (else uint8)
  bool withStats;   // pass areas and boxes
  const char* kernel;
  double sigma;
  int dups = 0, empties = 0, nested = 0;
  bool dense = false;  // random noise masks (boxes cover everything) instead of blobs
  bool timed = false;
  const char* algorithm = "auto";  // CUDA intersection kernel
  bool wideBoxes = false;  // given boxes reaching far outside the masks (must be clipped to them, not read past)
};

std::vector<uint8_t> makeMasks(Rng& rng, const NmsSpec& s) {
  std::vector<uint8_t> m(static_cast<size_t>(s.n * s.h * s.w), 0);
  for (int64_t i = 0; i < s.n; ++i) {
    uint8_t* p = m.data() + i * s.h * s.w;
    if (s.dense) {
      for (int64_t q = 0; q < s.h * s.w; ++q) p[q] = rng.uniform(0, 1) < 0.5f;
      continue;
    }
    const int blobs = 1 + static_cast<int>(rng.integer(0, 2));
    for (int b = 0; b < blobs; ++b) {
      const float cx = rng.uniform(-0.1f * s.w, 1.1f * s.w), cy = rng.uniform(-0.1f * s.h, 1.1f * s.h);
      const float rx = rng.uniform(0.5f, std::max(1.f, s.w / 3.f)), ry = rng.uniform(0.5f, std::max(1.f, s.h / 3.f));
      for (int64_t y = 0; y < s.h; ++y)
        for (int64_t x = 0; x < s.w; ++x) {
          const float u = (x - cx) / rx, v = (y - cy) / ry;
          if (u * u + v * v <= 1.f) p[y * s.w + x] = 1;
        }
    }
  }
  const int64_t per = s.h * s.w;
  for (int d = 0; d < s.dups && d + 1 < s.n; ++d)  // masks n-1-d duplicate masks d (a chain when dups > n/2)
    std::memcpy(m.data() + (s.n - 1 - d) * per, m.data() + (d % 2) * per, per);
  for (int e = 0; e < s.empties && e < s.n; ++e) std::memset(m.data() + ((s.n / 2 + e) % s.n) * per, 0, per);
  for (int k = 0; k < s.nested && 2 * k + 1 < s.n; ++k) {  // mask 2k+1 = mask 2k with a border removed
    const uint8_t* a = m.data() + 2 * k * per;
    uint8_t* b = m.data() + (2 * k + 1) * per;
    for (int64_t y = 0; y < s.h; ++y)
      for (int64_t x = 0; x < s.w; ++x) b[y * s.w + x] = a[y * s.w + x] && (y % 3 != 0);
  }
  return m;
}

// Brute force in the reference's terms (float32 IoU, column min over all i).
double nmsRef(const OpCall& call, const std::vector<Tensor>& out, const std::vector<uint8_t>& dense, int64_t h,
              int64_t w) {
  const int64_t n = call.inputs[1].size(0);
  const int32_t* labels = call.inputs[1].data<int32_t>();
  const float* scores = call.inputs[2].data<float>();
  const bool gaussian = call.attrs.string("matrix_nms", "kernel", "gaussian") == "gaussian";
  const float sigma = static_cast<float>(call.attrs.number("matrix_nms", "sigma", 2.0));
  const int64_t P = h * w;
  std::vector<int64_t> area(n, 0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t q = 0; q < P; ++q) area[i] += dense[i * P + q] != 0;
  std::vector<float> iou(n * n, 0.f), comp(n, 0.f);
  const int32_t* inter = out[1].data<int32_t>();
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < n; ++i) {
      int64_t c = 0;
      if (i < j && labels[i] == labels[j]) {
        for (int64_t q = 0; q < P; ++q) c += (dense[i * P + q] != 0) && (dense[j * P + q] != 0);
        const int64_t u = area[i] + area[j] - c;
        iou[i * n + j] = u > 0 ? static_cast<float>(c) / static_cast<float>(u) : 0.f;
        comp[j] = std::max(comp[j], iou[i * n + j]);
      }
      if (inter[i * n + j] != c) return INFINITY;  // exact integers
    }
  std::vector<float> ref(n);
  for (int64_t j = 0; j < n; ++j) {
    double dec = INFINITY;
    for (int64_t i = 0; i < n; ++i) {
      const double d = iou[i * n + j], c = comp[i];
      double t;
      if (gaussian) t = std::exp(-sigma * d * d) / std::exp(-sigma * c * c);
      else t = c >= 1 ? INFINITY : (1 - d) / (1 - c);
      dec = std::min(dec, t);
    }
    ref[j] = static_cast<float>(scores[j] * dec);
  }
  return nmse(out[0].data<float>(), ref.data(), n);
}

OpCase nmsCase(NmsSpec s) {
  OpCase c;
  c.name = "matrix_nms n" + std::to_string(s.n) + " " + std::to_string(s.h) + "x" + std::to_string(s.w) + " c" +
           std::to_string(s.classes) + (s.packed ? " bits" : " u8") + (s.withStats ? "+stats" : "") + " " + s.kernel +
           (s.dense ? " dense" : "") + (s.dups ? " dup" : "") + (s.empties ? " empty" : "") + (s.nested ? " nested" : "") +
           (std::string(s.algorithm) != "auto" ? std::string(" ") + s.algorithm : "") + (s.wideBoxes ? " wide boxes" : "");
  auto dense = std::make_shared<std::vector<uint8_t>>();
  c.make = [s, dense](Rng& rng) {
    *dense = makeMasks(rng, s);
    OpCall call;
    call.op = "matrix_nms";
    const int64_t wpr = bitmask::wordsPerRow(s.w);
    Tensor masks;
    if (s.packed) {
      masks = cpuTensor(DType::I32, {s.n, s.h, 2 * wpr});
      bitmask::pack(dense->data(), {s.n, s.h, s.w, wpr}, reinterpret_cast<uint64_t*>(masks.raw()), nullptr);
      call.attrs.setNumber("width", static_cast<double>(s.w));
    } else {
      masks = cpuTensor(DType::U8, {s.n, s.h, s.w});
      if (masks.bytes()) std::memcpy(masks.raw(), dense->data(), masks.bytes());
    }
    Tensor labels = cpuTensor(DType::I32, {s.n}), scores = cpuTensor(DType::F32, {s.n});
    std::vector<float> sc(s.n);
    for (auto& v : sc) v = rng.uniform(0.05f, 0.95f);
    std::sort(sc.begin(), sc.end(), std::greater<float>());
    if (s.n > 3) sc[2] = sc[1];  // a tie
    for (int64_t i = 0; i < s.n; ++i) {
      scores.data<float>()[i] = sc[i];
      labels.data<int32_t>()[i] = static_cast<int32_t>(rng.integer(0, s.classes - 1));
    }
    // Duplicates and nested masks share the label of their original.
    for (int d = 0; d < s.dups && d + 1 < s.n; ++d) labels.data<int32_t>()[s.n - 1 - d] = labels.data<int32_t>()[d % 2];
    for (int k = 0; k < s.nested && 2 * k + 1 < s.n; ++k) labels.data<int32_t>()[2 * k + 1] = labels.data<int32_t>()[2 * k];
    call.inputs = {masks, labels, scores};
    if (s.withStats) {
      Tensor areas = cpuTensor(DType::I32, {s.n}), boxes = cpuTensor(DType::I32, {s.n, 4});
      std::vector<uint64_t> bits(static_cast<size_t>(s.n * s.h * wpr));
      const bitmask::Geom g{s.n, s.h, s.w, wpr};
      bitmask::pack(dense->data(), g, bits.data(), nullptr);
      bitmask::stats(bits.data(), g, areas.data<int32_t>(), boxes.data<int32_t>(), nullptr);
      if (s.wideBoxes)
        for (int64_t i = 0; i < s.n; ++i) {
          int32_t* b = boxes.data<int32_t>() + 4 * i;
          b[0] = -1000, b[1] = INT32_MIN, b[2] = static_cast<int32_t>(s.w) + 1000, b[3] = INT32_MAX;
        }
      call.inputs.push_back(areas);
      call.inputs.push_back(boxes);
    }
    call.attrs.setString("kernel", s.kernel);
    call.attrs.setNumber("sigma", s.sigma);
    call.attrs.setBool("intersections", true);
    call.attrs.setString("algorithm", s.algorithm);
    return call;
  };
  if (!s.timed) c.cpuReference = [s, dense](const OpCall& call, const std::vector<Tensor>& out) {
    return nmsRef(call, out, *dense, s.h, s.w);
  };
  c.cpuBound = 1e-10;
  c.timed = s.timed;
  return c;
}

OP_TEST_CASE(nmsCase({0, 3, 5, 1, false, false, "gaussian", 2.0}));
OP_TEST_CASE(nmsCase({1, 1, 1, 1, false, false, "gaussian", 2.0}));
OP_TEST_CASE(nmsCase({2, 1, 1, 1, true, false, "linear", 2.0}));
OP_TEST_CASE(nmsCase({3, 7, 63, 1, false, false, "gaussian", 2.0, 1}));
OP_TEST_CASE(nmsCase({17, 13, 64, 2, true, true, "gaussian", 0.5, 2, 2, 2}));
OP_TEST_CASE(nmsCase({33, 5, 65, 3, false, false, "linear", 2.0, 3, 0, 3}));
OP_TEST_CASE(nmsCase({65, 31, 200, 4, true, true, "gaussian", 2.0, 0, 3}));
OP_TEST_CASE(nmsCase({130, 9, 129, 1, false, false, "gaussian", 2.0, 5, 1, 4}));
OP_TEST_CASE(nmsCase({40, 3, 1000, 2, true, false, "linear", 1.0, 20, 0, 0}));  // wide rows, duplicate chains
OP_TEST_CASE(nmsCase({257, 11, 37, 80, false, true, "gaussian", 2.0, 4, 2, 2}));
OP_TEST_CASE(nmsCase({70, 6, 70, 2, true, true, "gaussian", 2.0, 0, 0, 0, true}));  // dense noise
// Both CUDA intersection kernels on awkward cases (the CPU twin ignores the choice).
OP_TEST_CASE(nmsCase({129, 17, 333, 2, true, true, "gaussian", 2.0, 3, 2, 2, false, false, "popcount"}));
OP_TEST_CASE(nmsCase({129, 17, 333, 2, true, true, "gaussian", 2.0, 3, 2, 2, false, false, "mma"}));
OP_TEST_CASE(nmsCase({66, 5, 1000, 1, false, false, "linear", 2.0, 9, 1, 0, false, false, "mma"}));
OP_TEST_CASE(nmsCase({200, 9, 64, 3, true, false, "gaussian", 2.0, 0, 0, 0, true, false, "mma"}));
OP_TEST_CASE(nmsCase({1, 1, 1, 1, false, false, "gaussian", 2.0, 0, 0, 0, false, false, "mma"}));
OP_TEST_CASE(nmsCase({129, 17, 333, 2, true, true, "gaussian", 2.0, 3, 2, 2, false, false, "bmma"}));
OP_TEST_CASE(nmsCase({66, 5, 1000, 1, false, false, "linear", 2.0, 9, 1, 0, false, false, "bmma"}));
OP_TEST_CASE(nmsCase({200, 9, 64, 3, true, false, "gaussian", 2.0, 0, 0, 0, true, false, "bmma"}));
OP_TEST_CASE(nmsCase({70, 3, 20, 1, true, false, "gaussian", 2.0, 0, 0, 0, true, false, "bmma"}));
// Boxes far outside the masks: clipped to them, so the intersections (and the result) are the exact ones.
OP_TEST_CASE(nmsCase({33, 5, 65, 3, true, true, "linear", 2.0, 3, 0, 3, false, false, "auto", true}));
OP_TEST_CASE(nmsCase({129, 17, 333, 2, true, true, "gaussian", 2.0, 3, 2, 2, false, false, "popcount", true}));
OP_TEST_CASE(nmsCase({129, 17, 333, 2, true, true, "gaussian", 2.0, 3, 2, 2, false, false, "mma", true}));
// Realistic size for the timing table (SOTR: 500 candidates on 200 x 336):
// blobs in 1 and 8 classes, and dense noise, with each CUDA kernel.
OP_TEST_CASE(nmsCase({500, 200, 336, 8, true, true, "gaussian", 2.0, 0, 0, 0, false, true}));
OP_TEST_CASE(nmsCase({500, 200, 336, 1, true, true, "gaussian", 2.0, 0, 0, 0, false, true, "popcount"}));
OP_TEST_CASE(nmsCase({500, 200, 336, 1, true, true, "gaussian", 2.0, 0, 0, 0, false, true, "mma"}));
OP_TEST_CASE(nmsCase({500, 200, 336, 1, true, true, "gaussian", 2.0, 0, 0, 0, true, true, "popcount"}));
OP_TEST_CASE(nmsCase({500, 200, 336, 1, true, true, "gaussian", 2.0, 0, 0, 0, true, true, "mma"}));
OP_TEST_CASE(nmsCase({500, 200, 336, 1, true, true, "gaussian", 2.0, 0, 0, 0, false, true, "bmma"}));
OP_TEST_CASE(nmsCase({500, 200, 336, 1, true, true, "gaussian", 2.0, 0, 0, 0, true, true, "bmma"}));

}  // namespace
