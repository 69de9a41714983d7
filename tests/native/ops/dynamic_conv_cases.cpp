// dynamic_conv and dynamic_conv_masks cases: awkward sizes (widths around
// word edges, 1-pixel maps, odd kernels), 1x1 and k x k.
// dynamic_conv runs on random floats (NMSE). dynamic_conv_masks runs on
// quantized inputs (features in {-2..2}, kernels in multiples of 1/4): every
// partial sum is exact in float32 (and in tf32 / bf16 / fp16 operands), so
// the logits, and with them the bits, areas and boxes, are the same on every
// backend and precision and are compared bit for bit; soft sums by NMSE.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../op_test.h"
#include "ops/bitmask.h"

using namespace sotr;
using namespace sotr_test;

namespace {

Tensor quantized(Rng& rng, const Shape& shape, int lo, int hi, float scale) {
  Tensor t = cpuTensor(DType::F32, shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(rng.integer(lo, hi)) * scale;
  return t;
}

// Logits in double: out[n][y][x] = sum_c,dy,dx K[n][c][dy][dx] F[c][y+dy-p][x+dx-p].
std::vector<double> convRef(const OpCall& call) {
  const Tensor& f = call.inputs[0];
  const Tensor& k = call.inputs[1];
  const int64_t C = f.size(0), H = f.size(1), W = f.size(2), N = k.size(0), ks = k.dim() == 4 ? k.size(2) : 1;
  const int64_t pad = ks / 2;
  std::vector<double> out(static_cast<size_t>(N * H * W), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        double s = 0;
        for (int64_t c = 0; c < C; ++c)
          for (int64_t dy = 0; dy < ks; ++dy)
            for (int64_t dx = 0; dx < ks; ++dx) {
              const int64_t yy = y + dy - pad, xx = x + dx - pad;
              if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
              s += static_cast<double>(k.data<float>()[((n * C + c) * ks + dy) * ks + dx]) *
                   f.data<float>()[(c * H + yy) * W + xx];
            }
        out[(n * H + y) * W + x] = s;
      }
  return out;
}

OpCase convCase(int64_t N, int64_t C, int64_t H, int64_t W, int64_t k, bool sigmoid, bool timed = false) {
  OpCase c;
  c.name = "dynamic_conv " + std::to_string(N) + "x" + std::to_string(C) + " " + std::to_string(H) + "x" +
           std::to_string(W) + " k" + std::to_string(k) + (sigmoid ? " sigmoid" : " logits");
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = "dynamic_conv";
    call.inputs = {randomTensor(rng, {C, H, W}),
                   randomTensor(rng, k == 1 ? Shape{N, C} : Shape{N, C, k, k}, -0.5f, 0.5f)};
    call.attrs.setBool("sigmoid", sigmoid);
    return call;
  };
  if (!timed) c.cpuReference = [](const OpCall& call, const std::vector<Tensor>& out) {
    std::vector<double> ref = convRef(call);
    const bool sig = call.attrs.flag("dynamic_conv", "sigmoid", true);
    std::vector<float> r(ref.size());
    for (size_t i = 0; i < ref.size(); ++i) r[i] = static_cast<float>(sig ? 1 / (1 + std::exp(-ref[i])) : ref[i]);
    return nmse(out[0].data<float>(), r.data(), out[0].numel());
  };
  c.cpuBound = 1e-10;
  c.reducedPrecision = true;
  c.bounds.bf16 = c.bounds.fp16 = 1e-3;  // K up to 256*9 with 8-bit mantissas
  c.timed = timed;
  return c;
}

// Blob masks (as SOTR's): channels 0..C-2 hold quantized Gaussian bumps
// (integers 0..4), channel C-1 ones; kernel n = bump c_n - 2 plus sparse
// quarter-integer noise. Still exact in any summation order.
void makeBlobs(Rng& rng, Tensor& f, Tensor& ker, int64_t N, int64_t C, int64_t H, int64_t W) {
  float* fp = f.data<float>();
  for (int64_t c = 0; c + 1 < C; ++c) {
    const float cx = rng.uniform(0, W), cy = rng.uniform(0, H), s = rng.uniform(W / 40.f, W / 8.f);
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        fp[(c * H + y) * W + x] = std::round(4.f * std::exp(-0.5f * ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (s * s)));
  }
  std::fill(fp + (C - 1) * H * W, fp + C * H * W, 1.f);
  float* kp = ker.data<float>();
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t c = 0; c < C; ++c) kp[n * C + c] = rng.uniform(0, 1) < 0.05f ? 0.25f * static_cast<float>(rng.integer(-1, 1)) : 0.f;
    kp[n * C + rng.integer(0, C - 2)] += 1.f;
    kp[n * C + C - 1] = -2.f;
  }
}

