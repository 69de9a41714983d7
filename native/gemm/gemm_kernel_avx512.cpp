// AVX-512 microkernel, packing and macro-kernel of the CPU GEMM.
// Compiled with: -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma (see
// CMakeLists-fragment.md). Only reached after cpu_features says the CPU has
// these; keep this file free of out-of-line std:: templates (an AVX-512 copy of
// a COMDAT function could be picked by the linker for baseline callers).
#include "gemm/gemm_cpu.h"

namespace sotr {
namespace simd_detail {
bool avx512VariantCompiled();
}
}  // namespace sotr

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && \
    defined(__AVX512VL__) && defined(__AVX512DQ__) && defined(__FMA__)
// GCC 12 reports -Wmaybe-uninitialized inside many AVX-512 intrinsics (their
// _mm512_undefined_* passthrough operand); it is a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#include "gemm/avx512_transpose.h"
#include "gemm/gemm_avx512_common.h"
#pragma GCC diagnostic pop

namespace sotr {
namespace gemm_detail {
namespace {

using namespace avx512_common;

// The tile (MR x NR = 12 x 32), the blocking (KC, NC) and kCPrefetch: gemm_avx512_common.h.

// Transposes `rows` (<= 16) rows of length kc (row i at src + i*ld) into
// dst[k*dstStride + i] for i < 16 (rows >= `rows` give zeros), storing the
// lanes in `lanes`. Used by both packers: rows of A (non-transposed) and rows
// of B^T (transposed B).
inline void transposeRows(const float* src, int64_t ld, int rows, int64_t kc, float* dst,
                          int64_t dstStride, __mmask16 lanes) {
  for (int64_t k = 0; k < kc; k += 16) {
    const int64_t rem = kc - k < 16 ? kc - k : 16;
    const __mmask16 km = maskN(rem);
    __m512 r[16];
    for (int i = 0; i < 16; ++i)
      r[i] = i < rows ? _mm512_maskz_loadu_ps(km, src + i * ld + k) : _mm512_setzero_ps();
    avx512::transpose16(r);
    for (int kk = 0; kk < rem; ++kk) _mm512_mask_storeu_ps(dst + (k + kk) * dstStride, lanes, r[kk]);
  }
}

// C tile (mr x nr; mr <= MRT, nr <= NV*T::L) (+)= sum_k a(r, k) * B[k*ldbk + j],
// then the epilogue. MRT < MR serves the last, partial row panel.
// AROWS: a(r, k) = A[r*as + k] (row-major A read in place; full tiles only).
// else:  a(r, k) = A[k*as + r] (packed panel with as = MR, or A^T in place).
// FULL = false handles edge tiles: masked B loads / C stores, rows < mr.
// noinline: inlined into the macro-kernel, GCC spilled accumulators of the
// narrow tiles inside the k loop (96 x 84 x 32, A^T: 65 -> 95 GFLOP/s).
template <class T, int NV, int MRT, bool AROWS, bool FULL>
__attribute__((noinline)) void microKernel(int64_t kc, const float* __restrict A, int64_t as, const float* __restrict B,
                 int64_t ldbk, float* C, int64_t ldc, int mr, int nr, bool accumulate,
                 const EpiCtx* ep, int64_t row, int64_t col) {
  using V = typename T::V;
  constexpr int L = T::L;
  V c[MRT][NV];
#pragma GCC unroll 12
  for (int r = 0; r < MRT; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) c[r][j] = T::zero();
  typename T::M bm[NV];
#pragma GCC unroll 4
  for (int j = 0; j < NV; ++j) bm[j] = FULL ? T::all() : T::mask(nr - L * j);
  // Start pulling the C tile in now: it is read (later K blocks) or at least
  // written at the end, and may be far out in L3/DRAM.
#pragma GCC unroll 12
  for (int r = 0; r < MRT; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc), kCPrefetch);
    if (NV * L > 16) _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc + NV * L - 1), kCPrefetch);
  }

  if (AROWS) {
    // Rows 3q..3q+2 addressed as p[q], p[q]+as, p[q]+2as: 4 pointers + 2
    // strides instead of 12 pointers.
    constexpr int NP = (MRT + 2) / 3;
    const float* p[NP];
#pragma GCC unroll 4
    for (int q = 0; q < NP; ++q) p[q] = A + 3 * q * as;
    const int64_t as2 = 2 * as;
    for (int64_t k = 0; k < kc; ++k) {
      V b[NV];
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) b[j] = FULL ? T::load(B + L * j) : T::loadz(bm[j], B + L * j);
#pragma GCC unroll 12
      for (int r = 0; r < MRT; ++r) {
        const float* pr = p[r / 3];
        const V a = T::set1(r % 3 == 0 ? pr[0] : r % 3 == 1 ? pr[as] : pr[as2]);
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) c[r][j] = T::fma(a, b[j], c[r][j]);
      }
