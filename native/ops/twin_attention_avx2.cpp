// AVX2 + FMA attention core of twinAttention (one sequence, all heads), for
// CPUs with AVX2 but no AVX-512 (Intel client parts, AMD Zen 2/3), where the
// portable core (one std::exp per score, plain loops) made the op ~1.6x slower
// than the AVX-512 core. Same structure and scratch layout as
// twin_attention_avx512.cpp with 8-lane ymm vectors: K transposed once per
// sequence with 8x8 register transposes, then per head a register-blocked
// Q·K^T (6 rows x 16 keys: 12 accumulators + 2 K vectors + 1 broadcast of
// the 16 ymm registers), a vectorised softmax (exp by range reduction + the
// same polynomial as exp512, 2^n built in the exponent bits), and a
// register-blocked P·V (6 rows x 16 channels, masked channel tails) with the
// gate / row sum applied at the store.
// Compiled with the AVX2 flags (CMake, by file name); only reached when
// activeSimdLevel() says the CPU has them. No out-of-line std:: templates
// here (a COMDAT copy built with AVX2 could be picked for baseline code).
#include "ops/twin_attention.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#include "gemm/avx2_lanes.h"
#include "gemm/avx2_transpose.h"

namespace sotr {
namespace {

constexpr int kRows = 6;  // query rows per register block

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t roundUp16(int64_t v) { return (v + 15) / 16 * 16; }

// exp(x) for x <= ~0 (softmax after the max shift): exp512's range reduction
// and polynomial. x is clamped to [-87.3, 88] so n = round(x / ln2) stays in
// [-126, 127] and 2^n = (n + 127) << 23 is a normal float; below -87.3 the
// result is p · 2^-126 (tiny, finite, possibly denormal) instead of 0.
inline __m256 exp256(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-87.3f), x);  // a NaN stays NaN (max / min return their 2nd operand)
  x = _mm256_min_ps(_mm256_set1_ps(88.f), x);
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 r2 = _mm256_mul_ps(r, r);
  p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.f)));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// Kt (C x Lp, 64-byte aligned rows) = K^T; tokens L..Lp-1 are zero.
void transposeK(const float* k, int64_t inTok, int64_t L, int64_t C, int64_t Lp, float* Kt) {
  for (int64_t t0 = 0; t0 < Lp; t0 += 8) {
    const int64_t nt = imin(8, L - t0);
    for (int64_t c0 = 0; c0 < C; c0 += 8) {
      const int64_t nc = imin(8, C - c0);
      __m256 r[8];
      if (nc == 8) {
        for (int i = 0; i < 8; ++i) r[i] = i < nt ? _mm256_loadu_ps(k + (t0 + i) * inTok + c0) : _mm256_setzero_ps();
      } else {
        const __m256i mc = avx2::firstLanes(nc);
        for (int i = 0; i < 8; ++i)
          r[i] = i < nt ? _mm256_maskload_ps(k + (t0 + i) * inTok + c0, mc) : _mm256_setzero_ps();
      }
      avx2::transpose8(r);
      for (int64_t c = 0; c < nc; ++c) _mm256_store_ps(Kt + (c0 + c) * Lp + t0, r[c]);
    }
  }
}

// S[r][j0 .. j0 + 16) = sum_e q_r[e] · Kt[e][j] for R query rows.
template <int R>
inline void scoreTile(const float* const* qr, const float* Kt, int64_t Lp, int64_t d, int64_t j0, float* S) {
  __m256 acc[R][2];
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const float* kt = Kt + j0;
  for (int64_t e = 0; e < d; ++e, kt += Lp) {
    const __m256 k0 = _mm256_load_ps(kt), k1 = _mm256_load_ps(kt + 8);
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 qb = _mm256_broadcast_ss(qr[r] + e);
      acc[r][0] = _mm256_fmadd_ps(qb, k0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(qb, k1, acc[r][1]);
    }
  }
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    _mm256_store_ps(S + r * Lp + j0, acc[r][0]);
    _mm256_store_ps(S + r * Lp + j0 + 8, acc[r][1]);
  }
}

// Lp is a multiple of 16: whole 16-key tiles (keys L..Lp-1 score 0 and are
// masked out by the softmax).
template <int R>
inline void scoreRows(const float* q, int64_t inTok, const float* Kt, int64_t Lp, int64_t d, float* S) {
  const float* qr[R];
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r) qr[r] = q + r * inTok;
  for (int64_t j0 = 0; j0 < Lp; j0 += 16) scoreTile<R>(qr, Kt, Lp, d, j0, S);
}

