// AVX2+FMA microkernel, packing and macro-kernel of the CPU GEMM.
// Compiled with: -mavx2 -mfma (see CMakeLists-fragment.md). Only reached after
// cpu_features says the CPU has both; keep this file free of out-of-line std::
// templates (an AVX2 copy of a COMDAT function could be picked by the linker
// for baseline callers).
#include "gemm/gemm_cpu.h"

namespace sotr {
namespace simd_detail {
bool avx2VariantCompiled();
}
}  // namespace sotr

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include <type_traits>

#include "gemm/avx2_lanes.h"
#include "gemm/avx2_transpose.h"

namespace sotr {
namespace gemm_detail {
namespace {

// 6 x 16 microtile: 12 ymm accumulators + 2 B vectors + 1 broadcast = 15 of 16
// registers. Per k: 2 vector loads, 6 broadcasts, 12 FMAs.
constexpr int MR = 6;
constexpr int NVMAX = 2;  // ymm vectors per row of a full tile
constexpr int NR = 8 * NVMAX;
constexpr int KC = 384;  // A micro-panel 6*384*4 = 9 KiB; B block 384*NC*4 (L2)
constexpr int NC = 512;
// The macro-kernel walks C by blocks of MCB rows, and inside a block column
// tile by column tile (the B micro-panel stays in L1 while the block's A
// panels, MCB*kc*4 <= 144 KiB, come from L2). The 6 x 16 tile loads twice the
// bytes per flop of the AVX-512 12 x 32 one, so streaming B from L2 per row
// panel (the other order) held it back where B is read in place (Winograd).
constexpr int MCB = 96;
// Packed A is prefetched this many k ahead (3 KiB): weights packed once
// (conv, Winograd, dynamic conv) come from L3 or DRAM on the first tile.
constexpr int kAPrefetchK = 128;

// Transposes `rows` (<= 8) rows of length kc (row i at src + i*ld) into
// dst[k*dstStride + i] for i < 8 (rows >= `rows` give zeros), storing the
// lanes selected by `lanes`.
inline void transposeRows(const float* src, int64_t ld, int rows, int64_t kc, float* dst,
                          int64_t dstStride, __m256i lanes) {
  for (int64_t k = 0; k < kc; k += 8) {
    const int64_t rem = kc - k < 8 ? kc - k : 8;
    const __m256i km = avx2::firstLanes(rem);
    __m256 r[8];
    for (int i = 0; i < 8; ++i)
      r[i] = i < rows ? _mm256_maskload_ps(src + i * ld + k, km) : _mm256_setzero_ps();
    avx2::transpose8(r);
    for (int kk = 0; kk < rem; ++kk) _mm256_maskstore_ps(dst + (k + kk) * dstStride, lanes, r[kk]);
  }
}

inline __m256 chan(const float* p, int axis, int64_t row, int64_t col, __m256i k) {
  return axis == 0 ? _mm256_set1_ps(p[row]) : _mm256_maskload_ps(p + col, k);
}

// Same order as applyEpilogueScalar, separate mul and add (no FMA) so a given
// accumulator rounds identically.
inline __m256 applyEpi(__m256 v, const EpiCtx& e, int64_t row, int64_t col, __m256i k) {
  if (e.bias) v = _mm256_add_ps(v, chan(e.bias, e.axis, row, col, k));
  if (e.scale) v = _mm256_mul_ps(v, chan(e.scale, e.axis, row, col, k));
  if (e.shift) v = _mm256_add_ps(v, chan(e.shift, e.axis, row, col, k));
  if (e.alpha != 1.f) v = _mm256_mul_ps(v, _mm256_set1_ps(e.alpha));
  if (e.res) {
    __m256 r = _mm256_maskload_ps(e.res + row * e.ldr + col, k);
    v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_set1_ps(e.beta), r));
  }
  if (e.act == static_cast<int>(Activation::Relu)) {
    v = _mm256_max_ps(_mm256_setzero_ps(), v);  // "v < 0 ? 0 : v": NaN and -0 pass (max returns its 2nd operand)
  } else if (e.act == static_cast<int>(Activation::LeakyRelu)) {
    __m256 pos = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ);
    v = _mm256_blendv_ps(_mm256_mul_ps(v, _mm256_set1_ps(e.slope)), v, pos);
  }
  return v;
}

