// Standalone test of sotr::gemmF32 against a naive double-precision reference.
//
// Pass criterion per case: NMSE = sum (out - ref)^2 / sum ref^2 <= 1e-10 (fp32
// accumulation of K <= 2304 random terms gives ~eps^2 * K / 2 ~ 5e-12), plus
// every element finite where the reference is, and no byte of C outside the
// M x N windows (ldc padding, guard zone after the buffer) touched. C is
// poisoned with NaN before each call. Every compiled SIMD level the CPU
// supports is run (direct API), plus a check that SOTR_CPU_SIMD is honoured.
// Precision::BF16 (testBf16): against the same reference with the operands
// rounded to bfloat16 first (the products are then exact, so the bound is the
// same), where the CPU has AVX512-BF16; elsewhere it must equal float32.
// Exit status 0 only if everything passes.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.h"
#include "uniform.h"
#include "cuda/gemm_split_k.h"
#include "gemm/gemm_cpu.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

using sotr::Activation;
using sotr::GemmArgs;
using sotr::SimdLevel;

namespace {

constexpr double kNmseBound = 1e-10;
constexpr uint32_t kPoisonBits = 0x7fc0dead;  // a quiet NaN with a payload we can recognise

std::mt19937_64 g_rng(12345);

float poison() {
  float f;
  std::memcpy(&f, &kPoisonBits, 4);
  return f;
}
bool isPoison(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u == kPoisonBits;
}

int64_t rnd(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(g_rng); }
float rndf() { return uniformFloat(g_rng); }

// float32 -> bfloat16 -> float32, round to nearest even (finite inputs).
float toBf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

std::vector<float> randVec(int64_t n) {
  std::vector<float> v(n);
  for (auto& x : v) x = rndf();
  return v;
}

// A test problem owning its buffers; args() points into them.
struct Problem {
  int64_t M = 1, N = 1, K = 1, batch = 1;
  bool transA = false, transB = false;
  int64_t lda = 0, ldb = 0, ldc = 0, ldr = 0;
  int64_t strideA = 0, strideB = 0, strideC = 0, strideR = 0;
  bool bias = false, scale = false, shift = false, residual = false, residualAliasC = false;
  int axis = 0;
  float alpha = 1.f, beta = 1.f, slope = 0.1f;
  Activation act = Activation::None;
  bool bf16Operands = false;  // reference rounds A and B to bfloat16 (round to nearest even)
  std::vector<float> A, B, C, R, bv, sv, hv, C0;  // C0: residual copy when aliasing
  int64_t cSize = 0;
  static constexpr int64_t kGuard = 64;

  std::string describe() const {
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "M=%lld N=%lld K=%lld batch=%lld tA=%d tB=%d lda=%lld ldb=%lld ldc=%lld sA=%lld sB=%lld sC=%lld "
                  "bias=%d scale=%d shift=%d axis=%d alpha=%g res=%d(alias=%d, ldr=%lld sR=%lld beta=%g) act=%d",
                  (long long)M, (long long)N, (long long)K, (long long)batch, transA, transB, (long long)lda,
                  (long long)ldb, (long long)ldc, (long long)strideA, (long long)strideB, (long long)strideC, bias,
                  scale, shift, axis, alpha, residual, residualAliasC, (long long)ldr, (long long)strideR, beta,
                  (int)act);
    return buf;
  }