// O[r][0 .. 8·NV) = rinv[r] · sum_j P[r][j] · V[j][..] for R rows; the last
// vector's lanes are masked by `tail` when Masked (channels past d are
// neither read nor written).
template <int R, int NV, bool Masked>
inline void pvTile(const float* P, int64_t Lp, const float* v, int64_t inTok, int64_t L, __m256i tail,
                   const float* rinv, float* o, int64_t outTok) {
  __m256 acc[R][NV];
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
    #pragma GCC unroll 8
    for (int w = 0; w < NV; ++w) acc[r][w] = _mm256_setzero_ps();
  const float* vj = v;
  for (int64_t j = 0; j < L; ++j, vj += inTok) {
    __m256 vv[NV];
    #pragma GCC unroll 8
    for (int w = 0; w < NV; ++w)
      vv[w] = Masked && w == NV - 1 ? _mm256_maskload_ps(vj + 8 * w, tail) : _mm256_loadu_ps(vj + 8 * w);
    #pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 pb = _mm256_broadcast_ss(P + r * Lp + j);
      #pragma GCC unroll 8
      for (int w = 0; w < NV; ++w) acc[r][w] = _mm256_fmadd_ps(pb, vv[w], acc[r][w]);
    }
  }
  #pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m256 s = _mm256_set1_ps(rinv[r]);
    #pragma GCC unroll 8
    for (int w = 0; w < NV; ++w) {
      const __m256 y = _mm256_mul_ps(acc[r][w], s);
      if (Masked && w == NV - 1) _mm256_maskstore_ps(o + r * outTok + 8 * w, tail, y);
      else _mm256_storeu_ps(o + r * outTok + 8 * w, y);
    }
  }
}

template <int R>
inline void pvRows(const float* P, int64_t Lp, const float* v, int64_t inTok, int64_t L, int64_t d,
                   const float* rinv, float* o, int64_t outTok) {
  int64_t c = 0;
  for (; c + 16 <= d; c += 16)
    pvTile<R, 2, false>(P, Lp, v + c, inTok, L, _mm256_setzero_si256(), rinv, o + c, outTok);
  const int64_t n = d - c;  // 0..15 channels left
  if (n > 8) pvTile<R, 2, true>(P, Lp, v + c, inTok, L, avx2::firstLanes(n - 8), rinv, o + c, outTok);
  else if (n == 8) pvTile<R, 1, false>(P, Lp, v + c, inTok, L, _mm256_setzero_si256(), rinv, o + c, outTok);
  else if (n > 0) pvTile<R, 1, true>(P, Lp, v + c, inTok, L, avx2::firstLanes(n), rinv, o + c, outTok);
}

// Calls F::template run<R>(i0) over row blocks of kRows, then the tail.
template <class F>
inline void forRowBlocks(int64_t L, F& f) {
  int64_t i0 = 0;
  for (; i0 + kRows <= L; i0 += kRows) f.template run<kRows>(i0);
  switch (L - i0) {
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

// Row-wise softmax numerators in place (keys L..Lp-1 set to 0);
// rinv[i] = gate / row sum.
void softmaxRows(float* S, int64_t L, int64_t Lp, float scale, float gate, float* rinv) {
  const __m256 sc = _mm256_set1_ps(scale);
  const __m256 lowest = _mm256_set1_ps(-3.0e38f);
  for (int64_t i = 0; i < L; ++i) {
    float* s = S + i * Lp;
    __m256 mx = lowest;
    int64_t j = 0;
    for (; j + 8 <= L; j += 8) mx = _mm256_max_ps(mx, _mm256_load_ps(s + j));
    if (j < L)
      mx = _mm256_max_ps(mx, _mm256_blendv_ps(lowest, _mm256_load_ps(s + j), _mm256_castsi256_ps(avx2::firstLanes(L - j))));
    const __m256 m = _mm256_set1_ps(avx2::hmax(mx));
    __m256 sum = _mm256_setzero_ps();
    for (j = 0; j + 8 <= L; j += 8) {
      const __m256 e = exp256(_mm256_mul_ps(_mm256_sub_ps(_mm256_load_ps(s + j), m), sc));
      sum = _mm256_add_ps(sum, e);
      _mm256_store_ps(s + j, e);
    }
    if (j < L) {
      const __m256 e = _mm256_and_ps(exp256(_mm256_mul_ps(_mm256_sub_ps(_mm256_load_ps(s + j), m), sc)),
                                     _mm256_castsi256_ps(avx2::firstLanes(L - j)));
      sum = _mm256_add_ps(sum, e);
      _mm256_store_ps(s + j, e);
    }
    rinv[i] = gate / avx2::hsum(sum);
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
      const float* in = row + h * d;
      float* out = dst + (h * L + t) * d;
      int64_t e = 0;
      for (; e + 8 <= d; e += 8) _mm256_storeu_ps(out + e, _mm256_loadu_ps(in + e));
      for (; e < d; ++e) out[e] = in[e];
    }
  }
}

void coreAvx2(const TwinCoreArgs& a, int64_t s, float* scratch) {
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

TwinCoreFn twinCoreAvx2() { return coreAvx2; }

}  // namespace sotr

#else

namespace sotr {
TwinCoreFn twinCoreAvx2() { return nullptr; }
}  // namespace sotr

#endif