inline void sigmoidInPlace(float* p, int n) {
  for (int i = 0; i < n; ++i) p[i] = 1.f / (1.f + __builtin_expf(-p[i]));
}

// C tile (mr x nr, nr <= 8*NV) (+)= sum_k a(r, k) * B[k*ldbk + j], then the epilogue.
// AROWS: a(r, k) = A[r*as + k] (row-major A read in place; full tiles only).
// else:  a(r, k) = A[k*as + r] (packed panel with as = MR, or A^T in place).
// FULL = false handles edge tiles: masked B loads / C stores, rows < mr.
// noinline: inlined into the macro-kernel, GCC spilled accumulators of the
// narrow tiles inside the k loop (seen with the AVX-512 twin of this code).
template <int NV, bool AROWS, bool FULL>
__attribute__((noinline)) void microKernel(int64_t kc, const float* __restrict A, int64_t as, const float* __restrict B,
                 int64_t ldbk, float* C, int64_t ldc, int mr, int nr, bool accumulate,
                 const EpiCtx* ep, int64_t row, int64_t col) {
  __m256 c[MR][NV];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) c[r][j] = _mm256_setzero_ps();
  __m256i bm[NV];
#pragma GCC unroll 4
  for (int j = 0; j < NV; ++j) bm[j] = FULL ? _mm256_set1_epi32(-1) : avx2::firstLanes(nr - 8 * j);
  // Start pulling the C tile into L2 now (see the AVX-512 kernel).
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc), _MM_HINT_T1);
    if (NV > 1) _mm_prefetch(reinterpret_cast<const char*>(C + r * ldc + 8 * NV - 1), _MM_HINT_T1);
  }

  if (AROWS) {
    // Rows 3q..3q+2 addressed as p[q], p[q]+as, p[q]+2as.
    const float* p0 = A;
    const float* p1 = A + 3 * as;
    const int64_t as2 = 2 * as;
    for (int64_t k = 0; k < kc; ++k) {
      __m256 b[NV];
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) b[j] = FULL ? _mm256_loadu_ps(B + 8 * j) : _mm256_maskload_ps(B + 8 * j, bm[j]);
      const float* ps[2] = {p0, p1};
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const float* pr = ps[r / 3];
        const __m256 a = _mm256_broadcast_ss(r % 3 == 0 ? pr : r % 3 == 1 ? pr + as : pr + as2);
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) c[r][j] = _mm256_fmadd_ps(a, b[j], c[r][j]);
      }
      ++p0, ++p1;
      B += ldbk;
    }
  } else {
    // Packed A (as == MR) is prefetched kAPrefetchK k ahead (the lines past
    // the panel's end are the next panel's; a prefetch past the buffer is
    // harmless). Per k: 2 B loads, 6 broadcasts, 12 FMAs, 1 prefetch.
    auto loop = [&](auto prefetchA) {
      for (int64_t k = 0; k < kc; ++k) {
        if (decltype(prefetchA)::value)
          _mm_prefetch(reinterpret_cast<const char*>(A + kAPrefetchK * MR), _MM_HINT_T0);
        __m256 b[NV];
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) b[j] = FULL ? _mm256_loadu_ps(B + 8 * j) : _mm256_maskload_ps(B + 8 * j, bm[j]);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
          const __m256 a = _mm256_broadcast_ss(A + r);
#pragma GCC unroll 4
          for (int j = 0; j < NV; ++j) c[r][j] = _mm256_fmadd_ps(a, b[j], c[r][j]);
        }
        A += as;
        B += ldbk;
      }
    };
    if (as == MR) loop(std::true_type());
    else loop(std::false_type());
  }

#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) {
    if (!FULL && r >= mr) break;
    float* cr = C + r * ldc;
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) {
      if (!FULL && nr - 8 * j <= 0) break;
      const __m256i k = bm[j];
      __m256 v = c[r][j];
      if (accumulate) v = _mm256_add_ps(v, FULL ? _mm256_loadu_ps(cr + 8 * j) : _mm256_maskload_ps(cr + 8 * j, k));
      if (ep) v = applyEpi(v, *ep, row + r, col + 8 * j, k);
      if (FULL) _mm256_storeu_ps(cr + 8 * j, v);
      else _mm256_maskstore_ps(cr + 8 * j, k, v);
    }
    if (ep && ep->act == static_cast<int>(Activation::Sigmoid)) sigmoidInPlace(cr, FULL ? 8 * NV : nr);
  }
}

