// resizeMasks: SOTR's last post-processing step (sotr-architecture.md §10
// step 12) for a batch of soft masks, off the JavaScript thread, exactly as
// PyTorch computes
//
//   seg = F.interpolate(soft.unsqueeze(0), size=(fh*ratio, fw*ratio), bilinear)[:, :, :h, :w]
//   F.interpolate(seg, size=(H0, W0), bilinear).squeeze(0) > threshold
//
// bit for bit (tests/reference/make_resize_masks_fixtures.py): the taps and
// blends of interpolate.h, including the blend of torch's channels-last
// kernel where torch takes it (one mask, 1x1 masks), and the comparison in
// float32. Only the window of outputs that can exceed the threshold is
// computed: the box of source pixels above it (with a margin for rounding)
// bounds it, since every output is a convex combination of its taps. Within
// it, the second resize goes by blocks of 32 x 64 outputs, and a block whose
// intermediate values all lie on one side of the threshold (by the same
// margin) is left 0 or set to 1 without computing it: an object's mask
// computes only the blocks along its border (100 object-like masks to
// 4000 x 3000: 174 -> 45 ms; the bits are the same). Outputs:
// bit-packed rows, 2 * ceil(W0 / 64) 32-bit words per row, LSB first
// (ts/masks/mask.ts), and per mask int32 [area, x0, y0, x1, y1] (the box of
// the set pixels, ends exclusive; all 0 for an empty mask), so the JavaScript
// side need not scan 100 full-size masks again.
#include "ops/mask_resize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "ops/interpolate.h"
#include "runtime/thread_pool.h"