  void build(bool broadcastA, bool broadcastB, bool broadcastR) {
    const int64_t aRows = transA ? K : M, aCols = transA ? M : K;
    const int64_t bRows = transB ? N : K, bCols = transB ? K : N;
    if (lda == 0) lda = std::max<int64_t>(1, aCols + rnd(0, 1) * rnd(1, 9));
    if (ldb == 0) ldb = std::max<int64_t>(1, bCols + rnd(0, 1) * rnd(1, 9));
    if (ldc == 0) ldc = N + rnd(0, 1) * rnd(1, 9);
    const int64_t aSize = std::max<int64_t>(1, (aRows - 1) * lda + aCols);
    const int64_t bSize = std::max<int64_t>(1, (bRows - 1) * ldb + bCols);
    const int64_t cOne = (M - 1) * ldc + N;
    strideA = broadcastA ? 0 : aSize + rnd(0, 5);
    strideB = broadcastB ? 0 : bSize + rnd(0, 5);
    strideC = cOne + rnd(0, 5);
    A = randVec(aSize + strideA * (batch - 1));
    B = randVec(bSize + strideB * (batch - 1));
    cSize = cOne + strideC * (batch - 1);
    C.assign(cSize + kGuard, poison());
    const int64_t chans = axis == 0 ? M : N;
    if (bias) bv = randVec(chans);
    if (scale) sv = randVec(chans);
    if (shift) hv = randVec(chans);
    if (residual) {
      if (residualAliasC) {
        // In-place residual: out = f(A*B) + out. C holds the residual values.
        ldr = ldc;
        strideR = strideC;
        for (int64_t i = 0; i < cSize; ++i) C[i] = rndf();
        C0 = C;
      } else {
        ldr = N + rnd(0, 3);
        const int64_t rOne = (M - 1) * ldr + N;
        strideR = broadcastR ? 0 : rOne + rnd(0, 3);
        R = randVec(rOne + strideR * (batch - 1));
      }
    }
  }

  GemmArgs args() {
    GemmArgs g;
    g.M = M, g.N = N, g.K = K;
    g.A = A.data(), g.lda = lda, g.transA = transA;
    g.B = B.data(), g.ldb = ldb, g.transB = transB;
    g.C = C.data(), g.ldc = ldc;
    g.batch = batch, g.strideA = strideA, g.strideB = strideB, g.strideC = strideC;
    if (bias) g.ep.bias = bv.data();
    if (scale) g.ep.scale = sv.data();
    if (shift) g.ep.shift = hv.data();
    g.ep.channelAxis = axis;
    g.ep.alpha = alpha;
    if (residual) {
      g.ep.residual = residualAliasC ? C.data() : R.data();
      g.ep.ldr = ldr;
      g.ep.strideR = strideR;
      g.ep.beta = beta;
    }
    g.ep.act = act;
    g.ep.slope = slope;
    return g;
  }

  // Resets C to its pre-call state (poison, or the residual when aliased).
  void resetC() {
    if (residualAliasC) C = C0;
    else std::fill(C.begin(), C.end(), poison());
  }

  double refAt(int64_t b, int64_t i, int64_t j) const {
    const float* Ab = A.data() + b * strideA;
    const float* Bb = B.data() + b * strideB;
    double acc = 0;
    for (int64_t k = 0; k < K; ++k) {
      const float a = transA ? Ab[k * lda + i] : Ab[i * lda + k];
      const float bb = transB ? Bb[j * ldb + k] : Bb[k * ldb + j];
      acc += bf16Operands ? double(toBf16(a)) * double(toBf16(bb)) : double(a) * double(bb);
    }
    const int64_t ch = axis == 0 ? i : j;
    double v = acc;
    if (bias) v += bv[ch];
    if (scale) v *= sv[ch];
    if (shift) v += hv[ch];
    v *= alpha;
    if (residual) v += double(beta) * (residualAliasC ? C0[b * strideC + i * ldc + j] : R[b * strideR + i * ldr + j]);
    switch (act) {
      case Activation::Relu: v = v > 0 ? v : 0; break;
      case Activation::LeakyRelu: v = v > 0 ? v : v * slope; break;
      case Activation::Sigmoid: v = 1.0 / (1.0 + std::exp(-v)); break;
      default: break;
    }
    return v;
  }

  // Returns an empty string when C matches the reference, else a reason.
  std::string check() const {
    double num = 0, den = 0;
    std::vector<char> inside(cSize, 0);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          const int64_t idx = b * strideC + i * ldc + j;
          inside[idx] = 1;
          const double r = refAt(b, i, j);
          const float o = C[idx];
          if (!std::isfinite(o)) {
            char buf[128];
            std::snprintf(buf, sizeof buf, "non-finite output %g at b=%lld i=%lld j=%lld", o, (long long)b,
                          (long long)i, (long long)j);
            return buf;
          }
          num += (o - r) * (o - r);
          den += r * r;
        }
    for (int64_t idx = 0; idx < cSize; ++idx)
      if (!inside[idx] && !residualAliasC && !isPoison(C[idx])) return "wrote outside the M x N window at offset " + std::to_string(idx);
    for (int64_t idx = cSize; idx < cSize + kGuard; ++idx)
      if (!isPoison(C[idx])) return "wrote past the end of C";
    const double nmse = den > 0 ? num / den : num;
    if (!(nmse <= kNmseBound)) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "NMSE %.3e > %.0e", nmse, kNmseBound);
      return buf;
    }
    return "";
  }
};