// Runs one tile (nr columns, nr <= 8*NV) through the right instantiation.
template <int NV>
inline void tile(bool rows, int64_t kc, const float* A, int64_t as, const float* B, int64_t ldbk, float* C,
                 int64_t ldc, int mr, int nr, bool accumulate, const EpiCtx* ep, int64_t row, int64_t col) {
  if (mr == MR && nr == 8 * NV) {
    if (rows) microKernel<NV, true, true>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
    else microKernel<NV, false, true>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
  } else {
    if (rows) microKernel<NV, true, false>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
    else microKernel<NV, false, false>(kc, A, as, B, ldbk, C, ldc, mr, nr, accumulate, ep, row, col);
  }
}

void packA(const float* A, int64_t lda, bool transA, int64_t m0, int64_t mcount, int64_t k0,
           int64_t kc, float* dst) {
  const __m256i six = avx2::firstLanes(MR);
  for (int64_t p = 0; p < mcount; p += MR, dst += MR * kc) {
    const int rows = static_cast<int>(mcount - p < MR ? mcount - p : MR);
    if (transA) {
      // A stored K x M: each k gives MR contiguous values.
      const float* src = A + k0 * lda + (m0 + p);
      const __m256i k = avx2::firstLanes(rows);
      for (int64_t kk = 0; kk < kc; ++kk)
        _mm256_maskstore_ps(dst + kk * MR, six, _mm256_maskload_ps(src + kk * lda, k));
    } else {
      transposeRows(A + (m0 + p) * lda + k0, lda, rows, kc, dst, MR, six);
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
          for (int j = 0; j < NVMAX; ++j)
            _mm256_store_ps(dst + kk * NR + 8 * j, _mm256_loadu_ps(src + kk * ldb + 8 * j));
      } else {
        for (int64_t kk = 0; kk < kc; ++kk)
#pragma GCC unroll 4
          for (int j = 0; j < NVMAX; ++j)
            _mm256_store_ps(dst + kk * NR + 8 * j, _mm256_maskload_ps(src + kk * ldb + 8 * j, avx2::firstLanes(cols - 8 * j)));
      }
    } else {
      // B stored N x K: column n of op(B) is row n of B; transpose 8 at a time.
      for (int j = 0; j < NVMAX; ++j) {
        const int c = cols - 8 * j;
        transposeRows(B + (n0 + q + 8 * j) * ldb + k0, ldb, c < 0 ? 0 : c, kc, dst + 8 * j, NR,
                      _mm256_set1_epi32(-1));
      }
    }
  }
}

// C (+)= A * B over one K block: blocks of MCB rows; in a block, each column
// tile (its B micro-panel then stays in L1) against every row panel (A from
// L2). With the A prefetch, 1 thread, Zen 4: Winograd-shaped GEMMs (packed
// 48-row A blocks, B in place) 48 x 64 x 512: 86 -> 100 GFLOP/s, 48 x 32 x 256:
// ~80 -> 102 (AVX-512: 102); dynamic-conv-shaped 3600 x 272 x 256: 103 -> 107.
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
        if (nr > 8) {
          tile<2>(a.rows, kc, a.a, a.stride, Bj, ldbk, C, m.ldc, mr, nr, m.accumulate, m.ep, r0, c0);
        } else {  // narrow remainder: one ymm per row halves the FMAs
          tile<1>(a.rows, kc, a.a, a.stride, Bj, ldbk, C, m.ldc, mr, nr, m.accumulate, m.ep, r0, c0);
        }
      }
    }
  }
}

const KernelSet kSet = {SimdLevel::AVX2, MR, NR, KC, NC, Precision::FP32, 0, packA, packB, macro};

}  // namespace

const KernelSet* kernelsAvx2() { return &kSet; }

}  // namespace gemm_detail

bool simd_detail::avx2VariantCompiled() { return true; }

}  // namespace sotr

#else  // not compiled for AVX2

namespace sotr {
namespace gemm_detail {
const KernelSet* kernelsAvx2() { return nullptr; }
}  // namespace gemm_detail
bool simd_detail::avx2VariantCompiled() { return false; }
}  // namespace sotr

#endif
