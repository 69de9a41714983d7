// maskContours cases (CPU only). The exact points and order are checked against
// cv2.findContours goldens in tests/masks/contours.test.mjs; these Node-free
// cases (which also run on arm64 under qemu) check what any correct tracing
// must satisfy, against an independent flood fill:
// - 'none': consecutive points (and the last to the first) are 8-neighbours,
//   every point is a set pixel with a background 4-neighbour (or the edge);
// - 'simple': the same contours' turning points, a subsequence of 'none';
// - ccomp: as many outer borders as 8-connected components, as many holes as
//   enclosed 4-connected background regions, each hole's parent an outer one;
// - external: as many borders as components whose surrounding background is
//   the one that touches the image's edge;
// - a capacity one short writes only the offsets;
// - masks given as their windows give the whole masks' contours exactly.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../op_test.h"
#include "ops/mask_contours.h"

using namespace sotr;
using namespace sotr_test;

namespace {

enum class Pattern { Noise, Rings, Blobs, Mixed };

struct Spec {
  int64_t n, H, W;
  Pattern pattern;
  bool shortCapacity = false;
  bool timed = false;
};

int64_t words32(int64_t W) { return 2 * ((W + 63) / 64); }

struct Bits {
  const int32_t* m;
  int64_t H, W;
  bool at(int64_t x, int64_t y) const {
    if (x < 0 || y < 0 || x >= W || y >= H) return false;
    return (static_cast<uint32_t>(m[y * words32(W) + x / 32]) >> (x % 32)) & 1u;
  }
};

// Flood fills: 8-connected components of set pixels, 4-connected regions of
// background on the image padded by one background pixel (region 0 touches
// the edge). Labels are per padded pixel.
struct Regions {
  int64_t H, W;
  std::vector<int32_t> fg, bg;  // (H + 2) x (W + 2), -1 = not of that kind
  int32_t components = 0, backgrounds = 0;
  int64_t idx(int64_t x, int64_t y) const { return (y + 1) * (W + 2) + (x + 1); }
};

Regions regions(const Bits& b) {
  Regions r{b.H, b.W, {}, {}};
  const int64_t n = (b.H + 2) * (b.W + 2);
  r.fg.assign(size_t(n), -1);
  r.bg.assign(size_t(n), -1);
  std::vector<std::pair<int64_t, int64_t>> st;
  for (int64_t y = -1; y <= b.H; ++y)
    for (int64_t x = -1; x <= b.W; ++x) {
      const bool set = b.at(x, y);
      std::vector<int32_t>& lab = set ? r.fg : r.bg;
      if (lab[r.idx(x, y)] >= 0) continue;
      const int32_t id = set ? r.components++ : r.backgrounds++;
      st.assign(1, {x, y});
      lab[r.idx(x, y)] = id;
      while (!st.empty()) {
        auto [cx, cy] = st.back();
        st.pop_back();
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) {
            if (!set && dx != 0 && dy != 0) continue;  // background: 4-connected
            const int64_t nx = cx + dx, ny = cy + dy;
            if (nx < -1 || ny < -1 || nx > b.W || ny > b.H || b.at(nx, ny) != set || lab[r.idx(nx, ny)] >= 0) continue;
            lab[r.idx(nx, ny)] = id;
            st.push_back({nx, ny});
          }
      }
    }
  return r;
}

struct Parsed {
  std::vector<int32_t> parent;
  std::vector<std::vector<int32_t>> pts;
};

bool parse(const int32_t* d, int64_t len, Parsed& p) {
  if (len < 1) return false;
  int64_t at = 0;
  const int32_t count = d[at++];
  for (int32_t c = 0; c < count; ++c) {
    if (at + 2 > len) return false;
    p.parent.push_back(d[at]);
    const int32_t np = d[at + 1];
    at += 2;
    if (np < 1 || at + 2 * np > len) return false;
    p.pts.emplace_back(d + at, d + at + 2 * np);
    at += 2 * np;
  }
  return at == len;
}

