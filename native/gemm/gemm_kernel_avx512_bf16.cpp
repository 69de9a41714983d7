// AVX512-BF16 microkernel, packing and macro-kernel of the CPU GEMM: the
// kernels of Precision::BF16. Operands are rounded to bfloat16 (round to
// nearest even, VCVTNE2PS2BF16) when packed, two k per 32-bit slot (k even in
// the low half), and multiplied with VDPBF16PS: each instruction adds two
// exact products per lane to a float32 accumulator, 32 multiply-adds per zmm
// against 16 for a float32 FMA, at the same rate (Zen 4: one a cycle each).
// Compiled with the AVX-512 flags plus -mavx512bf16 (CMakeLists.txt); reached
// only when cpu_features reports AVX512-BF16. Same blocking and epilogue as the
// float32 AVX-512 kernels (gemm_kernel_avx512.cpp).
#include "gemm/gemm_cpu.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512DQ__) && defined(__FMA__) && defined(__AVX512BF16__)
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

// The tile, blocking and C prefetch hint are the float32 kernels'
// (gemm_avx512_common.h), so a K split and a row block are the same with either
// precision. A k slot holds two k (KernelSet::kSlots for BF16).
constexpr int64_t slots(int64_t k) { return (k + 1) / 2; }

// 32 floats (a row's k .. k+31, lanes beyond `rem` zero) as 16 bfloat16 pairs:
// pair j = (x[2j], x[2j+1]).
inline __m512 pairsOf32(const float* x, int64_t rem) {
  const __m512 lo = _mm512_maskz_loadu_ps(maskN(rem), x);
  const __m512 hi = _mm512_maskz_loadu_ps(maskN(rem - 16), x + 16);
  return _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

// Lane i = (lo[i], hi[i]) as a bfloat16 pair: two rows of k, 16 columns.
inline __m512 pairsOfRows(__m512 lo, __m512 hi) {
  const __m512i l = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(lo));
  const __m512i h = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(hi));
  return _mm512_castsi512_ps(_mm512_or_si512(l, _mm512_slli_epi32(h, 16)));
}

// Rows of length kc (row i at src + i*ld, `rows` <= 16 of them; the others
// give zeros) as pairs, transposed: dst[p*dstStride + i] = pair p of row i,
// for the `lanes` of i.
inline void transposeRowPairs(const float* src, int64_t ld, int rows, int64_t kc, float* dst, int64_t dstStride,
                              __mmask16 lanes) {
  for (int64_t k = 0; k < kc; k += 32) {
    const int64_t rem = kc - k < 32 ? kc - k : 32;
    __m512 r[16];
    for (int i = 0; i < 16; ++i) r[i] = i < rows ? pairsOf32(src + i * ld + k, rem) : _mm512_setzero_ps();
    avx512::transpose16(r);
    const int64_t np = slots(rem);
    for (int p = 0; p < np; ++p) _mm512_mask_storeu_ps(dst + (k / 2 + p) * dstStride, lanes, r[p]);
  }
}

// Rows k0+2p and k0+2p+1 (each `cols` <= 16 values at src + k*ld; a row past
// kc reads as zeros) as pairs: dst[p*dstStride .. +16].
inline void rowPairs(const float* src, int64_t ld, int cols, int64_t kc, float* dst, int64_t dstStride) {
  const __mmask16 m = maskN(cols);
  for (int64_t k = 0, p = 0; k < kc; k += 2, ++p) {
    const __m512 lo = _mm512_maskz_loadu_ps(m, src + k * ld);
    const __m512 hi = k + 1 < kc ? _mm512_maskz_loadu_ps(m, src + (k + 1) * ld) : _mm512_setzero_ps();
    _mm512_storeu_ps(dst + p * dstStride, pairsOfRows(lo, hi));
  }
}

void packA(const float* A, int64_t lda, bool transA, int64_t m0, int64_t mcount, int64_t k0, int64_t kc,
           float* dst) {
  const int64_t ks = slots(kc);
  for (int64_t p = 0; p < mcount; p += MR, dst += MR * ks) {
    const int rows = static_cast<int>(mcount - p < MR ? mcount - p : MR);
    if (transA) {
      // A stored K x M: rows k and k+1 give the panel's MR pairs of slot k/2.
      const __mmask16 m = maskN(rows);
      for (int64_t q = 0; q < ks; ++q) {
        const float* src = A + (k0 + 2 * q) * lda + (m0 + p);
        const __m512 lo = _mm512_maskz_loadu_ps(m, src);
        const __m512 hi = 2 * q + 1 < kc ? _mm512_maskz_loadu_ps(m, src + lda) : _mm512_setzero_ps();
        _mm512_mask_storeu_ps(dst + q * MR, 0x0FFF, pairsOfRows(lo, hi));
      }
    } else {
      transposeRowPairs(A + (m0 + p) * lda + k0, lda, rows, kc, dst, MR, 0x0FFF);
    }
  }
}

