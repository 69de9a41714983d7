#include "ops/bitmask.h"

#include <cstring>
#include <limits>

#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

namespace sotr {
namespace bitmask {

namespace {

// Portable 64-bit popcount (the baseline build may not use the instruction).
inline int64_t popcountSwar(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  return static_cast<int64_t>((x * 0x0101010101010101ull) >> 56);
}

inline int ctz64(uint64_t x) { return __builtin_ctzll(x); }
inline int clz64(uint64_t x) { return __builtin_clzll(x); }

#if defined(__x86_64__)
__attribute__((target("popcnt"))) int64_t rectAndCountPopcnt(const uint64_t* a, const uint64_t* b, int64_t wpr,
                                                             int64_t y0, int64_t y1, int64_t w0, int64_t w1) {
  int64_t s0 = 0, s1 = 0;
  if (w0 == 0 && w1 == wpr) {  // whole rows: one contiguous span
    const uint64_t* pa = a + y0 * wpr;
    const uint64_t* pb = b + y0 * wpr;
    const int64_t n = (y1 - y0) * wpr;
    int64_t i = 0;
    for (; i + 1 < n; i += 2) {
      s0 += __builtin_popcountll(pa[i] & pb[i]);
      s1 += __builtin_popcountll(pa[i + 1] & pb[i + 1]);
    }
    if (i < n) s0 += __builtin_popcountll(pa[i] & pb[i]);
    return s0 + s1;
  }
  for (int64_t y = y0; y < y1; ++y) {
    const uint64_t* pa = a + y * wpr;
    const uint64_t* pb = b + y * wpr;
    for (int64_t w = w0; w < w1; ++w) s0 += __builtin_popcountll(pa[w] & pb[w]);
  }
  return s0;
}
bool hasPopcnt() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("popcnt");
}
#endif

}  // namespace

namespace detail {
int64_t rectAndCountPortable(const uint64_t* a, const uint64_t* b, int64_t wpr, int64_t y0, int64_t y1, int64_t w0,
                             int64_t w1) {
  int64_t s = 0;
  for (int64_t y = y0; y < y1; ++y) {
    const uint64_t* pa = a + y * wpr;
    const uint64_t* pb = b + y * wpr;
    for (int64_t w = w0; w < w1; ++w) s += popcountSwar(pa[w] & pb[w]);
  }
  return s;
}
}  // namespace detail

RectAndCountFn rectAndCountKernel() {
  if (activeSimdLevel() == SimdLevel::AVX512 && cpuFeatures().avx512vpopcntdq) {
    if (RectAndCountFn f = detail::rectAndCountAvx512()) return f;
  }
#if defined(__x86_64__)
  static const bool popcnt = hasPopcnt();
  if (popcnt) return rectAndCountPopcnt;
#endif
  return detail::rectAndCountPortable;
}

const char* rectAndCountName() {
  RectAndCountFn f = rectAndCountKernel();
  if (f == detail::rectAndCountPortable) return "portable popcount";
  if (f == detail::rectAndCountAvx512()) return "AVX-512 VPOPCNTDQ";
  return "64-bit popcnt";
}

float logitThreshold(float t) {
  if (!(t < 1.f)) return std::numeric_limits<float>::infinity();
  if (t < 0.f) return -std::numeric_limits<float>::infinity();
  // Order-preserving map of floats onto integers; binary search for the last
  // x with sigmoid32(x) <= t (sigmoid32 is monotone non-decreasing).
  auto key = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, 4);
    return i >= 0 ? static_cast<int64_t>(i) : -static_cast<int64_t>(i & 0x7fffffff);
  };
  auto fromKey = [](int64_t k) {
    int32_t i = k >= 0 ? static_cast<int32_t>(k) : static_cast<int32_t>((-k) | 0x80000000ll);
    float f;
    std::memcpy(&f, &i, 4);
    return f;
  };
  const float inf = std::numeric_limits<float>::infinity();
  int64_t lo = key(-inf), hi = key(inf);  // sigmoid32(-inf) = 0 <= t; sigmoid32(inf) = 1 > t
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (sigmoid32(fromKey(mid)) <= t) lo = mid;
    else hi = mid;
  }
  return fromKey(lo);
}

void pack(const uint8_t* src, const Geom& g, uint64_t* dst, ThreadPool* pool) {
  const int64_t rows = g.count * g.height;
  if (rows == 0) return;
  const SimdLevel level = activeSimdLevel();
  detail::PackRowFn fast = level == SimdLevel::AVX512 ? detail::packRowAvx512() : nullptr;
  if (!fast && level >= SimdLevel::AVX2) fast = detail::packRowAvx2();
  auto body = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* s = src + r * g.width;
      uint64_t* d = dst + r * g.wpr;
      if (fast) {
        fast(s, g.width, d, g.wpr);
        continue;
      }
      for (int64_t w = 0; w < g.wpr; ++w) {
        uint64_t word = 0;
        const int64_t x0 = w * 64, n = g.width - x0 < 64 ? g.width - x0 : 64;
        for (int64_t i = 0; i < n; ++i) word |= static_cast<uint64_t>(s[x0 + i] != 0) << i;
        d[w] = word;
      }
    }
  };
  if (pool) pool->parallelFor(rows, 64, body);
  else body(0, rows);
}

void stats(const uint64_t* bits, const Geom& g, int32_t* areas, int32_t* boxes, ThreadPool* pool) {
  RectAndCountFn count = rectAndCountKernel();
  auto body = [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      const uint64_t* p = bits + m * g.maskWords();
      int64_t ymin = -1, ymax = -1, xmin = g.width, xmax = -1;
      for (int64_t y = 0; y < g.height; ++y) {
        const uint64_t* row = p + y * g.wpr;
        int64_t first = -1, last = -1;
        for (int64_t w = 0; w < g.wpr; ++w)
          if (row[w]) {
            if (first < 0) first = w;
            last = w;
          }
        if (first < 0) continue;
        if (ymin < 0) ymin = y;
        ymax = y;
        const int64_t xa = first * 64 + ctz64(row[first]);
        const int64_t xb = last * 64 + 63 - clz64(row[last]);
        if (xa < xmin) xmin = xa;
        if (xb > xmax) xmax = xb;
      }
      int32_t* box = boxes + 4 * m;
      if (ymin < 0) {
        areas[m] = 0;
        box[0] = box[1] = box[2] = box[3] = 0;
        continue;
      }
      // Popcount of the mask with itself over its box.
      areas[m] = static_cast<int32_t>(count(p, p, g.wpr, ymin, ymax + 1, xmin / 64, xmax / 64 + 1));
      box[0] = static_cast<int32_t>(xmin);
      box[1] = static_cast<int32_t>(ymin);
      box[2] = static_cast<int32_t>(xmax + 1);
      box[3] = static_cast<int32_t>(ymax + 1);
    }
  };
  if (pool) pool->parallelFor(g.count, 4, body);
  else body(0, g.count);
}

}  // namespace bitmask
}  // namespace sotr
