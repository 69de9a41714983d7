// maskContours: see mask_contours.h.
#include "ops/mask_contours.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "ops/packed_masks.h"

namespace sotr {
namespace {

// Chain codes as OpenCV numbers them: 0 east, then counterclockwise on the screen (y down).
constexpr int kDx[8] = {1, 1, 0, -1, -1, -1, 0, 1};
constexpr int kDy[8] = {0, -1, -1, -1, 0, 1, 1, 1};

// Border marks (Suzuki-Abe): an unvisited foreground pixel is 1, a traced border pixel kMark, or kRightMark where
// the border's right side is the background (the scan must not start a hole there).
constexpr int8_t kMark = 2;
constexpr int8_t kRightMark = static_cast<int8_t>(2 | -128);

struct Image {
  std::vector<int8_t> px;  // (h + 2) x (w + 2), the crop with a zero border
  int64_t stride = 0, h = 0, w = 0;
  int64_t ox = 0, oy = 0;  // mask coordinates of crop pixel (1, 1)
};

// Follows one border from `start` (an outer border: the scan met background then this pixel; a hole: this pixel
// then background), marking it, and appends its points. The steps of OpenCV's icvFetchContour: the first neighbour
// clockwise from the west (outer) or east (hole), then counterclockwise searches around each next pixel.
void followBorder(Image& im, int64_t start, bool hole, bool simple, int32_t x, int32_t y, std::vector<int32_t>& pts) {
  int64_t delta[16];
  for (int k = 0; k < 16; ++k) delta[k] = kDx[k & 7] + kDy[k & 7] * im.stride;
  int8_t* p = im.px.data();
  int s_end = hole ? 0 : 4, s = s_end;
  int64_t i1;
  do {
    s = (s - 1) & 7;
    i1 = start + delta[s];
  } while (p[i1] == 0 && s != s_end);
  if (s == s_end) {  // a single pixel
    p[start] = kRightMark;
    pts.push_back(x);
    pts.push_back(y);
    return;
  }
  int64_t i3 = start, i4 = start;
  int prev_s = s ^ 4;
  for (;;) {
    s_end = s;
    while (s < 15) {
      i4 = i3 + delta[++s];
      if (p[i4] != 0) break;
    }
    s &= 7;
    // The search passed the east neighbour (background): a right border pixel.
    if (static_cast<unsigned>(s - 1) < static_cast<unsigned>(s_end)) p[i3] = kRightMark;
    else if (p[i3] == 1) p[i3] = kMark;
    if (!simple || s != prev_s) {
      pts.push_back(x);
      pts.push_back(y);
      prev_s = s;
    }
    x += kDx[s];
    y += kDy[s];
    if (i4 == start && i3 == i1) break;
    i3 = i4;
    s = (s + 4) & 7;
  }
}

// The first x >= x (up to w + 1) in a crop row whose value differs from v, 8 pixels at a time where they are all v
// (the crop has 8 bytes of slack after its last row).
int64_t skipEqual(const int8_t* r, int64_t x, int64_t w, int8_t v) {
  const uint64_t pattern = 0x0101010101010101ull * static_cast<uint8_t>(v);
  while (x + 8 <= w + 1) {
    uint64_t q;
    std::memcpy(&q, r + x, 8);
    if (q != pattern) break;
    x += 8;
  }
  while (x <= w && r[x] == v) ++x;
  return x;
}

// The 8-connected components of the crop, by runs: each row's runs of set pixels, joined (union-find) with the
// runs of the row above that touch them (overlapping or diagonal). In ccomp mode a hole's parent is the outer border
// of the component its first pixel belongs to; a component's outer border is the one found at its first pixel.
class Components {
 public:
  void build(const Image& im) {
    start_.clear();
    end_.clear();
    parent_.clear();
    rowFirst_.assign(static_cast<size_t>(im.h + 2), 0);
    const int8_t* p = im.px.data();
    for (int64_t y = 1; y <= im.h; ++y) {
      rowFirst_[y] = static_cast<int32_t>(start_.size());
      const int8_t* r = p + y * im.stride;
      for (int64_t x = 1; x <= im.w;) {
        x = skipEqual(r, x, im.w, 0);
        if (x > im.w) break;
        const int64_t x0 = x;
        x = skipEqual(r, x, im.w, 1);
        start_.push_back(static_cast<int32_t>(x0));
        end_.push_back(static_cast<int32_t>(x));  // exclusive
        parent_.push_back(static_cast<int32_t>(parent_.size()));
      }
    }
    rowFirst_[im.h + 1] = static_cast<int32_t>(start_.size());
    for (int64_t y = 2; y <= im.h; ++y) {
      int32_t a = rowFirst_[y - 1];
      const int32_t aEnd = rowFirst_[y];
      for (int32_t b = rowFirst_[y]; b < rowFirst_[y + 1]; ++b) {
        // Runs above that end before this one starts (diagonal contact allowed) cannot touch later runs either.
        while (a < aEnd && end_[a] < start_[b]) ++a;
        for (int32_t k = a; k < aEnd && start_[k] <= end_[b]; ++k) unite(k, b);
      }
    }
  }
  // The component (a root run) of set pixel (x, y) of the crop.
  int32_t of(int64_t x, int64_t y) {
    const int32_t* s0 = start_.data() + rowFirst_[y];
    const int32_t* s1 = start_.data() + rowFirst_[y + 1];
    const int32_t k = static_cast<int32_t>(std::upper_bound(s0, s1, static_cast<int32_t>(x)) - start_.data()) - 1;
    return find(k);
  }
  size_t runs() const { return start_.size(); }
  void release() {
    std::vector<int32_t>().swap(start_);
    std::vector<int32_t>().swap(end_);
    std::vector<int32_t>().swap(parent_);
  }