// The checks of one mask's 'none' and 'simple' outputs (mode as given).
bool checkMask(const Bits& b, const Regions& r, bool ccomp, const Parsed& none, const Parsed& simple) {
  if (none.parent != simple.parent || none.pts.size() != simple.pts.size()) return false;
  int32_t outer = 0, holes = 0;
  for (size_t c = 0; c < none.pts.size(); ++c) {
    const std::vector<int32_t>& q = none.pts[c];
    const size_t np = q.size() / 2;
    for (size_t i = 0; i < np; ++i) {
      const int64_t x = q[2 * i], y = q[2 * i + 1];
      if (!b.at(x, y)) return false;
      if (b.at(x - 1, y) && b.at(x + 1, y) && b.at(x, y - 1) && b.at(x, y + 1)) return false;
      const int64_t nx = q[2 * ((i + 1) % np)], ny = q[2 * ((i + 1) % np) + 1];
      if (np > 1 && (std::abs(nx - x) > 1 || std::abs(ny - y) > 1 || (nx == x && ny == y && np > 2))) return false;
    }
    // 'simple' keeps a subsequence of the same points (not always the first: a hole's border can leave its start
    // in the direction it came from, so the start is no turn).
    const std::vector<int32_t>& s = simple.pts[c];
    size_t j = 0;
    for (size_t i = 0; i < np && j < s.size() / 2; ++i)
      if (q[2 * i] == s[2 * j] && q[2 * i + 1] == s[2 * j + 1]) ++j;
    if (j != s.size() / 2) return false;
    if (none.parent[c] < 0) ++outer;
    else {
      ++holes;
      if (!ccomp || none.parent[c] >= int32_t(c) || none.parent[none.parent[c]] != -1) return false;
    }
  }
  if (ccomp) {
    // Every background region but the one at the edge is a hole of some component.
    return outer == r.components && holes == r.backgrounds - 1;
  }
  // External: components whose first raster pixel has the edge's background on its left.
  int32_t want = 0;
  std::vector<bool> seen(size_t(r.components), false);
  for (int64_t y = 0; y < b.H; ++y)
    for (int64_t x = 0; x < b.W; ++x) {
      if (!b.at(x, y)) continue;
      const int32_t id = r.fg[r.idx(x, y)];
      if (seen[id]) continue;
      seen[id] = true;
      if (r.bg[r.idx(x - 1, y)] == 0) ++want;
    }
  return holes == 0 && outer == want;
}

// Masks of the pattern (bits past the width zero).
Tensor makeMasks(const Spec& s, Rng& rng) {
  Tensor m = cpuTensor(DType::I32, {s.n, s.H, words32(s.W)});
  std::memset(m.data<int32_t>(), 0, size_t(m.numel()) * 4);
  for (int64_t i = 0; i < s.n; ++i) {
    int32_t* rows = m.data<int32_t>() + i * s.H * words32(s.W);
    const Pattern p = s.pattern == Pattern::Mixed ? Pattern(i % 3) : s.pattern;
    const double cx = rng.uniform(0.f, float(s.W)), cy = rng.uniform(0.f, float(s.H));
    const double r = rng.uniform(0.2f, 0.6f) * double(std::min(s.H, s.W));
    const double density = rng.uniform(0.2f, 0.8f);
    for (int64_t y = 0; y < s.H; ++y)
      for (int64_t x = 0; x < s.W; ++x) {
        const double d = std::sqrt((x - cx) * (x - cx) + (y - cy) * (y - cy));
        bool v = false;
        switch (p) {
          case Pattern::Noise: v = rng.uniform(0.f, 1.f) < density; break;
          case Pattern::Rings: v = (int64_t(d) % 6) < 2 || d < 1.5; break;
          case Pattern::Blobs: v = d < r && ((x / 5 + y / 7) % 3 != 0 || d < r / 3); break;
          case Pattern::Mixed: break;
        }
        if (v) rows[y * words32(s.W) + x / 32] |= int32_t(1u << (x % 32));
      }
  }
  return m;
}

