// Portable microkernel, packing and macro-kernel of the CPU GEMM: the
// fallback path on x86-64 and the only one on targets other than x86-64 and
// AArch64 (AArch64 has its NEON kernel, gemm_kernel_neon.cpp, at this level,
// unless built with -DSOTR_GEMM_NO_NEON).
// Compiled with the baseline flags; 4-lane GCC/Clang vectors map to SSE2.
#include "gemm/gemm_cpu.h"

#if !defined(__aarch64__) || defined(SOTR_GEMM_NO_NEON)

namespace sotr {
namespace gemm_detail {
namespace {

// 4 x 8 microtile: 32 accumulators in 8 four-lane registers.
constexpr int MR = 4;
constexpr int NR = 8;
constexpr int KC = 256;
constexpr int NC = 512;

// Portable 4-lane vector (GCC/Clang vector extension: SSE on x86-64, the
// target's vectors or plain scalar code elsewhere).
typedef float v4 __attribute__((vector_size(16)));

inline v4 load4(const float* p) {
  v4 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}

// C tile (mr x nr) (+)= sum_k A[r*rsA + k*csA] * B[k*ldbk + j], then the
// epilogue. Edge tiles only read and write rows < mr and columns < nr.
template <bool FULL>
void microKernel(int64_t kc, const float* __restrict A, int64_t rsA, int64_t csA,
                 const float* __restrict B, int64_t ldbk, float* C, int64_t ldc, int mr, int nr,
                 bool accumulate, const EpiCtx* ep, int64_t row, int64_t col) {
  static_assert(NR == 8, "two v4 per row");
  v4 acc[MR][2] = {};
  const int rows = FULL ? MR : mr, cols = FULL ? NR : nr;
  for (int64_t k = 0; k < kc; ++k) {
    v4 b0, b1;
    if (FULL) {
      b0 = load4(B), b1 = load4(B + 4);
    } else {
      float t[NR];
      for (int j = 0; j < NR; ++j) t[j] = j < cols ? B[j] : 0.f;
      b0 = load4(t), b1 = load4(t + 4);
    }
    for (int r = 0; r < MR; ++r) {
      const float s = (FULL || r < rows) ? A[r * rsA] : 0.f;
      const v4 a = {s, s, s, s};
      acc[r][0] += a * b0;
      acc[r][1] += a * b1;
    }
    A += csA;
    B += ldbk;
  }
  float c[MR][NR];
  __builtin_memcpy(c, acc, sizeof c);
  for (int r = 0; r < rows; ++r) {
    float* cr = C + r * ldc;
    for (int j = 0; j < cols; ++j) {
      float v = c[r][j];
      if (accumulate) v += cr[j];
      if (ep) {
        // Same order as applyEpilogueScalar (the residual pointer is already
        // offset to this batch item).
        const int64_t ch = ep->axis == 0 ? row + r : col + j;
        if (ep->bias) v += ep->bias[ch];
        if (ep->scale) v *= ep->scale[ch];
        if (ep->shift) v += ep->shift[ch];
        v *= ep->alpha;
        if (ep->res) v += ep->beta * ep->res[(row + r) * ep->ldr + col + j];
        switch (static_cast<Activation>(ep->act)) {
          case Activation::Relu: v = v < 0.f ? 0.f : v; break;
          case Activation::LeakyRelu: v = v > 0.f ? v : v * ep->slope; break;
          case Activation::Sigmoid: v = 1.f / (1.f + __builtin_expf(-v)); break;
          default: break;
        }
      }
      cr[j] = v;
    }
  }
}

void macro(const MacroArgs& m) {
  for (int64_t i = 0; i < m.mcount; i += MR) {
    const int mr = static_cast<int>(m.mcount - i < MR ? m.mcount - i : MR);
    // Packed panel: a(r,k) at r + k*MR; in place: op(A) element (i+r, k).
    const float* Ai = m.aPacked ? m.A + i * m.kc : m.transA ? m.A + i : m.A + i * m.lda;
    const int64_t rsA = m.aPacked ? 1 : m.transA ? 1 : m.lda;
    const int64_t csA = m.aPacked ? MR : m.transA ? m.lda : 1;
    for (int64_t j = 0; j < m.ncount; j += NR) {
      const float* Bj = m.bPacked ? m.B + j * m.kc : m.B + j;
      const int64_t ldbk = m.bPacked ? NR : m.ldb;
      const int nr = static_cast<int>(m.ncount - j < NR ? m.ncount - j : NR);
      float* C = m.C + i * m.ldc + j;
      if (mr == MR && nr == NR)
        microKernel<true>(m.kc, Ai, rsA, csA, Bj, ldbk, C, m.ldc, mr, nr, m.accumulate, m.ep, m.row0 + i, m.col0 + j);
      else
        microKernel<false>(m.kc, Ai, rsA, csA, Bj, ldbk, C, m.ldc, mr, nr, m.accumulate, m.ep, m.row0 + i, m.col0 + j);
    }
  }
}

void packA(const float* A, int64_t lda, bool transA, int64_t m0, int64_t mcount, int64_t k0,
           int64_t kc, float* dst) {
  for (int64_t p = 0; p < mcount; p += MR, dst += MR * kc) {
    const int rows = static_cast<int>(mcount - p < MR ? mcount - p : MR);
    for (int64_t kk = 0; kk < kc; ++kk)
      for (int r = 0; r < MR; ++r) {
        const int64_t m = m0 + p + r, k = k0 + kk;
        dst[kk * MR + r] = r < rows ? (transA ? A[k * lda + m] : A[m * lda + k]) : 0.f;
      }
  }
}

void packB(const float* B, int64_t ldb, bool transB, int64_t k0, int64_t kc, int64_t n0,
           int64_t ncount, float* dst) {
  for (int64_t q = 0; q < ncount; q += NR, dst += NR * kc) {
    const int cols = static_cast<int>(ncount - q < NR ? ncount - q : NR);
    for (int64_t kk = 0; kk < kc; ++kk)
      for (int j = 0; j < NR; ++j) {
        const int64_t n = n0 + q + j, k = k0 + kk;
        dst[kk * NR + j] = j < cols ? (transB ? B[n * ldb + k] : B[k * ldb + n]) : 0.f;
      }
  }
}

const KernelSet kSet = {SimdLevel::Scalar, MR, NR, KC, NC, Precision::FP32, 0, packA, packB, macro};

}  // namespace

const KernelSet* kernelsScalar() { return &kSet; }

}  // namespace gemm_detail
}  // namespace sotr

#endif  // !__aarch64__ || SOTR_GEMM_NO_NEON