 private:
  int32_t find(int32_t k) {
    while (parent_[k] != k) k = parent_[k] = parent_[parent_[k]];
    return k;
  }
  void unite(int32_t a, int32_t b) {
    a = find(a);
    b = find(b);
    if (a != b) parent_[std::max(a, b)] = std::min(a, b);
  }
  std::vector<int32_t> start_, end_, parent_, rowFirst_;
};

struct Contour {
  bool hole = false;
  int32_t parent = -1;  // discovery index of the outer border (holes)
  std::vector<int32_t> pts;
};

// Byte b's 8 bits as 8 bytes of 0 / 1 (least significant bit first; stored little-endian).
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "maskContours unpacks bits with little-endian 64-bit stores"
#endif
struct BitBytes {
  uint64_t v[256];
  BitBytes() {
    for (int b = 0; b < 256; ++b) {
      uint64_t q = 0;
      for (int i = 0; i < 8; ++i) q |= static_cast<uint64_t>((b >> i) & 1) << (8 * i);
      v[b] = q;
    }
  }
};
const BitBytes kBitBytes;

thread_local Image t_image;
thread_local Components t_components;

}  // namespace

void traceMaskContours(const int32_t* rows, int64_t H, int64_t W, int64_t words32, ContourMode mode, bool simple,
                       std::vector<int32_t>& out) {
  // The bounding box of the set bits.
  int64_t y0 = H, y1 = 0, x0 = W, x1 = 0;
  for (int64_t y = 0; y < H; ++y) {
    const uint32_t* r = reinterpret_cast<const uint32_t*>(rows + y * words32);
    for (int64_t k = 0; k < words32; ++k) {
      if (!r[k]) continue;
      y0 = std::min(y0, y);
      y1 = y + 1;
      x0 = std::min<int64_t>(x0, 32 * k + __builtin_ctz(r[k]));
      x1 = std::max<int64_t>(x1, 32 * k + 32 - __builtin_clz(r[k]));
    }
  }
  if (y1 <= y0) {
    out.push_back(0);
    return;
  }
  Image& im = t_image;
  im.h = y1 - y0;
  im.w = x1 - x0;
  im.stride = im.w + 2;
  im.ox = x0;
  im.oy = y0;
  // 8 bytes of slack: the unpacking below writes whole groups of 8 pixels (the bits past x1 are 0).
  im.px.assign(static_cast<size_t>((im.h + 2) * im.stride + 8), 0);
  for (int64_t y = 0; y < im.h; ++y) {
    const uint32_t* r = reinterpret_cast<const uint32_t*>(rows + (y0 + y) * words32);
    int8_t* dst = im.px.data() + (y + 1) * im.stride + 1;
    for (int64_t x = 0; x < im.w; x += 8) {
      const int64_t b = x0 + x, k = b >> 5;
      const uint64_t two = static_cast<uint64_t>(r[k]) | (k + 1 < words32 ? static_cast<uint64_t>(r[k + 1]) << 32 : 0);
      uint64_t bits = kBitBytes.v[(two >> (b & 31)) & 0xff];
      if (x + 8 > im.w) bits &= ~0ull >> (8 * (x + 8 - im.w));  // keep the right border column 0
      std::memcpy(dst + x, &bits, 8);
    }
  }
  const bool ccomp = mode == ContourMode::CComp;
  Components& comps = t_components;
  std::vector<int32_t> outerOf;  // component root run -> discovery index of its outer border
  if (ccomp) {
    comps.build(im);
    outerOf.assign(comps.runs(), -1);
  }

  // The raster scan of OpenCV's cvFindNextContour (modes RETR_EXTERNAL and RETR_CCOMP): a border starts where the
  // value changes from 0 to an unvisited 1 (outer) or from an unvisited 1 or a left-side mark to 0 (hole). `lnbd` is
  // where the scan last changed into a marked pixel on this row; in external mode a new outer border starts only
  // when that pixel is not a left-side mark (the scan is then outside every component).
  std::vector<Contour> found;
  int8_t* p = im.px.data();
  for (int64_t y = 1; y <= im.h; ++y) {
    const int64_t row = y * im.stride;
    int64_t lnbd = 0;
    int prev = 0;
    for (int64_t x = 1; x <= im.w; ++x) {
      x = skipEqual(p + row, x, im.w, static_cast<int8_t>(prev));
      if (x > im.w) break;
      const int v = p[row + x];
      bool hole = false, start = true;
      if (!(prev == 0 && v == 1)) {
        if (v != 0 || prev < 1) {
          start = false;
        } else {
          if (prev & -2) lnbd = x - 1;
          hole = true;
        }
      }
      if (start && !ccomp && (hole || p[row + lnbd] > 0)) start = false;
      if (!start) {
        prev = v;
        if (prev & -2) lnbd = x;
        continue;
      }
      const int64_t at = row + x - (hole ? 1 : 0);
      lnbd = x - (hole ? 1 : 0);
      Contour c;
      c.hole = hole;
      if (ccomp) {
        const int32_t root = comps.of(lnbd, y);
        if (!hole) outerOf[root] = static_cast<int32_t>(found.size());
        else c.parent = outerOf[root];
      }
      followBorder(im, at, hole, simple, static_cast<int32_t>(im.ox + lnbd - 1), static_cast<int32_t>(im.oy + y - 1), c.pts);
      found.push_back(std::move(c));
      prev = p[row + x];
    }
  }

  // OpenCV's order: each contour becomes the first child of its parent (the frame for outer borders), and the
  // output is the tree in pre-order: outer borders in reverse order of discovery, each followed by its holes, also
  // in reverse order of discovery.
  const int64_t n = static_cast<int64_t>(found.size());
  std::vector<std::vector<int32_t>> holes(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    if (found[i].hole && found[i].parent >= 0) holes[found[i].parent].push_back(static_cast<int32_t>(i));
  out.push_back(static_cast<int32_t>(n));
  auto emit = [&](int64_t i, int32_t parentOut) {
    const Contour& c = found[i];
    out.push_back(parentOut);
    out.push_back(static_cast<int32_t>(c.pts.size() / 2));
    out.insert(out.end(), c.pts.begin(), c.pts.end());
  };
  int32_t written = 0;
  for (int64_t i = n - 1; i >= 0; --i) {
    if (found[i].hole) continue;
    const int32_t self = written++;
    emit(i, -1);
    for (auto it = holes[i].rbegin(); it != holes[i].rend(); ++it) {
      emit(*it, self);
      ++written;
    }
  }
  if (im.px.size() > (size_t(1) << 25)) {  // keep at most ~32 MB a thread between calls
    std::vector<int8_t>().swap(im.px);
    comps.release();
  }
}

namespace {

struct Plan {
  PackedMasks masks;
  int64_t capacity = 0;
  ContourMode mode = ContourMode::External;
  bool simple = true;
};

Plan plan(const OpCall& call) {
  const std::string& op = call.op;
  Plan p;
  p.masks = readPackedMasks(call, true);
  const std::string mode = call.attrs.string(op, "mode", "external");
  if (mode == "external") p.mode = ContourMode::External;
  else if (mode == "ccomp") p.mode = ContourMode::CComp;
  else fail(ErrorKind::Range, op + ": mode must be 'external' or 'ccomp', received '" + mode + "'");
  const std::string approx = call.attrs.string(op, "approx", "simple");
  if (approx != "simple" && approx != "none")
    fail(ErrorKind::Range, op + ": approx must be 'simple' or 'none', received '" + approx + "'");
  p.simple = approx == "simple";
  p.capacity = capacityAttr(call);
  return p;
}

void runCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const Plan p = plan(call);
  const PackedMasks& m = p.masks;
  std::vector<std::vector<int32_t>> per(static_cast<size_t>(m.n));
  forEachMask(ctx, m.n, [&](int64_t i) {
    const MaskView v = m.view(call, i);
    std::vector<int32_t>& o = per[size_t(i)];
    if (v.H == 0 || v.W == 0) {
      o.assign(1, 0);  // no contours
      return;
    }
    traceMaskContours(v.rows, v.H, v.W, v.words32, p.mode, p.simple, o);
    if (v.x0 == 0 && v.y0 == 0) return;
    // A window's points, moved to the image: the tracing is translation-invariant (each mask is traced in its box
    // with a zero border), so this is what tracing the whole mask gives.
    size_t at = 1;
    for (int32_t c = 0; c < o[0]; ++c) {
      const int32_t points = o[at + 1];
      at += 2;
      for (int32_t k = 0; k < points; ++k, at += 2) {
        o[at] += int32_t(v.x0);
        o[at + 1] += int32_t(v.y0);
      }
    }
  });
  writeMaskResults(call, per, p.capacity, out, out[1].data<int32_t>(), "contours");
}

OpRegistrar reg(OpDef{"maskContours", 1, 1,
                      [](const OpCall& call) {
                        const Plan p = plan(call);
                        return std::vector<TensorSpec>{{DType::I32, {p.masks.n + 1}}, {DType::I32, {p.capacity}}};
                      },
                      runCpu, nullptr});

}  // namespace
}  // namespace sotr