namespace sotr {

namespace {

// One axis of the two resizes: in -> mid = in * ratio (its first `crop`
// entries are kept), then crop -> out.
struct Axis {
  std::vector<LinearTap> first;   // [crop]
  std::vector<LinearTap> second;  // [out]
  // The source span output o reaches through both resizes: [lo(o), hi(o)], non-decreasing in o.
  int64_t lo(int64_t o) const { return first[second[o].i0].i0; }
  int64_t hi(int64_t o) const { return first[second[o].i1].i1; }
};

std::vector<LinearTap> taps(int64_t in, int64_t out, int64_t count) {
  const float scale = interpAxisScale(in, out, 0, false);
  std::vector<LinearTap> t(static_cast<size_t>(count));
  for (int64_t o = 0; o < count; ++o) t[o] = linearTap(o, in, out, scale, false);
  return t;
}

Axis axis(int64_t in, int64_t ratio, int64_t kept, int64_t out) {
  return Axis{taps(in, in * ratio, kept), taps(kept, out, out)};
}

// Bilinear over a window with taps relative to x; the channels-last blend when `cl`.
void resizeWindow(bool cl, const float* x, int64_t ldx, const LinearTap* th, int64_t rows, const LinearTap* tw,
                  int64_t cols, std::vector<float>& tmp, float* y, int64_t ldy) {
  if (rows <= 0 || cols <= 0) return;
  if (cl) {
    for (int64_t i = 0; i < rows; ++i) {
      const float* a = x + th[i].i0 * ldx;
      const float* b = x + th[i].i1 * ldx;
      float* yr = y + i * ldy;
      for (int64_t j = 0; j < cols; ++j)
        yr[j] = interp_detail::bilinearChannelsLast(a[tw[j].i0], a[tw[j].i1], b[tw[j].i0], b[tw[j].i1], th[i], tw[j]);
    }
    return;
  }
  const int64_t r0 = th[0].i0, r1 = th[rows - 1].i1;
  if (static_cast<int64_t>(tmp.size()) < (r1 - r0 + 1) * cols) tmp.resize(static_cast<size_t>((r1 - r0 + 1) * cols));
  interp_detail::bilinearWindow(x, ldx, th, rows, tw, cols, r0, r1, nullptr, tmp.data(), y, ldy);
}

// Sets bits [a, b) of a row, a 32-bit word at a time.
void setBits(uint32_t* row, int64_t a, int64_t b) {
  while (a < b) {
    const int64_t w = a >> 5, end = std::min(b, (w + 1) << 5);
    const int lo = static_cast<int>(a & 31), n = static_cast<int>(end - a);
    row[w] |= (n == 32 ? ~0u : ((1u << n) - 1u)) << lo;
    a = end;
  }
}

}  // namespace

ResizeMasksPlan planResizeMasks(const OpCall& call) {
  const std::string& op = call.op;
  const Tensor& soft = call.inputs[0];
  expectDType(op, "soft", soft, DType::F32);
  expectRank(op, "soft", soft, 3);
  ResizeMasksPlan p;
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
  const int64_t Hm = p.fh * p.ratio, Wm = p.fw * p.ratio;
  p.ch = std::min(p.h, Hm);  // slicing past the end keeps it all
  p.cw = std::min(p.w, Wm);
  // Which kernel torch runs for each resize: the first reads soft.unsqueeze(0), contiguous; the second
  // the cropped view of the first's (contiguous) output.
  p.cl1 = channelsLastContiguous({1, p.n, p.fh, p.fw}, {p.n * p.fh * p.fw, p.fh * p.fw, p.fw, 1});
  p.cl2 = channelsLastContiguous({1, p.n, p.ch, p.cw}, {p.n * Hm * Wm, Hm * Wm, Wm, 1});
  // Compared in float32, as torch compares a float tensor with a Python number.
  p.thr = static_cast<float>(p.threshold);
  // Every output is a convex combination of source pixels with weights that sum to 1 within a few ulps, so it
  // can exceed thr only where some source pixel exceeds thr less a margin of 2^-20 relative.
  p.boxThr = p.thr > 0 ? p.thr * (1.f - 0x1p-20f) : -std::numeric_limits<float>::infinity();
  return p;
}

namespace {

void runCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const ResizeMasksPlan p = planResizeMasks(call);
  if (p.n == 0) return;
  const Axis ay = axis(p.fh, p.ratio, p.ch, p.H0), ax = axis(p.fw, p.ratio, p.cw, p.W0);
  const bool cl1 = p.cl1, cl2 = p.cl2;
  const float thr = p.thr, boxThr = p.boxThr;
  const float* soft = call.inputs[0].data<float>();
  uint32_t* bits = reinterpret_cast<uint32_t*>(out[0].data<int32_t>());
  int32_t* stats = out[1].data<int32_t>();
  const int64_t fh = p.fh, fw = p.fw, H0 = p.H0, W0 = p.W0, stride = p.words;
  constexpr int64_t kStrip = 32;  // output rows per strip of the second resize
  constexpr int64_t kBlock = 64;  // output columns per block of a strip (classified, then skipped or computed)
  // Blocks whose intermediate values all lie above oneThr are all set without computing them (thr > 0: the soft
  // masks are sigmoids; the same 2^-20 relative margin as boxThr, far above the few ulps of a bilinear blend).
  const bool skip = p.thr > 0;
  const float oneThr = p.thr * (1.f + 0x1p-20f);
  auto one = [&](int64_t m) {
    static thread_local std::vector<float> mid, tmp, strip;
    static thread_local std::vector<LinearTap> ty, tx;
    const float* src = soft + m * fh * fw;
    uint32_t* words = bits + m * H0 * stride;
    std::memset(words, 0, sizeof(uint32_t) * static_cast<size_t>(H0 * stride));
    int32_t* st = stats + m * 5;
    std::memset(st, 0, sizeof(int32_t) * 5);
    int64_t bx0 = fw, by0 = fh, bx1 = -1, by1 = -1;
    for (int64_t y = 0; y < fh; ++y)
      for (int64_t x = 0; x < fw; ++x)
        if (src[y * fw + x] > boxThr) {
          bx0 = std::min(bx0, x);
          bx1 = std::max(bx1, x);
          by0 = std::min(by0, y);
          by1 = y;
        }
    if (bx1 < 0) return;
    // The outputs whose span meets the box (spans are monotone in the output index).
    int64_t X0 = 0, X1 = W0, Y0 = 0, Y1 = H0;
    while (X0 < W0 && ax.hi(X0) < bx0) ++X0;
    while (X1 > X0 && ax.lo(X1 - 1) > bx1) --X1;
    while (Y0 < H0 && ay.hi(Y0) < by0) ++Y0;
    while (Y1 > Y0 && ay.lo(Y1 - 1) > by1) --Y1;
    if (X0 >= X1 || Y0 >= Y1) return;
    // First resize: the window of the cropped intermediate the second one reads.
    const int64_t my0 = ay.second[Y0].i0, my1 = ay.second[Y1 - 1].i1;
    const int64_t mx0 = ax.second[X0].i0, mx1 = ax.second[X1 - 1].i1;
    const int64_t mrows = my1 - my0 + 1, mcols = mx1 - mx0 + 1;
    if (static_cast<int64_t>(mid.size()) < mrows * mcols) mid.resize(static_cast<size_t>(mrows * mcols));
    resizeWindow(cl1, src, fw, ay.first.data() + my0, mrows, ax.first.data() + mx0, mcols, tmp, mid.data(), mcols);
    // Second resize, in strips of output rows, with taps relative to the window.
    tx.assign(ax.second.begin() + X0, ax.second.begin() + X1);
    for (LinearTap& t : tx) t.i0 -= mx0, t.i1 -= mx0;
    const int64_t cols = X1 - X0;
    if (static_cast<int64_t>(strip.size()) < kStrip * cols) strip.resize(static_cast<size_t>(kStrip * cols));
    for (int64_t s0 = Y0; s0 < Y1; s0 += kStrip) {
      const int64_t rows = std::min(kStrip, Y1 - s0);
      ty.assign(ay.second.begin() + s0, ay.second.begin() + s0 + rows);
      for (LinearTap& t : ty) t.i0 -= my0, t.i1 -= my0;
      const int64_t mr0 = ty[0].i0, mr1 = ty[rows - 1].i1;
      for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
        const int64_t bc = std::min(kBlock, cols - c0);
        // Every output of the block is a convex combination of the intermediate values it reads: when they all lie
        // on one side of the threshold by the margin, so do the outputs (an object's mask: almost every block).
        if (skip) {
          const int64_t mc0 = tx[c0].i0, mc1 = tx[c0 + bc - 1].i1;
          float lo = std::numeric_limits<float>::infinity(), hi = -lo;
          bool nan = false;
          for (int64_t r = mr0; r <= mr1; ++r) {
            const float* mr = mid.data() + r * mcols;
            for (int64_t c = mc0; c <= mc1; ++c) {
              const float v = mr[c];
              lo = v < lo ? v : lo;
              hi = v > hi ? v : hi;
              nan |= v != v;
            }
          }
          if (!nan && hi <= boxThr) continue;  // no output above thr: the bits stay 0
          if (!nan && lo > oneThr) {  // every output above thr
            for (int64_t r = 0; r < rows; ++r) setBits(words + (s0 + r) * stride, X0 + c0, X0 + c0 + bc);
            continue;
          }
        }
        resizeWindow(cl2, mid.data(), mcols, ty.data(), rows, tx.data() + c0, bc, tmp, strip.data(), bc);
        for (int64_t r = 0; r < rows; ++r) {
          const float* v = strip.data() + r * bc;
          uint32_t* wr = words + (s0 + r) * stride;
          for (int64_t j = 0; j < bc; ++j)
            if (v[j] > thr) {
              const int64_t x = X0 + c0 + j;
              wr[x >> 5] |= 1u << (x & 31);
            }
        }
      }
    }
    // Area and box, over the words of the window.
    int64_t area = 0, x0 = W0, x1 = -1, y0 = -1, y1 = -1;
    for (int64_t y = Y0; y < Y1; ++y) {
      const uint32_t* wr = words + y * stride;
      int64_t rowArea = 0;
      for (int64_t w = X0 >> 5; w <= (X1 - 1) >> 5; ++w) {
        const uint32_t v = wr[w];
        if (!v) continue;
        rowArea += __builtin_popcount(v);
        x0 = std::min<int64_t>(x0, w * 32 + __builtin_ctz(v));
        x1 = std::max<int64_t>(x1, w * 32 + 31 - __builtin_clz(v));
      }
      if (rowArea) {
        area += rowArea;
        if (y0 < 0) y0 = y;
        y1 = y;
      }
    }
    if (area) {
      st[0] = static_cast<int32_t>(std::min<int64_t>(area, INT32_MAX));
      st[1] = static_cast<int32_t>(x0);
      st[2] = static_cast<int32_t>(y0);
      st[3] = static_cast<int32_t>(x1 + 1);
      st[4] = static_cast<int32_t>(y1 + 1);
    }
  };
  if (ctx.pool && ctx.pool->size() > 1 && p.n > 1) ctx.pool->parallelTasks(p.n, one);
  else
    for (int64_t m = 0; m < p.n; ++m) one(m);
}

OpRegistrar reg(OpDef{"resizeMasks", 1, 1,
                      [](const OpCall& call) {
                        const ResizeMasksPlan p = planResizeMasks(call);
                        return std::vector<TensorSpec>{{DType::I32, {p.n, p.H0, p.words}}, {DType::I32, {p.n, 5}}};
                      },
                      runCpu, nullptr});

}  // namespace

}  // namespace sotr