std::vector<SimdLevel> levelsToTest() {
  std::vector<SimdLevel> out;
  for (SimdLevel l : sotr::compiledSimdVariants())
    if (static_cast<int>(l) <= static_cast<int>(sotr::maxSimdLevel())) out.push_back(l);
  return out;
}

void runAndCheck(Problem& p, SimdLevel level, sotr::ThreadPool* pool, const std::string& tag) {
  p.resetC();
  std::string err;
  try {
    sotr::gemmF32(p.args(), pool, level);
    err = p.check();
  } catch (const std::exception& e) {
    err = std::string("threw: ") + e.what();
  }
  check(err.empty(), tag + " [" + sotr::simdLevelName(level) + ", " +
                          (pool ? std::to_string(pool->size()) + " thr" : "serial") + "] " + p.describe() + ": " + err);
}

Problem randomProblem(const std::vector<int64_t>& sizes, int64_t maxBatch) {
  Problem p;
  p.M = sizes[rnd(0, sizes.size() - 1)];
  p.N = sizes[rnd(0, sizes.size() - 1)];
  p.K = sizes[rnd(0, sizes.size() - 1)];
  p.batch = rnd(1, maxBatch);
  p.transA = rnd(0, 1);
  p.transB = rnd(0, 1);
  p.axis = static_cast<int>(rnd(0, 1));
  p.bias = rnd(0, 1);
  p.scale = rnd(0, 1);
  p.shift = rnd(0, 1);
  p.alpha = rnd(0, 2) == 0 ? 0.75f : 1.f;
  p.residual = rnd(0, 2) == 0;
  p.residualAliasC = p.residual && rnd(0, 3) == 0;
  p.beta = rnd(0, 1) ? 1.f : -0.5f;
  p.act = static_cast<Activation>(rnd(0, 3));
  p.slope = 0.2f;
  p.build(p.batch > 1 && rnd(0, 2) == 0, p.batch > 1 && rnd(0, 2) == 0, p.batch > 1 && rnd(0, 2) == 0);
  return p;
}

void testRandom(sotr::ThreadPool& pool2, sotr::ThreadPool& pool3) {
  const std::vector<int64_t> sizes{1, 2, 3, 5, 7, 8, 11, 12, 13, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 96, 127, 129, 255};
  for (int it = 0; it < 150; ++it) {
    Problem p = randomProblem(sizes, 3);
    for (SimdLevel l : levelsToTest()) {
      runAndCheck(p, l, nullptr, "random#" + std::to_string(it));
      if (it % 3 == 0) runAndCheck(p, l, &pool2, "random#" + std::to_string(it));
    }
  }
  // Bigger ones: several K blocks, N blocks and the parallel paths.
  const std::vector<int64_t> big{1, 13, 100, 255, 385, 600, 1000};
  for (int it = 0; it < 12; ++it) {
    Problem p = randomProblem(big, 2);
    for (SimdLevel l : levelsToTest()) {
      runAndCheck(p, l, &pool2, "big#" + std::to_string(it));
      if (it % 4 == 0) runAndCheck(p, l, &pool3, "big#" + std::to_string(it));
    }
  }
}

// Every epilogue feature alone and all together, both channel axes, on a shape
// with partial microtiles in both directions.
void testEpilogues() {
  for (int axis = 0; axis < 2; ++axis)
    for (int feat = 0; feat < 9; ++feat) {
      Problem p;
      p.M = 37, p.N = 45, p.K = 70, p.batch = 2, p.axis = axis;
      p.bias = feat == 0 || feat == 8;
      p.scale = feat == 1 || feat == 8;
      p.shift = feat == 2 || feat == 8;
      if (feat == 3 || feat == 8) p.alpha = -1.5f;
      p.residual = feat == 4 || feat == 8;
      p.beta = feat == 8 ? 0.5f : 1.f;
      p.act = feat == 5 ? Activation::Relu : feat == 6 || feat == 8 ? Activation::LeakyRelu
                                              : feat == 7 ? Activation::Sigmoid : Activation::None;
      p.build(false, false, false);
      for (SimdLevel l : levelsToTest()) runAndCheck(p, l, nullptr, "epilogue feat=" + std::to_string(feat));
    }
}

