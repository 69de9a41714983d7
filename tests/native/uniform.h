// Uniform random floats for the native tests: 24 random bits scaled into [lo, hi). Not
// std::uniform_real_distribution: libstdc++'s generate_canonical takes long double logarithms that Clang does not
// fold, and on AArch64 long double is software quad precision, so under qemu a Clang build spent minutes making
// inputs (one op's run of the op test: 3 min 22 s, 4 s with this).
#pragma once
#include <cstdint>
#include <limits>

template <class Gen>
inline float uniformFloat(Gen& gen, float lo = -1.f, float hi = 1.f) {
  constexpr int kBits = std::numeric_limits<typename Gen::result_type>::digits;
  static_assert(kBits >= 24, "a generator of at least 24 bits");
  const float u = static_cast<float>(static_cast<uint64_t>(gen()) >> (kBits - 24)) * 0x1p-24f;  // [0, 1)
  const float v = lo + (hi - lo) * u;
  return v < hi ? v : lo;  // rounding can reach hi; the range is half-open
}