OpCase masksCase(int64_t N, int64_t C, int64_t H, int64_t W, int64_t k, double threshold, bool timed = false,
                 bool blobs = false) {
  OpCase c;
  c.name = "dynamic_conv_masks " + std::to_string(N) + "x" + std::to_string(C) + " " + std::to_string(H) + "x" +
           std::to_string(W) + " k" + std::to_string(k) + " t" + std::to_string(threshold).substr(0, 4) +
           (blobs ? " blobs" : "");
  c.make = [=](Rng& rng) {
    OpCall call;
    call.op = "dynamic_conv_masks";
    if (blobs) {
      Tensor f = cpuTensor(DType::F32, {C, H, W}), ker = cpuTensor(DType::F32, {N, C});
      makeBlobs(rng, f, ker, N, C, H, W);
      call.inputs = {f, ker};
      call.attrs.setNumber("threshold", threshold);
      return call;
    }
    Tensor f = quantized(rng, {C, H, W}, -2, 2, 1.f);
    Tensor ker = quantized(rng, k == 1 ? Shape{N, C} : Shape{N, C, k, k}, -4, 4, 0.25f);
    const int64_t kk = k * k;
    if (C > 0 && H * W > 0) {
      std::fill(f.data<float>(), f.data<float>() + H * W, 1.f);  // channel 0 = 1: mask 0 full, mask 1 empty
      if (N > 0) {
        std::fill(ker.data<float>(), ker.data<float>() + C * kk, 0.f);
        ker.data<float>()[kk / 2] = 4.f;  // centre tap of channel 0
      }
      if (N > 1) std::fill(ker.data<float>() + C * kk, ker.data<float>() + 2 * C * kk, 0.f);
    }
    call.inputs = {f, ker};
    call.attrs.setNumber("threshold", threshold);
    return call;
  };
  if (!timed) c.cpuReference = [](const OpCall& call, const std::vector<Tensor>& out) {
    const int64_t N = call.inputs[1].size(0), H = call.inputs[0].size(1), W = call.inputs[0].size(2);
    const int64_t wpr = bitmask::wordsPerRow(W);
    const float thr = static_cast<float>(call.attrs.number("dynamic_conv_masks", "threshold", 0.5));
    std::vector<double> logits = convRef(call);  // exact: quantized inputs
    const uint64_t* bits = reinterpret_cast<const uint64_t*>(out[0].raw());
    std::vector<float> soft(N, 0.f);
    for (int64_t n = 0; n < N; ++n) {
      int64_t area = 0, x0 = W, y0 = H, x1 = -1, y1 = -1;
      double s = 0;
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          const float l = static_cast<float>(logits[(n * H + y) * W + x]);
          const float sg = bitmask::sigmoid32(l);
          const bool set = sg > thr;
          const bool got = (bits[(n * H + y) * wpr + x / 64] >> (x % 64)) & 1;
          if (set != got) return static_cast<double>(INFINITY);
          if (!set) continue;
          ++area;
          s += sg;
          x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
        }
      for (int64_t x = W; x < 64 * wpr; ++x)  // padding bits stay zero
        for (int64_t y = 0; y < H; ++y)
          if ((bits[(n * H + y) * wpr + x / 64] >> (x % 64)) & 1) return static_cast<double>(INFINITY);
      const int32_t* b = out[3].data<int32_t>() + 4 * n;
      const bool boxOk = area ? (b[0] == x0 && b[1] == y0 && b[2] == x1 + 1 && b[3] == y1 + 1)
                              : (b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0);
      if (out[1].data<int32_t>()[n] != area || !boxOk) return static_cast<double>(INFINITY);
      soft[n] = static_cast<float>(s);
    }
    return nmse(out[2].data<float>(), soft.data(), N);
  };
  c.cpuBound = 1e-10;
  c.reducedPrecision = true;  // quantized: same logits in every precision
  c.bounds.tf32 = c.bounds.bf16 = c.bounds.fp16 = 1e-10;
  c.timed = timed;
  return c;
}

OP_TEST_CASE(convCase(1, 1, 1, 1, 1, true));
OP_TEST_CASE(convCase(7, 13, 9, 70, 1, true));
OP_TEST_CASE(convCase(33, 64, 17, 31, 1, false));
OP_TEST_CASE(convCase(5, 3, 8, 65, 3, true));
OP_TEST_CASE(convCase(4, 6, 5, 3, 5, false));
OP_TEST_CASE(convCase(130, 256, 12, 20, 1, true));

OP_TEST_CASE(masksCase(1, 1, 1, 1, 1, 0.5));
OP_TEST_CASE(masksCase(2, 3, 2, 63, 1, 0.5));
OP_TEST_CASE(masksCase(7, 13, 9, 64, 1, 0.5));
OP_TEST_CASE(masksCase(19, 20, 11, 65, 1, 0.3));
OP_TEST_CASE(masksCase(33, 64, 17, 129, 1, 0.7));
OP_TEST_CASE(masksCase(130, 40, 5, 31, 1, 0.5));  // rows shorter than a word: chunks cross rows
OP_TEST_CASE(masksCase(5, 3, 8, 67, 3, 0.5));
OP_TEST_CASE(masksCase(3, 2, 4, 200, 5, 0.0));
OP_TEST_CASE(masksCase(4, 8, 3, 7, 1, 1.0));  // nothing passes
OP_TEST_CASE(masksCase(137, 256, 21, 43, 1, 0.5));
OP_TEST_CASE(masksCase(70, 64, 37, 100, 1, 0.5, false, true));
// 1x1 maps taller than one row block (2^18 logits / (N * W) rows: 64 here, so 3 blocks, each its own band): the
// in-place B operand keeps the whole map's row stride, and boxes, areas and soft sums join across the bands (mask 0
// is full, from the first band to the last).
OP_TEST_CASE(convCase(64, 8, 150, 64, 1, false));
OP_TEST_CASE(masksCase(64, 8, 150, 64, 1, 0.5));
// Realistic sizes for the timing table (SOTR: 500 kernels of 256 on 200 x 336).
OP_TEST_CASE(convCase(500, 256, 200, 336, 1, true, true));
OP_TEST_CASE(masksCase(500, 256, 200, 336, 1, 0.5, true));
OP_TEST_CASE(masksCase(500, 256, 200, 336, 1, 0.5, true, true));

}  // namespace