void testSpecial(sotr::ThreadPool& pool2, sotr::ThreadPool& pool3) {
  auto all = [&](Problem& p, const std::string& tag) {
    for (SimdLevel l : levelsToTest()) {
      runAndCheck(p, l, nullptr, tag);
      runAndCheck(p, l, &pool2, tag);
      runAndCheck(p, l, &pool3, tag);
    }
  };
  {  // conv-like: K = 2304 (several K blocks), in-place residual, ReLU
    Problem p;
    p.M = 70, p.N = 300, p.K = 2304, p.bias = true, p.residual = true, p.residualAliasC = true, p.act = Activation::Relu;
    p.build(false, false, false);
    all(p, "conv-like K=2304 in-place residual");
  }
  {  // tall: splits M across threads
    Problem p;
    p.M = 1000, p.N = 20, p.K = 300, p.transA = true, p.scale = true, p.shift = true, p.axis = 1;
    p.build(false, false, false);
    all(p, "tall M-split");
  }
  {  // wide: splits N, N not a multiple of any NR, more than one N block
    Problem p;
    p.M = 50, p.N = 3001, p.K = 100, p.bias = true, p.act = Activation::LeakyRelu;
    p.build(false, false, false);
    all(p, "wide N-split");
  }
  {  // batch broadcast (strideA = strideB = 0), residual broadcast, parallel over batch
    Problem p;
    p.M = 84, p.N = 84, p.K = 32, p.batch = 9, p.transB = true, p.residual = true;
    p.build(true, true, true);
    all(p, "batch broadcast");
  }
  {  // batch of 3 mid-size items on 2 threads: each item split across the pool
    Problem p;
    p.M = 200, p.N = 300, p.K = 150, p.batch = 3, p.bias = true, p.axis = 1;
    p.build(true, false, false);
    all(p, "batch 3 item-parallel");
  }
  {  // packed-A budget exceeded: rows are packed in blocks
    Problem p;
    p.M = 2100, p.N = 19, p.K = 2100, p.bias = true;
    p.build(false, false, false);
    for (SimdLevel l : levelsToTest()) runAndCheck(p, l, &pool2, "row-blocked packed A");
  }
  {  // K = 0: C = epilogue(0)
    Problem p;
    p.M = 5, p.N = 6, p.K = 0, p.bias = true, p.residual = true, p.act = Activation::Relu;
    p.build(false, false, false);
    all(p, "K=0");
  }
  {  // M = 1 / N = 1 (GEMV-like)
    Problem p;
    p.M = 1, p.N = 513, p.K = 77;
    p.build(false, false, false);
    all(p, "M=1");
    Problem q;
    q.M = 513, q.N = 1, q.K = 77, q.transA = true, q.transB = true;
    q.build(false, false, false);
    all(q, "N=1");
  }
  {  // A and B read in place over several K blocks (accumulating in C), N not a
     // multiple of 4: in-place B edge columns, partial row panels of 5 and 4 rows
    Problem p;
    p.M = 45, p.N = 27, p.K = 1000, p.bias = true, p.residual = true, p.act = Activation::Relu;
    p.build(false, false, false);
    all(p, "in-place A and B, several K blocks");
    Problem q;
    q.M = 44, q.N = 30, q.K = 700, q.transA = true, q.axis = 1, q.scale = true, q.residual = true,
    q.residualAliasC = true, q.act = Activation::LeakyRelu;
    q.build(false, false, false);
    all(q, "in-place A^T and B, several K blocks");
  }
}

