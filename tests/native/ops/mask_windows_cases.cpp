// cropMasks / placeMasks cases (CPU only): random masks whose set bits lie in random windows (awkward widths around
// the 64-bit words, one row, one column, empty windows, windows reaching the last word and the last row, no masks),
// each window's bits read back a pixel at a time; placeMasks of the crop must give the masks again, zeros outside
// the windows included (the output is poisoned before the run).
#include <cstring>
#include <string>
#include <vector>

#include "../op_test.h"

using namespace sotr;
using namespace sotr_test;

namespace {

struct Spec {
  int64_t n, H, W;
  bool place = false;  // placeMasks (else cropMasks)
  bool timed = false;
};

int64_t words32(int64_t W) { return 2 * ((W + 63) / 64); }

bool bit(const int32_t* rows, int64_t stride32, int64_t x, int64_t y) {
  return (static_cast<uint32_t>(rows[y * stride32 + x / 32]) >> (x % 32)) & 1u;
}

struct Made {
  Tensor masks;                  // [n, H, words32(W)], set bits only inside the windows
  std::vector<double> windows;   // y, rows, word, words a mask
  std::vector<int64_t> starts;   // the windows' first int32 in the crop
};

Made makeMasks(const Spec& s, Rng& rng) {
  Made m;
  m.masks = cpuTensor(DType::I32, {s.n, s.H, words32(s.W)});
  std::memset(m.masks.data<int32_t>(), 0, size_t(m.masks.numel()) * 4);
  const int64_t words64 = words32(s.W) / 2;
  m.starts.assign(1, 0);
  for (int64_t i = 0; i < s.n; ++i) {
    int64_t y = rng.integer(0, s.H - 1), rows = rng.integer(0, s.H - y);
    int64_t word = rng.integer(0, words64 - 1), words = rng.integer(0, words64 - word);
    if (i % 7 == 3) rows = 0;                                          // empty
    if (i % 5 == 1) y = 0, rows = s.H, word = 0, words = words64;      // the whole mask
    if (i % 6 == 2) rows = s.H - y, words = words64 - word;            // to the last row and word
    if (rows == 0 || words == 0) y = rows = word = words = 0;
    int32_t* mask = m.masks.data<int32_t>() + i * s.H * words32(s.W);
    const int64_t xEnd = std::min(s.W, 64 * (word + words));
    for (int64_t yy = y; yy < y + rows; ++yy)
      for (int64_t x = 64 * word; x < xEnd; ++x)
        if (rng.integer(0, 2) == 0) mask[yy * words32(s.W) + x / 32] |= int32_t(1u << (x % 32));
    m.windows.insert(m.windows.end(), {double(y), double(rows), double(word), double(words)});
    m.starts.push_back(m.starts.back() + rows * 2 * words);
  }
  return m;
}

// The crop, a pixel at a time.
std::vector<int32_t> referenceCrop(const Spec& s, const int32_t* masks, const std::vector<double>& win) {
  std::vector<int32_t> out;
  for (int64_t i = 0; i < s.n; ++i) {
    const int64_t y = int64_t(win[4 * i]), rows = int64_t(win[4 * i + 1]), word = int64_t(win[4 * i + 2]),
                  words = int64_t(win[4 * i + 3]);
    const int32_t* mask = masks + i * s.H * words32(s.W);
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<int32_t> row(size_t(2 * words), 0);
      for (int64_t x = 0; x < 64 * words; ++x) {
        const int64_t gx = 64 * word + x;
        if (gx < s.W && bit(mask, words32(s.W), gx, y + r)) row[size_t(x / 32)] |= int32_t(1u << (x % 32));
      }
      out.insert(out.end(), row.begin(), row.end());
    }
  }
  return out;
}

OpCase windowsCase(Spec s) {
  OpCase c;
  c.name = std::string(s.place ? "placeMasks" : "cropMasks") + " n" + std::to_string(s.n) + " " + std::to_string(s.H) +
           "x" + std::to_string(s.W);
  c.make = [s](Rng& rng) {
    const Made m = makeMasks(s, rng);
    OpCall call;
    call.op = s.place ? "placeMasks" : "cropMasks";
    call.attrs.setNumbers("windows", m.windows);
    call.attrs.setNumber("width", double(s.W));
    if (s.place) {
      const std::vector<int32_t> crop = referenceCrop(s, m.masks.data<int32_t>(), m.windows);
      Tensor bits = cpuTensor(DType::I32, {int64_t(crop.size())});
      if (!crop.empty()) std::memcpy(bits.data<int32_t>(), crop.data(), crop.size() * 4);
      call.inputs = {bits};
      call.attrs.setNumber("height", double(s.H));
    } else {
      call.inputs = {m.masks};
    }
    return call;
  };
  hostOpCheck(c, s.timed, [s](const OpCall& call, const std::vector<Tensor>& out) {
    const std::vector<double> win = call.attrs.numbers(call.op, "windows", {});
    if (!s.place) {
      const std::vector<int32_t> ref = referenceCrop(s, call.inputs[0].data<int32_t>(), win);
      if (out[0].shape != Shape{int64_t(ref.size())}) return double(INFINITY);
      if (ref.empty()) return 0.0;
      return std::memcmp(out[0].data<int32_t>(), ref.data(), ref.size() * 4) == 0 ? 0.0 : double(INFINITY);
    }
    // placeMasks: every pixel of every mask is its window's bit, or zero outside the window.
    if (out[0].shape != Shape{s.n, s.H, words32(s.W)}) return double(INFINITY);
    const int32_t* crop = call.inputs[0].data<int32_t>();
    int64_t start = 0;
    for (int64_t i = 0; i < s.n; ++i) {
      const int64_t y = int64_t(win[4 * i]), rows = int64_t(win[4 * i + 1]), word = int64_t(win[4 * i + 2]),
                    words = int64_t(win[4 * i + 3]);
      const int32_t* mask = out[0].data<int32_t>() + i * s.H * words32(s.W);
      for (int64_t yy = 0; yy < s.H; ++yy)
        for (int64_t x = 0; x < 32 * words32(s.W); ++x) {  // the padding past the width too
          const bool inside = yy >= y && yy < y + rows && x >= 64 * word && x < 64 * (word + words);
          const bool want = inside && bit(crop + start, 2 * words, x - 64 * word, yy - y);
          if (bit(mask, words32(s.W), x, yy) != want) return double(INFINITY);
        }
      start += rows * 2 * words;
    }
    return 0.0;
  });
  return c;
}

// n, H, W, place
OP_TEST_CASE(windowsCase({1, 1, 1}));
OP_TEST_CASE(windowsCase({1, 1, 1, true}));
OP_TEST_CASE(windowsCase({9, 1, 70}));
OP_TEST_CASE(windowsCase({9, 70, 1, true}));
OP_TEST_CASE(windowsCase({13, 63, 65}));
OP_TEST_CASE(windowsCase({13, 65, 64, true}));
OP_TEST_CASE(windowsCase({11, 97, 191}));
OP_TEST_CASE(windowsCase({11, 97, 191, true}));
OP_TEST_CASE(windowsCase({7, 40, 300, true}));
OP_TEST_CASE(windowsCase({0, 10, 10}));
OP_TEST_CASE(windowsCase({0, 10, 10, true}));
OP_TEST_CASE(windowsCase({100, 480, 640, false, true}));  // a COCO-sized image's 100 instances
OP_TEST_CASE(windowsCase({100, 480, 640, true, true}));

}  // namespace