OpCase contoursCase(Spec s) {
  OpCase c;
  const char* names[] = {"noise", "rings", "blobs", "mixed"};
  c.name = "maskContours n" + std::to_string(s.n) + " " + std::to_string(s.H) + "x" + std::to_string(s.W) + " " +
           names[int(s.pattern)] + (s.shortCapacity ? " capacity short" : "");
  c.make = [s](Rng& rng) {
    OpCall call;
    call.op = "maskContours";
    Tensor m = makeMasks(s, rng);
    call.inputs = {m};    call.attrs.setNumber("width", double(s.W));
    call.attrs.setString("mode", "ccomp");
    call.attrs.setString("approx", "none");
    // The exact total (or one short) from a first run with room to spare.
    int64_t total = 0;
    for (int64_t i = 0; i < s.n; ++i) {
      std::vector<int32_t> one;
      traceMaskContours(m.data<int32_t>() + i * s.H * words32(s.W), s.H, s.W, words32(s.W), ContourMode::CComp, false, one);
      total += int64_t(one.size());
    }
    call.attrs.setNumber("capacity", double(s.shortCapacity ? total - 1 : total));
    return call;
  };
  hostOpCheck(c, s.timed, [s](const OpCall& call, const std::vector<Tensor>& out) {
    if (out[0].shape != Shape{s.n + 1}) return double(INFINITY);
    const int32_t* off = out[0].data<int32_t>();
    if (s.shortCapacity) return off[s.n] == out[1].shape[0] + 1 ? 0.0 : double(INFINITY);
    if (off[s.n] != out[1].shape[0]) return double(INFINITY);
    for (const bool ccomp : {true, false}) {
      std::vector<std::vector<int32_t>> none(size_t(s.n)), simple(size_t(s.n));
      for (int64_t i = 0; i < s.n; ++i) {
        const int32_t* rows = call.inputs[0].data<int32_t>() + i * s.H * words32(s.W);
        if (ccomp) none[i].assign(out[1].data<int32_t>() + off[i], out[1].data<int32_t>() + off[i + 1]);
        else traceMaskContours(rows, s.H, s.W, words32(s.W), ContourMode::External, false, none[i]);
        traceMaskContours(rows, s.H, s.W, words32(s.W), ccomp ? ContourMode::CComp : ContourMode::External, true, simple[i]);
        const Bits b{rows, s.H, s.W};
        const Regions r = regions(b);
        Parsed pn, ps;
        if (!parse(none[i].data(), int64_t(none[i].size()), pn) || !parse(simple[i].data(), int64_t(simple[i].size()), ps))
          return double(INFINITY);
        if (!checkMask(b, r, ccomp, pn, ps)) return double(INFINITY);
      }
    }
    return 0.0;
  });
  return c;
}