// Same inputs with 1, 2, 3 threads and serial: bitwise identical outputs.
void testDeterminism(sotr::ThreadPool& pool2, sotr::ThreadPool& pool3) {
  sotr::ThreadPool pool1(1);
  Problem p;
  p.M = 301, p.N = 517, p.K = 801, p.batch = 2, p.bias = true, p.act = Activation::Relu;
  p.build(false, false, false);
  for (SimdLevel l : levelsToTest()) {
    std::vector<std::vector<float>> outs;
    for (sotr::ThreadPool* pool : {(sotr::ThreadPool*)nullptr, &pool1, &pool2, &pool3}) {
      p.resetC();
      sotr::gemmF32(p.args(), pool, l);
      outs.push_back(p.C);
    }
    bool same = true;
    for (auto& o : outs) same = same && std::memcmp(o.data(), outs[0].data(), o.size() * 4) == 0;
    check(same, std::string("determinism across thread counts [") + sotr::simdLevelName(l) + "]");
  }
}

// Pre-packed A and/or B give bitwise the same result as packing on the fly.
void testPacked(sotr::ThreadPool& pool2) {
  for (int tA = 0; tA < 2; ++tA)
    for (int tB = 0; tB < 2; ++tB) {
      Problem p;
      p.M = 133, p.N = 250, p.K = 900, p.transA = tA, p.transB = tB, p.batch = 2, p.bias = true, p.axis = 1;
      p.build(true, true, false);
      for (SimdLevel l : levelsToTest()) {
        p.resetC();
        sotr::gemmF32(p.args(), &pool2, l);
        const std::vector<float> want = p.C;
        sotr::PackedMatrix pa = sotr::packA(p.A.data(), p.lda, p.transA, p.M, p.K, l, &pool2);
        sotr::PackedMatrix pb = sotr::packB(p.B.data(), p.ldb, p.transB, p.K, p.N, l, nullptr);
        check(pa.level() == l && pb.level() == l, "packed level recorded");
        const sotr::PackedMatrix* choices[3][2] = {{&pa, nullptr}, {nullptr, &pb}, {&pa, &pb}};
        for (auto& ch : choices)
          for (sotr::ThreadPool* pool : {(sotr::ThreadPool*)nullptr, &pool2}) {
            p.resetC();
            std::string err;
            try {
              sotr::gemmF32Packed(p.args(), ch[0], ch[1], pool);
              err = p.check();
              if (err.empty() && std::memcmp(p.C.data(), want.data(), want.size() * 4) != 0) err = "differs from unpacked";
            } catch (const std::exception& e) {
              err = e.what();
            }
            check(err.empty(), std::string("packed [") + sotr::simdLevelName(l) + "] A=" + (ch[0] ? "packed" : "raw") +
                                    " B=" + (ch[1] ? "packed" : "raw") + " tA=" + std::to_string(tA) +
                                    " tB=" + std::to_string(tB) + ": " + err);
          }
      }
    }
}

