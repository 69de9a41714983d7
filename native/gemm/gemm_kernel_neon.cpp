// AArch64 NEON microkernel, packing and macro-kernel of the CPU GEMM: the
// portable level (SimdLevel::Scalar, kernelsScalar()) on AArch64 (Linux arm64,
// Apple Silicon). NEON is part of the AArch64 baseline, so there is no run-time
// dispatch and no extra compile flag; on every other target this file compiles
// to nothing and gemm_kernel_scalar.cpp provides kernelsScalar().
// Building with -DSOTR_GEMM_NO_NEON brings the old 4 x 8 kernel of
// gemm_kernel_scalar.cpp back on AArch64 (an A/B switch for real hardware).
// Compiled without FMA contraction like all portable code off x86-64
// (CMakeLists.txt): the k-loop FMAs are explicit intrinsics, and the epilogue's
// separate multiplies and adds then round exactly like applyEpilogueScalar.
#include "gemm/gemm_cpu.h"

#if defined(__aarch64__) && !defined(SOTR_GEMM_NO_NEON)
#include <arm_neon.h>

namespace sotr {
namespace gemm_detail {
namespace {

// 8 x 12 microtile (the BLIS / OpenBLAS NEON sgemm shape): 24 accumulators +
// 3 B vectors + 2 A vectors = 29 of the 32 128-bit registers. Per k: 5 vector
// loads (2 of A, 3 of B) and 24 FMAs by lane (vfmaq_laneq_f32, A's element
// picked from the register, no broadcast instruction). The old 4 x 8 tile did
// 4 broadcasts + 2 B loads for 8 FMAs.
constexpr int MR = 8;
constexpr int NVMAX = 3;        // q vectors per row of a full tile
constexpr int NR = 4 * NVMAX;   // 12
constexpr int KC = 256;         // A micro-panel 8*256*4 = 8 KiB, B micro-panel 12 KiB: both in a 32 KiB L1
constexpr int NC = 384;         // a multiple of NR; B block 256*384*4 = 384 KiB (L2)
// As in the AVX2 kernel (same bytes per flop): the macro-kernel walks blocks
// of MCB rows and, inside a block, column tile by column tile, so the B
// micro-panel stays in L1 while the block's A panels (MCB*kc*4 = 96 KiB)
// come from L2.
constexpr int MCB = 96;

// The first n (< 4) floats at p, zeros above; nothing past p[n-1] is read.
// Lane by lane, not through a stack copy: GCC turns such a copy into a
// memcpy call, and a call with accumulators live (no q register survives
// one) made it keep half of them on the stack through the k loop.
inline float32x4_t loadN(const float* p, int n) {
  float32x4_t v = vdupq_n_f32(0.f);
  if (n > 0) v = vld1q_lane_f32(p, v, 0);
  if (n > 1) v = vld1q_lane_f32(p + 1, v, 1);
  if (n > 2) v = vld1q_lane_f32(p + 2, v, 2);
  return v;
}
inline float32x4_t loadUpTo4(const float* p, int n) { return n >= 4 ? vld1q_f32(p) : loadN(p, n); }
inline void storeUpTo4(float* p, float32x4_t v, int n) {
  if (n >= 4) {
    vst1q_f32(p, v);
    return;
  }
  if (n > 0) vst1q_lane_f32(p, v, 0);
  if (n > 1) vst1q_lane_f32(p + 1, v, 1);
  if (n > 2) vst1q_lane_f32(p + 2, v, 2);
}

// 4 x 4 transpose: r[i] lane j -> r[j] lane i.
inline void transpose4(float32x4_t r[4]) {
  const float32x4_t t0 = vtrn1q_f32(r[0], r[1]), t1 = vtrn2q_f32(r[0], r[1]);
  const float32x4_t t2 = vtrn1q_f32(r[2], r[3]), t3 = vtrn2q_f32(r[2], r[3]);
  r[0] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
  r[1] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
  r[2] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
  r[3] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
}

// dst[k*dstStride + i] = src[i*ld + k] for i < 4, k < kc (rows >= `rows` give
// zeros). Used by both packers: 4 rows of A (non-transposed), 4 rows of B^T.
inline void transposeRows4(const float* src, int64_t ld, int rows, int64_t kc, float* dst, int64_t dstStride) {
  int64_t k = 0;
  if (rows == 4) {
    for (; k + 4 <= kc; k += 4) {
      float32x4_t r[4];
      for (int i = 0; i < 4; ++i) r[i] = vld1q_f32(src + i * ld + k);
      transpose4(r);
      for (int i = 0; i < 4; ++i) vst1q_f32(dst + (k + i) * dstStride, r[i]);
    }
  }
  for (; k < kc; ++k)
    for (int i = 0; i < 4; ++i) dst[k * dstStride + i] = i < rows ? src[i * ld + k] : 0.f;
}

inline float32x4_t chan(const float* p, int axis, int64_t row, int64_t col, int n) {
  return axis == 0 ? vdupq_n_f32(p[row]) : loadUpTo4(p + col, n);
}

// Epilogue on one vector of C at (row, col..col+n); lanes >= n are not read
// from the channel / residual arrays. Same order as applyEpilogueScalar,
// separate multiply and add, so a given accumulator rounds identically.
inline float32x4_t applyEpi(float32x4_t v, const EpiCtx& e, int64_t row, int64_t col, int n) {
  if (e.bias) v = vaddq_f32(v, chan(e.bias, e.axis, row, col, n));
  if (e.scale) v = vmulq_f32(v, chan(e.scale, e.axis, row, col, n));
  if (e.shift) v = vaddq_f32(v, chan(e.shift, e.axis, row, col, n));
  if (e.alpha != 1.f) v = vmulq_f32(v, vdupq_n_f32(e.alpha));
  if (e.res) v = vaddq_f32(v, vmulq_f32(vdupq_n_f32(e.beta), loadUpTo4(e.res + row * e.ldr + col, n)));
  // Compare and select: exactly "v < 0 ? 0 : v" (NaN and -0 pass, as torch.relu) / "v > 0 ? v : v * slope".
  if (e.act == static_cast<int>(Activation::Relu)) {
    v = vbslq_f32(vcltq_f32(v, vdupq_n_f32(0.f)), vdupq_n_f32(0.f), v);
  } else if (e.act == static_cast<int>(Activation::LeakyRelu)) {
    v = vbslq_f32(vcgtq_f32(v, vdupq_n_f32(0.f)), v, vmulq_f32(v, vdupq_n_f32(e.slope)));
  }
  return v;
}

inline void sigmoidInPlace(float* p, int n) {
  for (int i = 0; i < n; ++i) p[i] = 1.f / (1.f + __builtin_expf(-p[i]));
}

// One row of accumulators += b * a[L]. The lane is a template argument: Clang
// (Apple Silicon) wants it as a constant expression, not an unrolled index.
template <int NV, int L>
inline void rowFma(float32x4_t* c, const float32x4_t* b, float32x4_t a) {
#pragma GCC unroll 4
  for (int j = 0; j < NV; ++j) c[j] = vfmaq_laneq_f32(c[j], b[j], a, L);
}

// C tile (mr x nr; mr <= MRT, nr <= 4*NV) (+)= sum_k a(r, k) * B[k*ldbk + j],
// then the epilogue. MRT = 4 serves partial row panels of up to 4 rows.
// AROWS: a(r, k) = A[r*as + k] (row-major A read in place; MRT = MR only).
// else:  a(r, k) = A[k*as + r] (packed panel with as = MR, or A^T in place).
// BPART: B is read in place and nr is not a multiple of 4: the last vector of
// each B row is loaded lane by lane (never past column nr). Packed B is
// zero-padded to NR, so its edge tiles load whole vectors.
// Edge tiles compute all MRT x 4*NV lanes and store only rows < mr, columns < nr.
// noinline: like the x86 kernels (inlined into the macro-kernel, GCC spilled
// accumulators of the narrow tiles there).
template <int MRT, int NV, bool AROWS, bool BPART>
__attribute__((noinline)) void microKernel(int64_t kc, const float* __restrict A, int64_t as,
                                           const float* __restrict B, int64_t ldbk, float* C, int64_t ldc,
                                           int mr, int nr, bool accumulate, const EpiCtx* ep, int64_t row,
                                           int64_t col) {
  static_assert(MRT == 4 || MRT == 8, "one or two A vectors per k");
  static_assert(!AROWS || MRT == MR, "in-place row-major A: full panels only");
  float32x4_t c[MRT][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MRT; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) c[r][j] = vdupq_n_f32(0.f);
  const int lastN = nr - 4 * (NV - 1);  // columns in the last vector (1..4)

  if constexpr (AROWS) {
    // Rows are `as` apart: one scalar load per row and k, used by element
    // (fmla v, v, s[0]). Per k: 3 B loads + 8 scalar loads for 24 FMAs.
    const float* p[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) p[r] = A + r * as;
    for (int64_t k = 0; k < kc; ++k) {
      float32x4_t b[NV];
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) b[j] = BPART && j == NV - 1 ? loadN(B + 4 * j, lastN) : vld1q_f32(B + 4 * j);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        // Without this barrier GCC 12 hoisted all 8 A loads to the top of the
        // body: 24 + 3 + 8 registers, 3 accumulators spilled for NV = 3.
        if (r == 4) __asm__ volatile("" ::: "memory");
        const float a = p[r][k];
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) c[r][j] = vfmaq_n_f32(c[r][j], b[j], a);
      }
      B += ldbk;
    }
  } else {
    for (int64_t k = 0; k < kc; ++k) {
      float32x4_t b[NV];
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) b[j] = BPART && j == NV - 1 ? loadN(B + 4 * j, lastN) : vld1q_f32(B + 4 * j);
      const float32x4_t a0 = vld1q_f32(A);
      rowFma<NV, 0>(c[0], b, a0);
      rowFma<NV, 1>(c[1], b, a0);
      rowFma<NV, 2>(c[2], b, a0);
      rowFma<NV, 3>(c[3], b, a0);
      if constexpr (MRT == 8) {
        const float32x4_t a1 = vld1q_f32(A + 4);
        rowFma<NV, 0>(c[4], b, a1);
        rowFma<NV, 1>(c[5], b, a1);
        rowFma<NV, 2>(c[6], b, a1);
        rowFma<NV, 3>(c[7], b, a1);
      }
      A += as;
      B += ldbk;
    }
  }