#pragma GCC unroll 4
      for (int q = 0; q < NP; ++q) ++p[q];
      B += ldbk;
    }
  } else {
    // A^T read in place: each k is a new line (lda apart), which the hardware
    // prefetchers miss; fetch a few k ahead (2048 x 32 x 2048: +25%).
    const bool pfA = as != MR;
    for (int64_t k = 0; k < kc; ++k) {
      if (pfA) _mm_prefetch(reinterpret_cast<const char*>(A + 8 * as), _MM_HINT_T0);
      V b[NV];
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) b[j] = FULL ? T::load(B + L * j) : T::loadz(bm[j], B + L * j);
#pragma GCC unroll 12
      for (int r = 0; r < MRT; ++r) {
        const V a = T::set1(A[r]);
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) c[r][j] = T::fma(a, b[j], c[r][j]);
      }
      A += as;
      B += ldbk;
    }
  }

#pragma GCC unroll 12
  for (int r = 0; r < MRT; ++r) {
    if (!FULL && r >= mr) break;
    float* cr = C + r * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      const typename T::M k = bm[j];
      if (!FULL && !k) break;
      V v = c[r][j];
      if (accumulate) v = T::add(v, FULL ? T::load(cr + L * j) : T::loadz(k, cr + L * j));
      if (ep) v = applyEpi<T>(v, *ep, row + r, col + L * j, k);
      if (FULL) T::store(cr + L * j, v);
      else T::storem(cr + L * j, k, v);
    }
    if (ep && ep->act == static_cast<int>(Activation::Sigmoid)) sigmoidInPlace(cr, FULL ? NV * L : nr);
  }
}

// Runs one tile (mr rows, nr <= NV*T::L columns) through the right
// instantiation: full 12-row panels (A packed, A^T or row-major A in place),
// or a partial panel (always packed) with a 4- or 8-row kernel.
template <class T, int NV>
inline void tile(bool rows, int64_t kc, const float* A, int64_t as, const float* B, int64_t ldbk, float* C,
                 int64_t ldc, int mr, int nr, bool accumulate, const EpiCtx* ep, int64_t row, int64_t col) {
  const bool fullN = nr == NV * T::L;
  if (mr == MR) {
    if (fullN) {
      if (rows) microKernel<T, NV, MR, true, true>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
      else microKernel<T, NV, MR, false, true>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
    } else {
      if (rows) microKernel<T, NV, MR, true, false>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
      else microKernel<T, NV, MR, false, false>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
    }
  } else if (mr <= 4) {
    if (mr == 4 && fullN) microKernel<T, NV, 4, false, true>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
    else microKernel<T, NV, 4, false, false>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
  } else if (mr <= 8) {
    if (mr == 8 && fullN) microKernel<T, NV, 8, false, true>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
    else microKernel<T, NV, 8, false, false>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
  } else {
    microKernel<T, NV, MR, false, false>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
  }
}

