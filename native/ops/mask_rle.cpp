// maskRle: see mask_rle.h.
#include "ops/mask_rle.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "ops/packed_masks.h"

namespace sotr {
namespace {

// In place: out[j] bit i = in[i] bit j (bit 0 = column 0 = row 0).
void transpose64(uint64_t a[64]) {
  uint64_t m = 0x00000000FFFFFFFFull;
  for (int j = 32; j != 0; j >>= 1, m ^= m << j) {
    for (int k = 0; k < 64; k = ((k | j) + 1) & ~j) {
      const uint64_t t = ((a[k] >> j) ^ a[k | j]) & m;
      a[k | j] ^= t;
      a[k] ^= t << j;
    }
  }
}

// maskApi.c rleToString: each count (from the third on, its difference to the
// count two before) in 5-bit groups, low first, 0x20 = more follow, 0x10 of
// the last group = sign, each group + 48. Writes through a raw pointer (a
// count takes at most 13 characters) rather than push_back per character.
class RleWriter {
 public:
  explicit RleWriter(std::string& s) : s_(s) { s_.resize(256); }
  void push(int64_t count) {
    if (size_ + 16 > s_.size()) s_.resize(2 * s_.size());
    char* p = &s_[size_];
    int64_t x = n_ > 2 ? count - prev2_ : count;
    prev2_ = prev1_;
    prev1_ = count;
    ++n_;
    bool more = true;
    while (more) {
      int64_t c = x & 0x1f;
      x >>= 5;  // arithmetic: x is signed
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      *p++ = static_cast<char>(c + 48);
    }
    size_ = static_cast<size_t>(p - s_.data());
  }
  void finish() { s_.resize(size_); }

 private:
  std::string& s_;
  size_t size_ = 0;
  int64_t prev2_ = 0, prev1_ = 0, n_ = 0;
};

// Word k of a row: int32 halves 2k (bits 0-31) and 2k + 1 (bits 32-63), one
// 64-bit load on a little-endian machine.
inline uint64_t loadWord(const int32_t* row, int64_t k) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint64_t v;
  std::memcpy(&v, row + 2 * k, 8);
  return v;
#else
  uint32_t lo, hi;
  std::memcpy(&lo, row + 2 * k, 4);
  std::memcpy(&hi, row + 2 * k + 1, 4);
  return static_cast<uint64_t>(lo) | static_cast<uint64_t>(hi) << 32;
#endif
}

thread_local std::vector<uint64_t> t_cols;

}  // namespace

void encodeMaskRle(const int32_t* rows, int64_t H, int64_t W, int64_t words32, std::string& out) {
  RleWriter w(out);
  const int64_t blocks = (H + 63) / 64, strips = (W + 63) / 64;
  // The mask column-major, 64 rows a word: cols[x * blocks + b] bit i = pixel (x, 64 b + i). Built a block of
  // 64 rows at a time (those rows stay in cache while each strip of 64 columns is transposed); an all-zero
  // 64 x 64 tile is not transposed.
  std::vector<uint64_t>& cols = t_cols;
  cols.resize(static_cast<size_t>(64 * strips * blocks));
  uint64_t tile[64];
  for (int64_t b = 0; b < blocks; ++b) {
    const int nrows = static_cast<int>(std::min<int64_t>(64, H - 64 * b));
    const int32_t* block = rows + 64 * b * words32;
    for (int64_t k = 0; k < strips; ++k) {
      uint64_t any = 0;
      for (int i = 0; i < nrows; ++i) any |= tile[i] = loadWord(block + i * words32, k);
      uint64_t* dst = cols.data() + 64 * k * blocks + b;
      if (any == 0) {
        for (int j = 0; j < 64; ++j) dst[j * blocks] = 0;
        continue;
      }
      for (int i = nrows; i < 64; ++i) tile[i] = 0;
      transpose64(tile);
      for (int j = 0; j < 64; ++j) dst[j * blocks] = tile[j];
    }
  }
  int cur = 0;      // the bit value of the run in progress
  int64_t len = 0;  // its length so far
  for (int64_t x = 0; x < W; ++x) {
    const uint64_t* col = cols.data() + x * blocks;
    for (int64_t b = 0; b < blocks; ++b) {
      const int nb = static_cast<int>(std::min<int64_t>(64, H - 64 * b));
      const uint64_t valid = nb == 64 ? ~0ull : (1ull << nb) - 1;
      const uint64_t v = col[b];
      // Bit p set: pixel p differs from the one before it (the run's value before pixel 0).
      uint64_t diff = (v ^ ((v << 1) | static_cast<uint64_t>(cur))) & valid;
      int last = 0;
      while (diff) {
        const int p = __builtin_ctzll(diff);
        w.push(len + (p - last));
        len = 0;
        last = p;
        cur ^= 1;
        diff &= diff - 1;
      }
      len += nb - last;
    }
  }
  w.push(len);
  w.finish();
  if (cols.size() > (size_t(1) << 22)) std::vector<uint64_t>().swap(cols);  // keep at most 32 MB a thread
}

namespace {

struct Plan {
  PackedMasks masks;
  int64_t capacity = 0;
};

Plan plan(const OpCall& call) { return {readPackedMasks(call), capacityAttr(call)}; }

void runCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const Plan p = plan(call);
  const PackedMasks& m = p.masks;
  std::vector<std::string> strings(static_cast<size_t>(m.n));
  forEachMask(ctx, m.n, [&](int64_t i) { encodeMaskRle(m.rows(call, i), m.H, m.W, m.words, strings[i]); });
  writeMaskResults(call, strings, p.capacity, out, reinterpret_cast<char*>(out[1].data<uint8_t>()), "strings");
}

OpRegistrar reg(OpDef{"maskRle", 1, 1,
                      [](const OpCall& call) {
                        const Plan p = plan(call);
                        return std::vector<TensorSpec>{{DType::I32, {p.masks.n + 1}}, {DType::U8, {p.capacity}}};
                      },
                      runCpu, nullptr});

}  // namespace
}  // namespace sotr
