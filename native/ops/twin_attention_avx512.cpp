// AVX-512 attention core of twinAttention (one sequence, all heads): K is
// transposed once per sequence with 16x16 register transposes, then per head
// a register-blocked Q·K^T (8 rows x 32 keys), a vectorised softmax (exp by
// range reduction + polynomial + vscalefps), and a register-blocked P·V
// (8 rows x 32 channels) with the gate / row-sum applied at the store.
// Compiled with the AVX-512 flags (CMake, by file name); only reached when
// activeSimdLevel() says the CPU has them. No out-of-line std:: templates
// here (a COMDAT copy built with AVX-512 could be picked for baseline code).
#include "ops/twin_attention.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512DQ__) && defined(__FMA__)
// GCC 12 reports -W(maybe-)uninitialized inside AVX-512 intrinsics (their
// _mm512_undefined_* passthrough operand); a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#include "gemm/avx512_transpose.h"

namespace sotr {
namespace {

constexpr int kRows = 8;  // query rows per register block

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t roundUp16(int64_t v) { return (v + 15) / 16 * 16; }

inline __mmask16 maskN(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF)
                 : n <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << n) - 1u);
}

// exp(x) for x <= ~0 (softmax after the max shift); ~1 ulp on [-87, 0],
// 0 below. Cephes-style: x = n·ln2 + r, |r| <= ln2/2, degree-6 polynomial.
inline __m512 exp512(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-87.3f);
  x = _mm512_max_ps(lo, x);  // a NaN logit stays NaN (max returns its 2nd operand), as torch's softmax
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 r2 = _mm512_mul_ps(r, r);
  p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.f)));
  return _mm512_scalef_ps(p, n);
}

// Kt (C x Lp, 64-byte aligned rows) = K^T; tokens L..Lp-1 are zero.
void transposeK(const float* k, int64_t inTok, int64_t L, int64_t C, int64_t Lp, float* Kt) {
  for (int64_t t0 = 0; t0 < Lp; t0 += 16) {
    const int64_t nt = imin(16, L - t0);
    for (int64_t c0 = 0; c0 < C; c0 += 16) {
      const int64_t nc = imin(16, C - c0);
      const __mmask16 mc = maskN(nc);
      __m512 r[16];
      for (int i = 0; i < 16; ++i)
        r[i] = i < nt ? _mm512_maskz_loadu_ps(mc, k + (t0 + i) * inTok + c0) : _mm512_setzero_ps();
      avx512::transpose16(r);
      for (int64_t c = 0; c < nc; ++c) _mm512_store_ps(Kt + (c0 + c) * Lp + t0, r[c]);
    }
  }
}

// S[r][j0 .. j0 + 16·NV) = sum_e q_r[e] · Kt[e][j] for R query rows.
template <int R, int NV>
inline void scoreTile(const float* const* qr, const float* Kt, int64_t Lp, int64_t d, int64_t j0, float* S) {
  __m512 acc[R][NV];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
  const float* kt = Kt + j0;
  for (int64_t e = 0; e < d; ++e, kt += Lp) {
    __m512 kv[NV];
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) kv[v] = _mm512_load_ps(kt + 16 * v);
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 qb = _mm512_set1_ps(qr[r][e]);
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(qb, kv[v], acc[r][v]);
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) _mm512_store_ps(S + r * Lp + j0 + 16 * v, acc[r][v]);
}

template <int R>
inline void scoreRows(const float* q, int64_t inTok, const float* Kt, int64_t Lp, int64_t d, float* S) {
  const float* qr[R];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) qr[r] = q + r * inTok;
  int64_t j0 = 0;
  for (; j0 + 32 <= Lp; j0 += 32) scoreTile<R, 2>(qr, Kt, Lp, d, j0, S);
  if (j0 < Lp) scoreTile<R, 1>(qr, Kt, Lp, d, j0, S);
}

// O[r][0 .. 16·NV) (masked) = rinv[r] · sum_j P[r][j] · V[j][..] for R rows.
template <int R, int NV>
inline void pvTile(const float* P, int64_t Lp, const float* v, int64_t inTok, int64_t L, const __mmask16* m,
                   const float* rinv, float* o, int64_t outTok) {
  __m512 acc[R][NV];
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 16
    for (int w = 0; w < NV; ++w) acc[r][w] = _mm512_setzero_ps();
  const float* vj = v;
  for (int64_t j = 0; j < L; ++j, vj += inTok) {
    __m512 vv[NV];
    #pragma GCC unroll 16
    for (int w = 0; w < NV; ++w) vv[w] = _mm512_maskz_loadu_ps(m[w], vj + 16 * w);
    #pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const __m512 pb = _mm512_set1_ps(P[r * Lp + j]);
      #pragma GCC unroll 16
      for (int w = 0; w < NV; ++w) acc[r][w] = _mm512_fmadd_ps(pb, vv[w], acc[r][w]);
    }
  }
  #pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
    const __m512 s = _mm512_set1_ps(rinv[r]);
    #pragma GCC unroll 16
    for (int w = 0; w < NV; ++w) _mm512_mask_storeu_ps(o + r * outTok + 16 * w, m[w], _mm512_mul_ps(acc[r][w], s));
  }
}