#pragma GCC unroll 8
  for (int r = 0; r < MRT; ++r) {
    if (r >= mr) break;
    float* cr = C + r * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      const int n = nr - 4 * j;  // columns left from this vector on
      if (n <= 0) break;
      float32x4_t v = c[r][j];
      if (accumulate) v = vaddq_f32(v, loadUpTo4(cr + 4 * j, n));
      if (ep) v = applyEpi(v, *ep, row + r, col + 4 * j, n);
      storeUpTo4(cr + 4 * j, v, n);
    }
  }
  // After all rows are stored: no call (expf) while accumulators are live.
  if (ep && ep->act == static_cast<int>(Activation::Sigmoid))
    for (int r = 0; r < mr && r < MRT; ++r) sigmoidInPlace(C + r * ldc, nr);
}

// Runs one tile (mr rows, nr <= 4*NV columns) through the right instantiation.
template <int NV>
inline void tile(bool rows, bool bPacked, int64_t kc, const float* A, int64_t as, const float* B, int64_t ldbk,
                 float* C, int64_t ldc, int mr, int nr, bool accumulate, const EpiCtx* ep, int64_t row,
                 int64_t col) {
  const bool bpart = !bPacked && nr < 4 * NV;
  if (rows) {  // full panel of row-major A in place
    if (bpart) microKernel<MR, NV, true, true>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
    else microKernel<MR, NV, true, false>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
  } else if (mr > 4) {
    if (bpart) microKernel<MR, NV, false, true>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
    else microKernel<MR, NV, false, false>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
  } else {  // up to 4 rows left: half the FMAs (the A panel is padded to MR rows)
    if (bpart) microKernel<4, NV, false, true>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
    else microKernel<4, NV, false, false>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
  }
}