// Precision::BF16: the random and big shapes of testRandom (every layout,
// epilogue, K split, the in-place A and B paths), packed operands, and a check
// that the products really were rounded.
void testBf16(sotr::ThreadPool& pool2, sotr::ThreadPool& pool3) {
  const bool bf16 = sotr::cpuGemmPrecision(sotr::Precision::BF16, SimdLevel::AVX512) == sotr::Precision::BF16;
  std::printf("bfloat16 kernels: %s\n", bf16 ? "yes (AVX512-BF16)" : "no (BF16 computes in float32)");
  check(sotr::cpuGemmPrecision(sotr::Precision::BF16, SimdLevel::AVX2) == sotr::Precision::FP32, "BF16 below AVX-512 is FP32");
  check(sotr::cpuGemmPrecision(sotr::Precision::TF32, SimdLevel::AVX512) == sotr::Precision::FP32, "TF32 on the CPU is FP32");
  const SimdLevel top = sotr::maxSimdLevel();
  auto run = [&](Problem& p, sotr::ThreadPool* pool, const std::string& tag) {
    p.bf16Operands = bf16;
    p.resetC();
    std::string err;
    try {
      sotr::gemmF32(p.args(), pool, top, sotr::Precision::BF16);
      err = p.check();
    } catch (const std::exception& e) {
      err = std::string("threw: ") + e.what();
    }
    check(err.empty(), "bf16 " + tag + " [" + (pool ? std::to_string(pool->size()) + " thr" : "serial") + "] " + p.describe() + ": " + err);
  };
  const std::vector<int64_t> sizes{1, 2, 3, 5, 7, 8, 11, 12, 13, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 96, 127, 129, 255};
  for (int it = 0; it < 100; ++it) {
    Problem p = randomProblem(sizes, 3);
    run(p, nullptr, "random#" + std::to_string(it));
    if (it % 3 == 0) run(p, &pool2, "random#" + std::to_string(it));
  }
  const std::vector<int64_t> big{1, 13, 100, 255, 385, 600, 1000};
  for (int it = 0; it < 10; ++it) {
    Problem p = randomProblem(big, 2);
    run(p, &pool2, "big#" + std::to_string(it));
    if (it % 4 == 0) run(p, &pool3, "big#" + std::to_string(it));
  }
  // Rounded for real: against the unrounded reference the error is bfloat16's.
  if (bf16) {
    Problem p;
    p.M = 40, p.N = 70, p.K = 300;
    p.build(false, false, false);
    p.resetC();
    sotr::gemmF32(p.args(), nullptr, top, sotr::Precision::BF16);
    double num = 0, den = 0;
    for (int64_t i = 0; i < p.M; ++i)
      for (int64_t j = 0; j < p.N; ++j) {
        const double r = p.refAt(0, i, j), o = p.C[i * p.ldc + j];
        num += (o - r) * (o - r);
        den += r * r;
      }
    check(num / den > 1e-8 && num / den < 1e-4, "bf16 products are rounded (NMSE against float32 " + std::to_string(num / den) + ")");
  }
  // Packed operands carry their precision; the kernels follow them.
  for (int tA = 0; tA < 2; ++tA)
    for (int tB = 0; tB < 2; ++tB) {
      Problem p;
      p.M = 133, p.N = 250, p.K = 901, p.transA = tA, p.transB = tB, p.batch = 2, p.bias = true, p.axis = 1;
      p.build(true, true, false);
      p.bf16Operands = bf16;
      p.resetC();
      sotr::gemmF32(p.args(), &pool2, top, sotr::Precision::BF16);
      const std::vector<float> want = p.C;
      sotr::PackedMatrix pa = sotr::packA(p.A.data(), p.lda, p.transA, p.M, p.K, top, &pool2, sotr::Precision::BF16);
      sotr::PackedMatrix pb = sotr::packB(p.B.data(), p.ldb, p.transB, p.K, p.N, top, nullptr, sotr::Precision::BF16);
      check(pa.precision() == (bf16 ? sotr::Precision::BF16 : sotr::Precision::FP32) && pb.precision() == pa.precision(),
             "packed precision recorded");
      const sotr::PackedMatrix* choices[3][2] = {{&pa, nullptr}, {nullptr, &pb}, {&pa, &pb}};
      for (auto& ch : choices) {
        p.resetC();
        std::string err;
        try {
          sotr::gemmF32Packed(p.args(), ch[0], ch[1], &pool2);
          err = p.check();
          if (err.empty() && std::memcmp(p.C.data(), want.data(), want.size() * 4) != 0) err = "differs from unpacked";
        } catch (const std::exception& e) {
          err = e.what();
        }
        check(err.empty(), std::string("bf16 packed A=") + (ch[0] ? "packed" : "raw") + " B=" + (ch[1] ? "packed" : "raw") +
                                " tA=" + std::to_string(tA) + " tB=" + std::to_string(tB) + ": " + err);
      }
      if (bf16) {
        sotr::PackedMatrix pb32 = sotr::packB(p.B.data(), p.ldb, p.transB, p.K, p.N, top, nullptr);
        bool threw = false;
        try {
          sotr::gemmF32Packed(p.args(), &pa, &pb32, nullptr);
        } catch (const std::invalid_argument&) {
          threw = true;
        }
        check(threw, "bf16 A with float32 B is refused");
      }
    }
}

