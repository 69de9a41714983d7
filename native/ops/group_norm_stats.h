// One group's mean and biased variance, shared by the portable and the AVX-512
// groupNorm kernels: the group in chunks of kGroupStatsChunk floats (8 KiB,
// L1-resident); per chunk a shifted sum (x - x[0], so float lanes add numbers
// of the size of the spread, not of the mean) gives the chunk mean, then a
// second sweep over the chunk, now in L1, the centred sum of squares; chunks
// merge in double (Chan et al.'s pairwise update).
//
// The two sweeps are the caller's: pass lambdas. Their types are unique to the
// calling translation unit, so each kernel file gets its own instantiation and
// code compiled with AVX-512 flags can never stand in for the portable one.
// No std:: calls here for the same reason (see group_norm_avx512.cpp).
#pragma once
#include <cstdint>

namespace sotr {
namespace detail {

constexpr int64_t kGroupStatsChunk = 2048;

// sumShifted(p, n, c) = sum of (p[i] - c); sumSquares(p, n, c) = sum of (p[i] - c)^2; both over [0, n), in double.
template <class SumShifted, class SumSquares>
inline void chunkedGroupStats(const float* x, int64_t len, double* meanOut, double* varOut, SumShifted sumShifted,
                              SumSquares sumSquares) {
  if (len <= 0) {
    *meanOut = 0;
    *varOut = 0;
    return;
  }
  const float shift = x[0];
  double n = 0, mean = 0, m2 = 0;
  for (int64_t c0 = 0; c0 < len; c0 += kGroupStatsChunk) {
    const int64_t nc = len - c0 < kGroupStatsChunk ? len - c0 : kGroupStatsChunk;
    const float* p = x + c0;
    const double dnc = static_cast<double>(nc);
    const double mc = shift + sumShifted(p, nc, shift) / dnc;
    const float mcF = static_cast<float>(mc);
    const double off = mc - mcF;
    const double m2c = sumSquares(p, nc, mcF) - dnc * off * off;  // centred on mc, not mcF
    const double nn = n + dnc, delta = mc - mean;
    mean += delta * (dnc / nn);
    m2 += m2c + delta * delta * (n * dnc / nn);
    n = nn;
  }
  *meanOut = mean;
  *varOut = m2 > 0 ? m2 / n : 0;
}

}  // namespace detail
}  // namespace sotr