void packA(const float* A, int64_t lda, bool transA, int64_t m0, int64_t mcount, int64_t k0,
           int64_t kc, float* dst) {
  for (int64_t p = 0; p < mcount; p += MR, dst += MR * kc) {
    const int rows = static_cast<int>(mcount - p < MR ? mcount - p : MR);
    if (transA) {
      // A stored K x M: each k gives MR contiguous values.
      const float* src = A + k0 * lda + (m0 + p);
      if (rows == MR) {
        for (int64_t kk = 0; kk < kc; ++kk) {
          vst1q_f32(dst + kk * MR, vld1q_f32(src + kk * lda));
          vst1q_f32(dst + kk * MR + 4, vld1q_f32(src + kk * lda + 4));
        }
      } else {
        for (int64_t kk = 0; kk < kc; ++kk)
          for (int r = 0; r < MR; ++r) dst[kk * MR + r] = r < rows ? src[kk * lda + r] : 0.f;
      }
    } else {
      // Row-major A: transpose 4 rows at a time.
      const float* src = A + (m0 + p) * lda + k0;
      for (int h = 0; h < MR; h += 4) {
        const int rh = rows - h < 0 ? 0 : rows - h > 4 ? 4 : rows - h;
        transposeRows4(src + h * lda, lda, rh, kc, dst + h, MR);
      }
    }
  }
}

