// resizeMasks: SOTR's last post-processing step (sotr-architecture.md §10
// step 12) for a batch of soft masks, off the JavaScript thread:
//
//   F.interpolate(soft, size=(fh*ratio, fw*ratio), bilinear)[:, :, :h, :w]
//   F.interpolate(..., size=(H0, W0), bilinear) > threshold
//
// The two resizes are composed per axis into up to 4 (index, weight) taps of
// the soft mask (float32 index math as PyTorch, float64 weights), applied as
// a separable pass restricted to the box that can exceed the threshold (the
// taps are convex combinations). The arithmetic is the same, in the same
// order, as the TypeScript version it replaced (bit for bit). Output: bit-packed
// rows, 2 * ceil(W0 / 64) 32-bit words per row, LSB first (ts/masks/mask.ts).
#include "ops/mask_resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "runtime/thread_pool.h"

namespace sotr {

namespace {

struct Linear {  // PyTorch's bilinear taps, align_corners=False, float32 index math
  std::vector<int32_t> i0, i1;
  std::vector<float> l1;
};

Linear linearTaps(int64_t in, int64_t out) {
  Linear t;
  t.i0.resize(out);
  t.i1.resize(out);
  t.l1.resize(out);
  const float scale = static_cast<float>(static_cast<double>(in) / static_cast<double>(out));
  for (int64_t o = 0; o < out; ++o) {
    float src = scale * static_cast<float>(static_cast<double>(o) + 0.5);
    src = src - 0.5f;
    if (src < 0.f) src = 0.f;
    int64_t a = static_cast<int64_t>(std::floor(src));
    if (a > in - 1) a = in - 1;
    float lam = src - static_cast<float>(a);
    if (lam > 1.f) lam = 1.f;
    t.i0[o] = static_cast<int32_t>(a);
    t.i1[o] = static_cast<int32_t>(a < in - 1 ? a + 1 : a);
    t.l1[o] = lam;
  }
  return t;
}

// in -> mid (bilinear), first `crop` entries, crop -> out (bilinear), composed.
struct Composed {
  static constexpr int K = 4;
  std::vector<int32_t> idx;  // [out][K]
  std::vector<double> w;     // [out][K]
  std::vector<int32_t> lo, hi;  // smallest / largest index with a positive weight (hi = -1: none)
};

Composed composedTaps(int64_t in, int64_t mid, int64_t crop, int64_t out) {
  const Linear a = linearTaps(in, mid);
  const Linear b = linearTaps(crop, out);
  Composed c;
  c.idx.assign(out * Composed::K, 0);
  c.w.assign(out * Composed::K, 0.0);
  c.lo.assign(out, 0);
  c.hi.assign(out, -1);
  for (int64_t o = 0; o < out; ++o) {
    int32_t keys[4];
    double sums[4];
    int n = 0;
    auto add = [&](int32_t key, double v) {  // insertion order, as the Map of the TS version
      for (int i = 0; i < n; ++i)
        if (keys[i] == key) {
          sums[i] = sums[i] + v;
          return;
        }
      keys[n] = key;
      sums[n] = 0.0 + v;
      ++n;
    };
    auto addTap = [&](int32_t m, float wm) {
      const float l1 = a.l1[m];
      const float l0 = 1.f - l1;
      add(a.i0[m], static_cast<double>(wm) * static_cast<double>(l0));
      add(a.i1[m], static_cast<double>(wm) * static_cast<double>(l1));
    };
    const float l1 = b.l1[o];
    addTap(b.i0[o], 1.f - l1);
    addTap(b.i1[o], l1);
    int32_t* ix = c.idx.data() + o * Composed::K;
    double* wx = c.w.data() + o * Composed::K;
    for (int j = 0; j < n; ++j) {
      ix[j] = keys[j];
      wx[j] = sums[j];
    }
    for (int j = n; j < Composed::K; ++j) {
      ix[j] = ix[0];
      wx[j] = 0.0;
    }
    int32_t lo = INT32_MAX, hi = -1;
    for (int j = 0; j < Composed::K; ++j)
      if (wx[j] > 0) {
        lo = std::min(lo, ix[j]);
        hi = std::max(hi, ix[j]);
      }
    c.lo[o] = lo == INT32_MAX ? 0 : lo;
    c.hi[o] = hi;
  }
  return c;
}

struct Plan {
  int64_t n = 0, fh = 0, fw = 0, ratio = 1, h = 0, w = 0, H0 = 0, W0 = 0, words = 0;
  double threshold = 0.5;  // compared in double, as the TS version did
};

Plan plan(const OpCall& call) {
  const std::string& op = call.op;
  const Tensor& soft = call.inputs[0];
  expectDType(op, "soft", soft, DType::F32);
  expectRank(op, "soft", soft, 3);
  Plan p;
  p.n = soft.size(0);
  p.fh = soft.size(1);
  p.fw = soft.size(2);
  p.ratio = static_cast<int64_t>(call.attrs.number(op, "ratio", 1));
  const std::vector<int64_t> crop = call.attrs.integers(op, "crop", {});
  const std::vector<int64_t> size = call.attrs.integers(op, "size", {});
  if (crop.size() != 2 || size.size() != 2)
    fail(ErrorKind::Range, op + ": crop [h, w] and size [H0, W0] are required");
  p.h = crop[0];
  p.w = crop[1];
  p.H0 = size[0];
  p.W0 = size[1];
  p.threshold = call.attrs.number(op, "threshold", 0.5);
  if (p.ratio < 1 || p.ratio > 64) fail(ErrorKind::Range, op + ": ratio must be 1..64, received " + std::to_string(p.ratio));
  if (p.h < 1 || p.w < 1 || p.H0 < 1 || p.W0 < 1 || p.H0 > (1 << 16) || p.W0 > (1 << 16))
    fail(ErrorKind::Range, op + ": crop and size must be 1..65536, received crop [" + std::to_string(p.h) + ", " +
                               std::to_string(p.w) + "], size [" + std::to_string(p.H0) + ", " + std::to_string(p.W0) + "]");
  if (p.n > 0 && (p.fh < 1 || p.fw < 1))
    fail(ErrorKind::Shape, op + ": soft must be [n, fh, fw] with fh, fw >= 1, received " + shapeStr(soft.shape));
  if (!std::isfinite(p.threshold)) fail(ErrorKind::Range, op + ": threshold must be a finite number");
  p.words = 2 * ((p.W0 + 63) / 64);
  return p;
}

void runCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const Plan p = plan(call);
  if (p.n == 0) return;
  const int64_t ch = std::min(p.h, p.fh * p.ratio), cw = std::min(p.w, p.fw * p.ratio);
  const Composed ty = composedTaps(p.fh, p.fh * p.ratio, ch, p.H0);
  const Composed tx = composedTaps(p.fw, p.fw * p.ratio, cw, p.W0);
  const float* soft = call.inputs[0].data<float>();
  uint32_t* bits = reinterpret_cast<uint32_t*>(out[0].data<int32_t>());
  const int64_t fh = p.fh, fw = p.fw, H0 = p.H0, W0 = p.W0, stride = p.words;
  const double threshold = p.threshold;
  auto one = [&](int64_t m) {
    static thread_local std::vector<double> tmp;
    if (static_cast<int64_t>(tmp.size()) < fh * W0) tmp.resize(static_cast<size_t>(fh * W0));
    const float* src = soft + m * fh * fw;
    uint32_t* words = bits + m * H0 * stride;
    std::memset(words, 0, sizeof(uint32_t) * static_cast<size_t>(H0 * stride));
    // The box of source pixels above the threshold: only outputs whose taps meet it can exceed it.
    int64_t bx0 = fw, by0 = fh, bx1 = -1, by1 = -1;
    for (int64_t y = 0; y < fh; ++y)
      for (int64_t x = 0; x < fw; ++x)
        if (static_cast<double>(src[y * fw + x]) > threshold) {
          if (x < bx0) bx0 = x;
          if (x > bx1) bx1 = x;
          if (y < by0) by0 = y;
          by1 = y;
        }
    if (bx1 < 0) return;
    int64_t X0 = 0, X1 = W0, Y0 = 0, Y1 = H0;
    while (X0 < W0 && tx.hi[X0] < bx0) ++X0;
    while (X1 > X0 && tx.lo[X1 - 1] > bx1) --X1;
    while (Y0 < H0 && ty.hi[Y0] < by0) ++Y0;
    while (Y1 > Y0 && ty.lo[Y1 - 1] > by1) --Y1;
    if (X0 >= X1 || Y0 >= Y1) return;
    const int64_t r0 = ty.lo[Y0], r1 = ty.hi[Y1 - 1];
    constexpr int K = Composed::K;
    for (int64_t y = r0; y <= r1; ++y) {
      const float* row = src + y * fw;
      double* t = tmp.data() + y * W0;
      for (int64_t x = X0; x < X1; ++x) {
        double v = 0;
        for (int k = 0; k < K; ++k) v += tx.w[x * K + k] * static_cast<double>(row[tx.idx[x * K + k]]);
        t[x] = v;
      }
    }
    // Columns: the same taps for the whole row, so the loop over x vectorizes
    // (each v is summed in tap order, exactly as the scalar form).
    static thread_local std::vector<double> vrow;
    if (static_cast<int64_t>(vrow.size()) < W0) vrow.resize(static_cast<size_t>(W0));
    for (int64_t y = Y0; y < Y1; ++y) {
      const double* rows[K];
      double wts[K];
      int nt = 0;
      for (int k = 0; k < K; ++k) {
        const double wt = ty.w[y * K + k];
        if (wt > 0) {
          wts[nt] = wt;
          rows[nt] = tmp.data() + ty.idx[y * K + k] * W0;
          ++nt;
        }
      }
      double* v = vrow.data();
      for (int64_t x = X0; x < X1; ++x) v[x] = 0.0;
      for (int t = 0; t < nt; ++t) {
        const double wt = wts[t];
        const double* r = rows[t];
        for (int64_t x = X0; x < X1; ++x) v[x] += wt * r[x];
      }
      uint32_t* wr = words + y * stride;
      for (int64_t x = X0; x < X1; ++x)
        if (v[x] > threshold) wr[x >> 5] |= 1u << (x & 31);
    }
  };
  if (ctx.pool && ctx.pool->size() > 1 && p.n > 1) ctx.pool->parallelTasks(p.n, one);
  else
    for (int64_t m = 0; m < p.n; ++m) one(m);
}

OpRegistrar reg(OpDef{"resizeMasks", 1, 1,
                      [](const OpCall& call) {
                        const Plan p = plan(call);
                        return std::vector<TensorSpec>{{DType::I32, {p.n, p.H0, p.words}}};
                      },
                      runCpu, nullptr});

}  // namespace

}  // namespace sotr