template <int R>
inline void pvRows(const float* P, int64_t Lp, const float* v, int64_t inTok, int64_t L, int64_t d,
                   const float* rinv, float* o, int64_t outTok) {
  for (int64_t c = 0; c < d; c += 32) {
    const int64_t n = d - c;
    if (n > 16) {
      const __mmask16 m[2] = {maskN(16), maskN(n - 16)};
      pvTile<R, 2>(P, Lp, v + c, inTok, L, m, rinv, o + c, outTok);
    } else {
      const __mmask16 m[1] = {maskN(n)};
      pvTile<R, 1>(P, Lp, v + c, inTok, L, m, rinv, o + c, outTok);
    }
  }
}

// Calls F::template run<R>(i0) over row blocks of kRows, then the tail.
template <class F>
inline void forRowBlocks(int64_t L, F& f) {
  int64_t i0 = 0;
  for (; i0 + kRows <= L; i0 += kRows) f.template run<kRows>(i0);
  switch (L - i0) {
    case 7: f.template run<7>(i0); break;
    case 6: f.template run<6>(i0); break;
    case 5: f.template run<5>(i0); break;
    case 4: f.template run<4>(i0); break;
    case 3: f.template run<3>(i0); break;
    case 2: f.template run<2>(i0); break;
    case 1: f.template run<1>(i0); break;
    default: break;
  }
}

struct ScoreF {
  const float* q;
  int64_t inTok;
  const float* Kt;
  int64_t Lp, d;
  float* S;
  template <int R>
  void run(int64_t i0) const {
    scoreRows<R>(q + i0 * inTok, inTok, Kt, Lp, d, S + i0 * Lp);
  }
};

struct PvF {
  const float* S;
  int64_t Lp;
  const float* v;
  int64_t inTok, L, d;
  const float* rinv;
  float* o;
  int64_t outTok;
  template <int R>
  void run(int64_t i0) const {
    pvRows<R>(S + i0 * Lp, Lp, v, inTok, L, d, rinv + i0, o + i0 * outTok, outTok);
  }
};

// Row-wise softmax numerators in place; rinv[i] = gate / row sum.
void softmaxRows(float* S, int64_t L, int64_t Lp, float scale, float gate, float* rinv) {
  const __m512 sc = _mm512_set1_ps(scale);
  for (int64_t i = 0; i < L; ++i) {
    float* s = S + i * Lp;
    __m512 mx = _mm512_set1_ps(-3.0e38f);
    for (int64_t j = 0; j < L; j += 16)
      mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(mx, maskN(L - j), s + j));
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < L; j += 16) {
      const __mmask16 k = maskN(L - j);
      const __m512 e = _mm512_maskz_mov_ps(k, exp512(_mm512_mul_ps(_mm512_sub_ps(_mm512_load_ps(s + j), m), sc)));
      sum = _mm512_add_ps(sum, e);
      _mm512_store_ps(s + j, e);
    }
    rinv[i] = gate / _mm512_reduce_add_ps(sum);
  }
}

// Copies the sequence's rows (L tokens x C channels, row stride inTok) into
// head-major blocks dst[h][t][e] (L x d each, contiguous): the heads' rows are
// then read sequentially instead of at a large power-of-two-like stride (which
// maps all tokens of a column onto a few L1 sets).
void packHeads(const float* src, int64_t inTok, int64_t L, int64_t C, int64_t d, float* dst) {
  const int64_t heads = C / d;
  for (int64_t t = 0; t < L; ++t) {
    const float* row = src + t * inTok;
    for (int64_t h = 0; h < heads; ++h) {
      float* out = dst + (h * L + t) * d;
      for (int64_t e = 0; e < d; e += 16) {
        const __mmask16 m = maskN(d - e);
        _mm512_mask_storeu_ps(out + e, m, _mm512_maskz_loadu_ps(m, row + h * d + e));
      }
    }
  }
}

void coreAvx512(const TwinCoreArgs& a, int64_t s, float* scratch) {
  const int64_t L = a.L, C = a.C, d = a.d, Lp = roundUp16(L);
  float* Kt = scratch;        // C x Lp
  float* S = Kt + C * Lp;     // L x Lp
  float* Qp = S + L * Lp;     // heads x L x d
  float* Vp = Qp + L * C;     // heads x L x d
  float* rinv = Vp + L * C;   // L
  float* o = a.o + s * a.outSeq;
  transposeK(a.k + s * a.inSeq, a.inTok, L, C, Lp, Kt);
  packHeads(a.q + s * a.inSeq, a.inTok, L, C, d, Qp);
  packHeads(a.v + s * a.inSeq, a.inTok, L, C, d, Vp);
  for (int64_t hd = 0; hd < a.heads; ++hd) {
    const int64_t c0 = hd * d;
    ScoreF sf{Qp + hd * L * d, d, Kt + c0 * Lp, Lp, d, S};
    forRowBlocks(L, sf);
    softmaxRows(S, L, Lp, a.scale, a.gate, rinv);
    PvF pf{S, Lp, Vp + hd * L * d, d, L, d, rinv, o + c0, a.outTok};
    forRowBlocks(L, pf);
  }
}

}  // namespace

TwinCoreFn twinCoreAvx512() { return coreAvx512; }

}  // namespace sotr
#pragma GCC diagnostic pop

#else

namespace sotr {
TwinCoreFn twinCoreAvx512() { return nullptr; }
}  // namespace sotr

#endif