void testValidation() {
  std::vector<float> buf(1000, 1.f);
  auto base = [&] {
    GemmArgs g;
    g.M = 4, g.N = 5, g.K = 6;
    g.A = buf.data(), g.lda = 6;
    g.B = buf.data(), g.ldb = 5;
    g.C = buf.data() + 500, g.ldc = 5;
    return g;
  };
  auto throws = [&](const std::function<void(GemmArgs&)>& mutate, const char* what) {
    GemmArgs g = base();
    mutate(g);
    bool threw = false;
    try {
      sotr::gemmF32(g, nullptr);
    } catch (const std::invalid_argument& e) {
      threw = true;
      if (std::getenv("GEMM_TEST_VERBOSE")) std::printf("  ok (%s): %s\n", what, e.what());
    }
    check(threw, std::string("validation: ") + what);
  };
  throws([](GemmArgs& g) { g.M = -1; }, "negative M");
  throws([](GemmArgs& g) { g.ldc = 4; }, "ldc < N");
  throws([](GemmArgs& g) { g.lda = 5; }, "lda < K");
  throws([](GemmArgs& g) { g.transA = true, g.lda = 3; }, "lda < M with transA");
  throws([](GemmArgs& g) { g.ldb = 4; }, "ldb < N");
  throws([](GemmArgs& g) { g.transB = true, g.ldb = 5; }, "ldb < K with transB");
  throws([](GemmArgs& g) { g.A = nullptr; }, "null A");
  throws([](GemmArgs& g) { g.C = nullptr; }, "null C");
  throws([](GemmArgs& g) { g.batch = 2, g.strideC = 0; }, "strideC 0 with batch 2");
  throws([](GemmArgs& g) { g.ep.channelAxis = 2; }, "channelAxis 2");
  throws([](GemmArgs& g) { g.ep.residual = g.A, g.ep.ldr = 3; }, "ldr < N");
  // Must NOT throw: M == 0 (no-op), transA with lda >= M.
  GemmArgs ok = base();
  ok.transA = true;
  ok.lda = 4;
  bool threw = false;
  try {
    sotr::gemmF32(ok, nullptr);
    GemmArgs z = base();
    z.M = 0;
    z.C = nullptr;
    sotr::gemmF32(z, nullptr);
  } catch (const std::exception&) {
    threw = true;
  }
  check(!threw, "valid transA lda=M and M=0 accepted");

  // Packed operands that do not fit the call are rejected.
  sotr::PackedMatrix pa = sotr::packA(buf.data(), 6, false, 4, 6);
  sotr::PackedMatrix pb = sotr::packB(buf.data(), 5, false, 6, 5);
  auto packedThrows = [&](const GemmArgs& g, const sotr::PackedMatrix* a, const sotr::PackedMatrix* b, const char* what) {
    bool t = false;
    try {
      sotr::gemmF32Packed(g, a, b, nullptr);
    } catch (const std::invalid_argument&) {
      t = true;
    }
    check(t, std::string("validation: ") + what);
  };
  GemmArgs g = base();
  packedThrows(g, &pb, nullptr, "packed B passed as A");
  GemmArgs g2 = base();
  g2.K = 7, g2.lda = 7;
  packedThrows(g2, &pa, nullptr, "packed A with wrong K");
  const auto levels = levelsToTest();
  if (levels.size() > 1) {
    sotr::PackedMatrix pa0 = sotr::packA(buf.data(), 6, false, 4, 6, levels[0], nullptr);
    sotr::PackedMatrix pb1 = sotr::packB(buf.data(), 5, false, 6, 5, levels[1], nullptr);
    packedThrows(base(), &pa0, &pb1, "packed A and B of different SIMD levels");
  }
}