void packB(const float* B, int64_t ldb, bool transB, int64_t k0, int64_t kc, int64_t n0, int64_t ncount,
           float* dst) {
  const int64_t ks = slots(kc);
  for (int64_t q = 0; q < ncount; q += NR, dst += NR * ks) {
    const int cols = static_cast<int>(ncount - q < NR ? ncount - q : NR);
    for (int j = 0; j < NV; ++j) {
      const int c = cols - 16 * j < 0 ? 0 : cols - 16 * j;
      if (!transB) rowPairs(B + k0 * ldb + (n0 + q + 16 * j), ldb, c, kc, dst + 16 * j, NR);
      // B stored N x K: column n of op(B) is row n of B, pairs along it.
      else transposeRowPairs(B + (n0 + q + 16 * j) * ldb + k0, ldb, c, kc, dst + 16 * j, NR, 0xFFFF);
    }
  }
}

// C tile (mr <= MR rows, nr <= NVT*16 columns) (+)= A panel (MR pairs a slot)
// times B panel (NR pairs a slot) over ks slots, then the epilogue. The panels
// are zero-padded, so the full tile is computed and only mr x nr is stored.
template <int NVT>
__attribute__((noinline)) void microKernel(int64_t ks, const float* __restrict A, const float* __restrict B, float* C,
                                           int64_t ldc, int mr, int nr, bool accumulate, const EpiCtx* ep, int64_t row,
                                           int64_t col) {
  __m512 c[MR][NVT];
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 2
    for (int j = 0; j < NVT; ++j) c[r][j] = _mm512_setzero_ps();
#pragma GCC unroll 12
  for (int r = 0; r < MR; ++r) _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc), kCPrefetch);
  const int32_t* a = reinterpret_cast<const int32_t*>(A);
  for (int64_t p = 0; p < ks; ++p) {
    __m512bh b[NVT];
#pragma GCC unroll 2
    for (int j = 0; j < NVT; ++j) b[j] = (__m512bh)_mm512_loadu_si512(B + 16 * j);
#pragma GCC unroll 12
    for (int r = 0; r < MR; ++r) {
      const __m512bh av = (__m512bh)_mm512_set1_epi32(a[r]);
#pragma GCC unroll 2
      for (int j = 0; j < NVT; ++j) c[r][j] = _mm512_dpbf16_ps(c[r][j], av, b[j]);
    }
    a += MR;
    B += NR;
  }
  __mmask16 bm[NVT];
#pragma GCC unroll 2
  for (int j = 0; j < NVT; ++j) bm[j] = maskN(nr - 16 * j);
  for (int r = 0; r < mr; ++r) {
    float* cr = C + r * ldc;
#pragma GCC unroll 2
    for (int j = 0; j < NVT; ++j) {
      const __mmask16 k = bm[j];
      if (!k) break;
      __m512 v = c[r][j];
      if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, cr + 16 * j));
      if (ep) v = applyEpi<Zmm>(v, *ep, row + r, col + 16 * j, k);
      _mm512_mask_storeu_ps(cr + 16 * j, k, v);
    }
    if (ep && ep->act == static_cast<int>(Activation::Sigmoid)) sigmoidInPlace(cr, nr);
  }
}

// Operands read in place (not packed by the driver) are packed here, into the
// thread's scratch: A one panel at a time, B the whole block once per call.
constexpr int64_t kScratchA = int64_t(MR) * (KC / 2);
constexpr int64_t kScratchFloats = kScratchA + int64_t(NC) * (KC / 2);

void macro(const MacroArgs& m) {
  const int64_t kc = m.kc, ks = slots(kc);
  const float* B = m.B;
  if (!m.bPacked) {  // row-major op(B) in place (never transposed)
    packB(m.B, m.ldb, false, 0, kc, 0, m.ncount, m.scratch + kScratchA);
    B = m.scratch + kScratchA;
  }
  for (int64_t i = 0; i < m.mcount; i += MR) {
    const int mr = static_cast<int>(m.mcount - i < MR ? m.mcount - i : MR);
    const float* Ai = m.A + i * ks;  // panel i/MR of MR * ks slots
    if (!m.aPacked) {
      packA(m.A + (m.transA ? i : i * m.lda), m.lda, m.transA, 0, mr, 0, kc, m.scratch);
      Ai = m.scratch;
    }
    for (int64_t j = 0; j < m.ncount; j += NR) {
      const int nr = static_cast<int>(m.ncount - j < NR ? m.ncount - j : NR);
      float* C = m.C + i * m.ldc + j;
      const float* Bj = B + j * ks;
      if (nr > 16) microKernel<2>(ks, Ai, Bj, C, m.ldc, mr, nr, m.accumulate, m.ep, m.row0 + i, m.col0 + j);
      else microKernel<1>(ks, Ai, Bj, C, m.ldc, mr, nr, m.accumulate, m.ep, m.row0 + i, m.col0 + j);
    }
  }
}

const KernelSet kSet = {SimdLevel::AVX512, MR, NR, KC, NC, Precision::BF16, kScratchFloats, packA, packB, macro};

}  // namespace

const KernelSet* kernelsAvx512Bf16() { return &kSet; }

}  // namespace gemm_detail
}  // namespace sotr

#else  // not compiled with AVX512-BF16

namespace sotr {
namespace gemm_detail {
const KernelSet* kernelsAvx512Bf16() { return nullptr; }
}  // namespace gemm_detail
}  // namespace sotr

#endif