void packA(const float* A, int64_t lda, bool transA, int64_t m0, int64_t mcount, int64_t k0,
           int64_t kc, float* dst) {
  for (int64_t p = 0; p < mcount; p += MR, dst += MR * kc) {
    const int rows = static_cast<int>(mcount - p < MR ? mcount - p : MR);
    if (transA) {
      // A stored K x M: each k gives MR contiguous values.
      const float* src = A + k0 * lda + (m0 + p);
      const __mmask16 k = maskN(rows) & 0x0FFF;
      for (int64_t kk = 0; kk < kc; ++kk)
        _mm512_mask_storeu_ps(dst + kk * MR, 0x0FFF, _mm512_maskz_loadu_ps(k, src + kk * lda));
    } else {
      transposeRows(A + (m0 + p) * lda + k0, lda, rows, kc, dst, MR, 0x0FFF);
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
          for (int j = 0; j < NV; ++j)
            _mm512_store_ps(dst + kk * NR + 16 * j, _mm512_loadu_ps(src + kk * ldb + 16 * j));
      } else {
        for (int64_t kk = 0; kk < kc; ++kk)
#pragma GCC unroll 4
          for (int j = 0; j < NV; ++j)
            _mm512_store_ps(dst + kk * NR + 16 * j,
                            _mm512_maskz_loadu_ps(maskN(cols - 16 * j), src + kk * ldb + 16 * j));
      }
    } else {
      // B stored N x K: column n of op(B) is row n of B; transpose 16 at a time.
      for (int j = 0; j < NV; ++j) {
        const int c = cols - 16 * j;
        transposeRows(B + (n0 + q + 16 * j) * ldb + k0, ldb, c < 0 ? 0 : c, kc, dst + 16 * j, NR, 0xFFFF);
      }
    }
  }
}

void macro(const MacroArgs& m) {
  alignas(64) float edge[MR * KC];  // packed copy of a partial panel of in-place A
  const int64_t kc = m.kc;
  packEdgePanel(m, MR, kc, edge, packA);
  for (int64_t i = 0; i < m.mcount; i += MR) {
    const int mr = static_cast<int>(m.mcount - i < MR ? m.mcount - i : MR);
    const APanel a = aPanel(m, i, mr, MR, kc, edge);
    const float* Ai = a.a;
    const int64_t as = a.stride;
    const bool rows = a.rows;
    const int64_t ldbk = m.bPacked ? NR : m.ldb;
    for (int64_t j = 0; j < m.ncount; j += NR) {
      const float* Bj = m.bPacked ? m.B + j * kc : m.B + j;
      const int nr = static_cast<int>(m.ncount - j < NR ? m.ncount - j : NR);
      float* C = m.C + i * m.ldc + j;
      const int64_t r0 = m.row0 + i, c0 = m.col0 + j;
      // Narrow remainders use 16- and 8-wide tiles instead of a masked 32:
      // per k, 32 -> 24 FMA cycles, 16 -> 12, 16 + 8 -> 18, 8 -> 6.
      if (nr > 24) {
        tile<Zmm, 2>(rows, kc, Ai, as, Bj, ldbk, C, m.ldc, mr, nr, m.accumulate, m.ep, r0, c0);
      } else if (nr > 16) {
        tile<Zmm, 1>(rows, kc, Ai, as, Bj, ldbk, C, m.ldc, mr, 16, m.accumulate, m.ep, r0, c0);
        tile<Ymm, 1>(rows, kc, Ai, as, Bj + 16, ldbk, C + 16, m.ldc, mr, nr - 16, m.accumulate, m.ep, r0, c0 + 16);
      } else if (nr > 8) {
        tile<Zmm, 1>(rows, kc, Ai, as, Bj, ldbk, C, m.ldc, mr, nr, m.accumulate, m.ep, r0, c0);
      } else {
        tile<Ymm, 1>(rows, kc, Ai, as, Bj, ldbk, C, m.ldc, mr, nr, m.accumulate, m.ep, r0, c0);
      }
    }
  }
}

const KernelSet kSet = {SimdLevel::AVX512, MR, NR, KC, NC, Precision::FP32, 0, packA, packB, macro};

}  // namespace

const KernelSet* kernelsAvx512() { return &kSet; }

}  // namespace gemm_detail

bool simd_detail::avx512VariantCompiled() { return true; }

}  // namespace sotr

#else  // not compiled for AVX-512

namespace sotr {
namespace gemm_detail {
const KernelSet* kernelsAvx512() { return nullptr; }
}  // namespace gemm_detail
bool simd_detail::avx512VariantCompiled() { return false; }
}  // namespace sotr

#endif