void testEnvOverride() {
  const SimdLevel maxL = sotr::maxSimdLevel();
  for (const char* name : {"scalar", "avx2", "avx512", "AVX2", "bogus"}) {
    setenv("SOTR_CPU_SIMD", name, 1);
    sotr::resetActiveSimdLevel();
    SimdLevel want = maxL, parsed;
    if (sotr::parseSimdLevel(name, &parsed))
      want = static_cast<int>(parsed) < static_cast<int>(maxL) ? parsed : maxL;
    check(sotr::activeSimdLevel() == want, std::string("SOTR_CPU_SIMD=") + name + " -> " +
                                                sotr::simdLevelName(sotr::activeSimdLevel()));
  }
  unsetenv("SOTR_CPU_SIMD");
  sotr::resetActiveSimdLevel();
  check(sotr::activeSimdLevel() == maxL, "unset SOTR_CPU_SIMD -> max level");
  // The plain entry point follows the active level: compare to the explicit one bitwise.
  Problem p;
  p.M = 40, p.N = 70, p.K = 50;
  p.build(false, false, false);
  for (SimdLevel l : levelsToTest()) {
    sotr::setActiveSimdLevel(l);
    p.resetC();
    sotr::gemmF32(p.args(), nullptr);
    std::vector<float> a = p.C;
    p.resetC();
    sotr::gemmF32(p.args(), nullptr, l);
    check(std::memcmp(a.data(), p.C.data(), a.size() * 4) == 0,
           std::string("gemmF32 follows setActiveSimdLevel(") + sotr::simdLevelName(l) + ")");
  }
  sotr::resetActiveSimdLevel();
}

}  // namespace

// The CUDA GEMM core's split-K choice is plain C++: checked here, where no GPU is.
void testSplitKChoice() {
  using sotr::cuda::gemm_core::choose_split_k;
  const int64_t slots = 132 * 3, ws = int64_t(8) << 20;
  // twin 3x3 256->256 at 12x24, SIMT small tiles: 4 x 5 tiles, K 2304 = 288 k-tiles of 8.
  auto c = choose_split_k(20, 288, slots, 16, 256 * 288, ws, -1);
  check(c.splits == 18 && c.kTilesPerSplit == 16, "split-K: 20 tiles, 288 k-tiles -> 18 x 16");
  // Every k-tile is walked exactly once, none of the splits is empty.
  for (int kTiles : {2, 7, 16, 17, 33, 100, 288, 1000})
    for (int64_t tiles : {1, 3, 20, 100, 198}) {
      const auto d = choose_split_k(tiles, kTiles, slots, 4, 1 << 16, ws, -1);
      const bool cover = d.splits >= 1 && int64_t(d.splits) * d.kTilesPerSplit >= kTiles &&
                         int64_t(d.splits - 1) * d.kTilesPerSplit < kTiles;
      check(cover, "split-K covers K: tiles " + std::to_string(tiles) + ", k-tiles " + std::to_string(kTiles));
      check(d.splits == 1 || kTiles / d.splits >= 4 - 1, "split-K keeps enough depth per split");
    }
  check(choose_split_k(199, 288, slots, 16, 1 << 16, ws, -1).splits == 1, "split-K off above half the slots");
  check(choose_split_k(20, 20, slots, 16, 1 << 16, ws, -1).splits == 1, "split-K off for a shallow K");
  check(choose_split_k(20, 288, slots, 16, ws / 2, ws, -1).splits == 2, "split-K bounded by the workspace");
  check(choose_split_k(20, 288, slots, 16, ws + 1, ws, -1).splits == 1, "split-K off when one copy exceeds it");
  check(choose_split_k(20, 288, slots, 16, 1 << 16, ws, 0).splits == 1, "SOTR_GEMM_SPLIT_K=0 turns it off");
  const auto f = choose_split_k(1000, 10, slots, 16, 1 << 16, ws, 3);
  check(f.splits == 3 && f.kTilesPerSplit == 4, "a forced split applies even to many tiles");
  check(choose_split_k(1, 1, slots, 1, 1, ws, 8).splits == 1, "one k-tile never splits");
}

int main() {
  std::printf("cpu max level %s, compiled:", sotr::simdLevelName(sotr::maxSimdLevel()));
  for (SimdLevel l : sotr::compiledSimdVariants()) std::printf(" %s", sotr::simdLevelName(l));
  std::printf("; testing:");
  for (SimdLevel l : levelsToTest()) std::printf(" %s", sotr::simdLevelName(l));
  std::printf("; NMSE bound %.0e\n", kNmseBound);
  sotr::ThreadPool pool2(2), pool3(3);
  testValidation();
  testEnvOverride();
  testEpilogues();
  testSpecial(pool2, pool3);
  testDeterminism(pool2, pool3);
  testPacked(pool2);
  testRandom(pool2, pool3);
  testBf16(pool2, pool3);
  testSplitKChoice();
  return checksSummary();
}
