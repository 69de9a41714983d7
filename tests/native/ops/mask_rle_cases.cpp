// maskRle cases (CPU only): the op against a direct transcription of COCO's
// rleEncode (a pixel at a time, column-major) and rleToString, on awkward
// sizes (one row or column, 63/64/65 around the 64-bit words and 64-row
// blocks, a width that fills its last word), on noise, a disc, stripes,
// empty and full masks; the capacity below the total (nothing written,
// offsets[n] tells the size) and exactly the total.
#include <cstring>
#include <string>
#include <vector>

#include "../op_test.h"

using namespace sotr;
using namespace sotr_test;

namespace {

enum class Pattern { Noise, Disc, Stripes, Empty, Full, Mixed };

struct Spec {
  int64_t n, H, W;
  Pattern pattern;
  bool shortCapacity = false;  // capacity 1 byte below the total
  bool timed = false;
};

int64_t words32(int64_t W) { return 2 * ((W + 63) / 64); }

bool bit(const int32_t* m, int64_t W, int64_t x, int64_t y) {
  return (static_cast<uint32_t>(m[y * words32(W) + x / 32]) >> (x % 32)) & 1u;
}

// rleEncode + rleToString, a pixel at a time.
std::string reference(const int32_t* m, int64_t H, int64_t W) {
  std::vector<int64_t> counts;
  int cur = 0;
  int64_t len = 0;
  for (int64_t x = 0; x < W; ++x)
    for (int64_t y = 0; y < H; ++y) {
      const int v = bit(m, W, x, y);
      if (v != cur) {
        counts.push_back(len);
        len = 0;
        cur = v;
      }
      ++len;
    }
  counts.push_back(len);
  std::string s;
  for (size_t i = 0; i < counts.size(); ++i) {
    int64_t x = counts[i];
    if (i > 2) x -= counts[i - 2];
    bool more = true;
    while (more) {
      int64_t c = x & 0x1f;
      x >>= 5;
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      s.push_back(char(c + 48));
    }
  }
  return s;
}

// The strings of the reference, back to back, and their total.
std::string allReference(const Spec& s, const int32_t* masks, std::vector<int64_t>& offsets) {
  std::string all;
  offsets.assign(1, 0);
  for (int64_t i = 0; i < s.n; ++i) {
    all += reference(masks + i * s.H * words32(s.W), s.H, s.W);
    offsets.push_back(int64_t(all.size()));
  }
  return all;
}

std::string patternName(Pattern p) {
  switch (p) {
    case Pattern::Noise: return "noise";
    case Pattern::Disc: return "disc";
    case Pattern::Stripes: return "stripes";
    case Pattern::Empty: return "empty";
    case Pattern::Full: return "full";
    case Pattern::Mixed: return "mixed";
  }
  return "?";
}

OpCase rleCase(Spec s) {
  OpCase c;
  c.name = "maskRle n" + std::to_string(s.n) + " " + std::to_string(s.H) + "x" + std::to_string(s.W) + " " +
           patternName(s.pattern) + (s.shortCapacity ? " capacity short" : "");
  c.make = [s](Rng& rng) {
    OpCall call;
    call.op = "maskRle";
    Tensor m = cpuTensor(DType::I32, {s.n, s.H, words32(s.W)});
    std::memset(m.data<int32_t>(), 0, size_t(m.numel()) * 4);
    for (int64_t i = 0; i < s.n; ++i) {
      int32_t* rows = m.data<int32_t>() + i * s.H * words32(s.W);
      const Pattern p = s.pattern == Pattern::Mixed ? Pattern(i % 5) : s.pattern;
      const double cx = rng.uniform(0.f, float(s.W)), cy = rng.uniform(0.f, float(s.H));
      const double r = rng.uniform(0.1f, 0.6f) * double(std::max(s.H, s.W));
      for (int64_t y = 0; y < s.H; ++y)
        for (int64_t x = 0; x < s.W; ++x) {
          bool v = false;
          switch (p) {
            case Pattern::Noise: v = rng.integer(0, 1) == 1; break;
            case Pattern::Disc: v = (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r; break;
            case Pattern::Stripes: v = (x + 2 * y) % 7 < 3; break;
            case Pattern::Empty: v = false; break;
            case Pattern::Full: v = true; break;
            case Pattern::Mixed: break;
          }
          if (v) rows[y * words32(s.W) + x / 32] |= int32_t(1u << (x % 32));
        }
    }
    std::vector<int64_t> offsets;
    const std::string all = allReference(s, m.data<int32_t>(), offsets);
    call.inputs = {m};
    call.attrs.setNumber("width", double(s.W));
    call.attrs.setNumber("capacity", double(s.shortCapacity ? int64_t(all.size()) - 1 : int64_t(all.size())));
    return call;
  };
  hostOpCheck(c, s.timed, [s](const OpCall& call, const std::vector<Tensor>& out) {
    std::vector<int64_t> offsets;
    const std::string all = allReference(s, call.inputs[0].data<int32_t>(), offsets);
    if (out[0].shape != Shape{s.n + 1}) return double(INFINITY);
    for (int64_t i = 0; i <= s.n; ++i)
      if (out[0].data<int32_t>()[i] != offsets[i]) return double(INFINITY);
    if (s.shortCapacity) return 0.0;  // nothing promised in the chars but their size
    if (out[1].shape != Shape{int64_t(all.size())}) return double(INFINITY);
    return std::memcmp(out[1].data<uint8_t>(), all.data(), all.size()) == 0 ? 0.0 : double(INFINITY);
  });
  return c;
}

// n, H, W, pattern
OP_TEST_CASE(rleCase({1, 1, 1, Pattern::Full}));
OP_TEST_CASE(rleCase({1, 1, 1, Pattern::Empty}));
OP_TEST_CASE(rleCase({3, 1, 70, Pattern::Noise}));
OP_TEST_CASE(rleCase({3, 70, 1, Pattern::Noise}));
OP_TEST_CASE(rleCase({5, 63, 65, Pattern::Mixed}));
OP_TEST_CASE(rleCase({5, 64, 64, Pattern::Mixed}));
OP_TEST_CASE(rleCase({5, 65, 63, Pattern::Mixed}));
OP_TEST_CASE(rleCase({4, 129, 128, Pattern::Disc}));
OP_TEST_CASE(rleCase({4, 200, 333, Pattern::Stripes}));
OP_TEST_CASE(rleCase({7, 97, 191, Pattern::Mixed}));
OP_TEST_CASE(rleCase({3, 50, 77, Pattern::Noise, true}));  // capacity short: the total only
OP_TEST_CASE(rleCase({0, 10, 10, Pattern::Empty}));        // no masks
OP_TEST_CASE(rleCase({100, 480, 640, Pattern::Disc, false, true}));  // a COCO-sized image's 100 instances

}  // namespace