// Masks given as their windows (the `windows` attribute, cropMasks' layout: each mask's box, whole 64-bit words
// wide): the same contours as the whole masks, points in image coordinates.
OpCase windowsCase(Spec s, bool ccomp) {
  OpCase c;
  const char* names[] = {"noise", "rings", "blobs", "mixed"};
  c.name = "maskContours windows n" + std::to_string(s.n) + " " + std::to_string(s.H) + "x" + std::to_string(s.W) + " " +
           names[int(s.pattern)] + (ccomp ? " ccomp none" : " external simple");
  c.make = [s, ccomp](Rng& rng) {
    const Tensor whole = makeMasks(s, rng);
    std::vector<int32_t> bits;
    std::vector<double> windows;
    for (int64_t i = 0; i < s.n; ++i) {
      const int32_t* rows = whole.data<int32_t>() + i * s.H * words32(s.W);
      int64_t y0 = s.H, y1 = -1, w0 = words32(s.W), w1 = -1;  // rows and int32 words with set bits
      for (int64_t y = 0; y < s.H; ++y)
        for (int64_t w = 0; w < words32(s.W); ++w)
          if (rows[y * words32(s.W) + w]) y0 = std::min(y0, y), y1 = std::max(y1, y), w0 = std::min(w0, w), w1 = std::max(w1, w);
      if (y1 < 0) {
        windows.insert(windows.end(), {0, 0, 0, 0});
        continue;
      }
      const int64_t word = w0 / 2, words = w1 / 2 - word + 1;
      windows.insert(windows.end(), {double(y0), double(y1 - y0 + 1), double(word), double(words)});
      for (int64_t y = y0; y <= y1; ++y) bits.insert(bits.end(), rows + y * words32(s.W) + 2 * word, rows + y * words32(s.W) + 2 * (word + words));
    }
    Tensor t = cpuTensor(DType::I32, {int64_t(bits.size())});
    if (!bits.empty()) std::memcpy(t.data<int32_t>(), bits.data(), bits.size() * 4);
    // The reference: the whole masks traced directly (the op is traced on the windows only).
    int64_t total = 0;
    std::vector<double> flat;
    for (int64_t i = 0; i < s.n; ++i) {
      std::vector<int32_t> one;
      traceMaskContours(whole.data<int32_t>() + i * s.H * words32(s.W), s.H, s.W, words32(s.W),
                        ccomp ? ContourMode::CComp : ContourMode::External, !ccomp, one);
      total += int64_t(one.size());
      flat.insert(flat.end(), one.begin(), one.end());
    }
    OpCall call;
    call.op = "maskContours";
    call.inputs = {t};
    call.attrs.setNumbers("windows", windows);
    call.attrs.setNumber("width", double(s.W));
    call.attrs.setNumber("height", double(s.H));
    call.attrs.setString("mode", ccomp ? "ccomp" : "external");
    call.attrs.setString("approx", ccomp ? "none" : "simple");
    call.attrs.setNumber("capacity", double(total));
    call.attrs.setNumbers("expected", flat);  // not read by the op: the whole masks' contours, for the check
    return call;
  };
  hostOpCheck(c, s.timed, [s](const OpCall& call, const std::vector<Tensor>& out) {
    const std::vector<double> want = call.attrs.numbers(call.op, "expected", {});
    if (out[0].shape != Shape{s.n + 1} || out[1].shape != Shape{int64_t(want.size())}) return double(INFINITY);
    if (out[0].data<int32_t>()[s.n] != int64_t(want.size())) return double(INFINITY);
    for (size_t k = 0; k < want.size(); ++k)
      if (out[1].data<int32_t>()[k] != int32_t(want[k])) return double(INFINITY);
    return 0.0;
  });
  return c;
}

// n, H, W, pattern
OP_TEST_CASE(contoursCase({1, 1, 1, Pattern::Noise}));
OP_TEST_CASE(contoursCase({3, 1, 70, Pattern::Noise}));
OP_TEST_CASE(contoursCase({3, 70, 1, Pattern::Noise}));
OP_TEST_CASE(contoursCase({4, 63, 65, Pattern::Mixed}));
OP_TEST_CASE(contoursCase({3, 64, 64, Pattern::Rings}));
OP_TEST_CASE(contoursCase({5, 97, 130, Pattern::Mixed}));
OP_TEST_CASE(contoursCase({3, 50, 77, Pattern::Noise, true}));  // capacity short: the offsets only
OP_TEST_CASE(contoursCase({0, 10, 10, Pattern::Noise}));
OP_TEST_CASE(contoursCase({100, 480, 640, Pattern::Blobs, false, true}));  // a COCO-sized image's 100 instances
OP_TEST_CASE(windowsCase({1, 1, 1, Pattern::Noise}, true));
OP_TEST_CASE(windowsCase({7, 63, 65, Pattern::Mixed}, true));
OP_TEST_CASE(windowsCase({7, 97, 200, Pattern::Blobs}, false));
OP_TEST_CASE(windowsCase({5, 130, 131, Pattern::Rings}, true));
OP_TEST_CASE(windowsCase({0, 10, 10, Pattern::Noise}, false));

}  // namespace