void packB(const float* B, int64_t ldb, bool transB, int64_t k0, int64_t kc, int64_t n0,
           int64_t ncount, float* dst) {
  for (int64_t q = 0; q < ncount; q += NR, dst += NR * kc) {
    const int cols = static_cast<int>(ncount - q < NR ? ncount - q : NR);
    if (!transB) {
      const float* src = B + k0 * ldb + (n0 + q);
      if (cols == NR) {
        for (int64_t kk = 0; kk < kc; ++kk)
#pragma GCC unroll 4
          for (int j = 0; j < NVMAX; ++j) vst1q_f32(dst + kk * NR + 4 * j, vld1q_f32(src + kk * ldb + 4 * j));
      } else {
        for (int64_t kk = 0; kk < kc; ++kk)
          for (int j = 0; j < NR; ++j) dst[kk * NR + j] = j < cols ? src[kk * ldb + j] : 0.f;
      }
    } else {
      // B stored N x K: column n of op(B) is row n of B; transpose 4 at a time.
      for (int j = 0; j < NR; j += 4) {
        const int c = cols - j < 0 ? 0 : cols - j > 4 ? 4 : cols - j;
        transposeRows4(B + (n0 + q + j) * ldb + k0, ldb, c, kc, dst + j, NR);
      }
    }
  }
}

// C (+)= A * B over one K block: blocks of MCB rows; in a block, each column
// tile (its B micro-panel then stays in L1) against every row panel (A from L2).
// N remainders use 8- and 4-wide tiles (2 or 1 vectors per row) instead of
// the 12-wide one, so a remainder that is a multiple of 4 costs no wasted FMA
// lanes (conv column blocks are multiples of 32 = 12 + 12 + 8).
void macro(const MacroArgs& m) {
  alignas(64) float edge[MR * KC];  // packed copy of a partial panel of in-place A
  const int64_t kc = m.kc;
  packEdgePanel(m, MR, kc, edge, packA);
  const int64_t ldbk = m.bPacked ? NR : m.ldb;
  for (int64_t ib = 0; ib < m.mcount; ib += MCB) {
    const int64_t ie = m.mcount - ib < MCB ? m.mcount : ib + MCB;
    for (int64_t j = 0; j < m.ncount; j += NR) {
      const float* Bj = m.bPacked ? m.B + j * kc : m.B + j;
      const int nr = static_cast<int>(m.ncount - j < NR ? m.ncount - j : NR);
      for (int64_t i = ib; i < ie; i += MR) {
        const int mr = static_cast<int>(m.mcount - i < MR ? m.mcount - i : MR);
        const APanel a = aPanel(m, i, mr, MR, kc, edge);
        float* C = m.C + i * m.ldc + j;
        const int64_t r0 = m.row0 + i, c0 = m.col0 + j;
        if (nr > 8) tile<3>(a.rows, m.bPacked, kc, a.a, a.stride, Bj, ldbk, C, m.ldc, mr, nr, m.accumulate, m.ep, r0, c0);
        else if (nr > 4) tile<2>(a.rows, m.bPacked, kc, a.a, a.stride, Bj, ldbk, C, m.ldc, mr, nr, m.accumulate, m.ep, r0, c0);
        else tile<1>(a.rows, m.bPacked, kc, a.a, a.stride, Bj, ldbk, C, m.ldc, mr, nr, m.accumulate, m.ep, r0, c0);
      }
    }
  }
}

const KernelSet kSet = {SimdLevel::Scalar, MR, NR, KC, NC, Precision::FP32, 0, packA, packB, macro};

}  // namespace

const KernelSet* kernelsScalar() { return &kSet; }

}  // namespace gemm_detail
}  // namespace sotr

#endif  // __aarch64__ && !SOTR_GEMM_NO_NEON
