// Self-checking test and benchmark of the CUDA GEMM core (cuda/gemm.cu).
//
// Build (from the repository root):
//   nvcc -std=c++17 -O3 -cudart static -gencode arch=compute_90,code=sm_90
//        tests/native/gemm_cuda_check.cu cuda/gemm.cu -o build-gemm/gemm_cuda_check
//
// Run: gemm_cuda_check [--no-check] [--no-bench] [--quick] [--seed N]
//   Exit 0: all checks passed; 1: a check failed or an error occurred;
//   77: no CUDA device (skip).
//
// Checks: awkward shapes, transposes, batches with broadcast, large and odd
// leading dimensions, misaligned pointers, every epilogue feature, K = 0,
// batch > 65535; each for FP32 / TF32 / BF16 / FP16 and each tile config.
// Inputs are uniform[-1, 1]; the output is poisoned with NaN first and the
// result is compared with a float64 CPU reference by NMSE (bounds: fp32 1e-10,
// tf32 1e-6, bf16 / fp16 1e-4). Elements outside the logical matrices are NaN
// too, so a read past an edge or into padding shows; any NaN / Inf in the
// result fails, and padding of C (ldc > N) must stay poisoned.
// Bench: 4096^3, 256x4096x2304, 500x67200x256 per precision and tile config,
// CUDA events, warm-up, median; one JSON line per case (also for checks).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../cuda/gemm.cuh"

using sotr::Activation;
using sotr::GemmArgs;
using sotr::Precision;
using sotr::cuda::GemmTile;

namespace {

#define CHECK_CUDA(call)                                                                    \
  do {                                                                                      \
    cudaError_t e_ = (call);                                                                \
    if (e_ != cudaSuccess) {                                                                \
      std::fprintf(stderr, "CUDA error %s at %s:%d: %s\n", cudaGetErrorString(e_), __FILE__, \
                   __LINE__, #call);                                                        \
      std::exit(1);                                                                         \
    }                                                                                       \
  } while (0)

const char* precName(Precision p) {
  switch (p) {
    case Precision::FP32: return "fp32";
    case Precision::TF32: return "tf32";
    case Precision::BF16: return "bf16";
    default: return "fp16";
  }
}
const char* tileName(GemmTile t) {
  switch (t) {
    case GemmTile::Large: return "large";
    case GemmTile::Small: return "small";
    default: return "auto";
  }
}
double bound(Precision p) {
  switch (p) {
    case Precision::FP32: return 1e-10;
    case Precision::TF32: return 1e-6;
    default: return 1e-4;
  }
}

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x1234567ull) {}
  uint64_t next() {
    s += 0x9E3779B97F4A7C15ull;
    uint64_t z = s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uni() { return static_cast<float>((next() >> 40) * (2.0 / 16777216.0) - 1.0); }  // [-1,1)
};

const float kNaN = std::numeric_limits<float>::quiet_NaN();
uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
const uint32_t kPoisonBits = 0x7fc0dead;
float poison() {
  float f;
  std::memcpy(&f, &kPoisonBits, 4);
  return f;
}

struct Case {
  std::string name;
  int64_t M, N, K, batch = 1;
  bool tA = false, tB = false;
  int64_t padA = 0, padB = 0, padC = 0;  // extra leading-dimension elements
  int64_t offA = 0, offB = 0, offC = 0;  // element offsets of the base pointers
  bool bcastA = false, bcastB = false;   // batch stride 0
  // epilogue
  bool bias = false, scale = false, shift = false;
  int axis = 0;
  float alpha = 1.f;
  bool residual = false, bcastR = false, inplaceR = false;
  int64_t padR = 0;
  float beta = 1.f;
  Activation act = Activation::None;
  float slope = 0.01f;
};

// Host copy of an operand: storage rows x cols with leading dim ld, nb batches.
struct HostMat {
  std::vector<float> buf;  // includes offset
  int64_t off = 0, ld = 0, stride = 0, rows = 0, cols = 0, nb = 1;
  float at(int64_t b, int64_t r, int64_t c) const {
    return buf[off + b * stride + r * ld + c];
  }
};

HostMat makeMat(Rng& rng, int64_t rows, int64_t cols, int64_t ld, int64_t nb, bool bcast,
                int64_t off, bool fill) {
  HostMat m;
  m.rows = rows;
  m.cols = cols;
  m.ld = ld;
  m.nb = bcast ? 1 : nb;
  m.stride = bcast ? 0 : rows * ld + 3;  // +3: batch stride not a multiple of the tile/vector
  if (m.nb > 1 && (ld % 4) == 0) m.stride = rows * ld + 4;  // keep 16-byte alignment when ld allows
  m.off = off;
  const int64_t size = off + (m.nb - 1) * m.stride + rows * ld + 8;
  m.buf.assign(static_cast<size_t>(std::max<int64_t>(size, 1)), kNaN);
  if (fill)
    for (int64_t b = 0; b < m.nb; ++b)
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) m.buf[off + b * m.stride + r * ld + c] = rng.uni();
  return m;
}

struct DevBuf {
  float* p = nullptr;
  size_t n = 0;
  explicit DevBuf(const std::vector<float>& h) : n(h.size()) {
    CHECK_CUDA(cudaMalloc(&p, std::max<size_t>(n, 1) * sizeof(float)));
    if (n) CHECK_CUDA(cudaMemcpy(p, h.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  ~DevBuf() { cudaFree(p); }
};

double applyEpRef(const Case& c, double acc, double bias, double scale, double shift, double res) {
  double v = acc;
  if (c.bias) v += bias;
  if (c.scale) v *= scale;
  if (c.shift) v += shift;
  v *= c.alpha;
  if (c.residual) v += static_cast<double>(c.beta) * res;
  switch (c.act) {
    case Activation::Relu: v = v > 0 ? v : 0; break;
    case Activation::LeakyRelu: v = v > 0 ? v : v * c.slope; break;
    case Activation::Sigmoid: v = 1.0 / (1.0 + std::exp(-v)); break;
    default: break;
  }
  return v;
}

std::string jsonEsc(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\';
    o += ch;
  }
  return o;
}

int g_failures = 0, g_checks = 0;
std::string g_device;

// Runs one case for the given precisions and tiles; returns failures.
void runCase(const Case& c, uint64_t seed, const std::vector<Precision>& precs,
             const std::vector<GemmTile>& tiles) {
  Rng rng(seed);
  const int64_t M = c.M, N = c.N, K = c.K, B = c.batch;
  // A stored (tA ? K x M : M x K); B stored (tB ? N x K : K x N).
  const int64_t aRows = c.tA ? K : M, aCols = c.tA ? M : K;
  const int64_t bRows = c.tB ? N : K, bCols = c.tB ? K : N;
  HostMat A = makeMat(rng, aRows, aCols, aCols + c.padA, B, c.bcastA, c.offA, true);
  HostMat Bm = makeMat(rng, bRows, bCols, bCols + c.padB, B, c.bcastB, c.offB, true);
  const int64_t chN = c.axis == 0 ? M : N;
  std::vector<float> bias(chN), scale(chN), shift(chN);
  for (auto& v : bias) v = rng.uni();
  for (auto& v : scale) v = 0.5f + 0.5f * rng.uni();
  for (auto& v : shift) v = rng.uni();
  const int64_t ldc = N + c.padC;
  const int64_t strideC = M * ldc + ((ldc % 4) == 0 ? 4 : 1);
  const int64_t cSize = c.offC + (B - 1) * strideC + M * ldc + 8;
  HostMat R;
  if (c.residual && !c.inplaceR) R = makeMat(rng, M, N, N + c.padR, B, c.bcastR, 0, true);
  // In-place residual: C holds the residual before the call (R == C).
  std::vector<float> cInit(static_cast<size_t>(cSize), poison());
  if (c.inplaceR)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) cInit[c.offC + b * strideC + i * ldc + j] = rng.uni();

  // float64 reference
  std::vector<double> ref(static_cast<size_t>(B * M * N));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        const int64_t ab = c.bcastA ? 0 : b, bb = c.bcastB ? 0 : b;
        for (int64_t k = 0; k < K; ++k) {
          const double av = c.tA ? A.at(ab, k, i) : A.at(ab, i, k);
          const double bv = c.tB ? Bm.at(bb, j, k) : Bm.at(bb, k, j);
          s += av * bv;
        }
        const int64_t ch = c.axis == 0 ? i : j;
        double res = 0;
        if (c.residual)
          res = c.inplaceR ? cInit[c.offC + b * strideC + i * ldc + j]
                           : R.at(c.bcastR ? 0 : b, i, j);
        ref[(b * M + i) * N + j] = applyEpRef(c, s, bias[ch], scale[ch], shift[ch], res);
      }

  DevBuf dA(A.buf), dB(Bm.buf), dBias(bias), dScale(scale), dShift(shift);
  DevBuf dR(c.residual && !c.inplaceR ? R.buf : std::vector<float>());
  DevBuf dC(cInit);

  GemmArgs args;
  args.M = M;
  args.N = N;
  args.K = K;
  args.A = K ? dA.p + A.off : nullptr;
  args.lda = A.ld;
  args.transA = c.tA;
  args.B = K ? dB.p + Bm.off : nullptr;
  args.ldb = Bm.ld;
  args.transB = c.tB;
  args.C = dC.p + c.offC;
  args.ldc = ldc;
  args.batch = B;
  args.strideA = A.stride;
  args.strideB = Bm.stride;
  args.strideC = strideC;
  if (c.bias) args.ep.bias = dBias.p;
  if (c.scale) args.ep.scale = dScale.p;
  if (c.shift) args.ep.shift = dShift.p;
  args.ep.channelAxis = c.axis;
  args.ep.alpha = c.alpha;
  if (c.residual) {
    args.ep.residual = c.inplaceR ? args.C : dR.p;
    args.ep.ldr = c.inplaceR ? ldc : R.ld;
    args.ep.strideR = c.inplaceR ? strideC : R.stride;
  }
  args.ep.beta = c.beta;
  args.ep.act = c.act;
  args.ep.slope = c.slope;

  std::vector<float> out(static_cast<size_t>(cSize));
  for (Precision p : precs) {
    for (GemmTile t : tiles) {
      ++g_checks;
      CHECK_CUDA(cudaMemcpy(dC.p, cInit.data(), cSize * sizeof(float), cudaMemcpyHostToDevice));
      std::string err;
      try {
        sotr::cuda::gemm(args, p, nullptr, t);
        CHECK_CUDA(cudaDeviceSynchronize());
      } catch (const std::exception& e) {
        err = e.what();
      }
      double num = 0, den = 0, maxAbs = 0;
      int64_t bad = 0, padTouched = 0;
      if (err.empty()) {
        CHECK_CUDA(cudaMemcpy(out.data(), dC.p, cSize * sizeof(float), cudaMemcpyDeviceToHost));
        for (int64_t b = 0; b < B; ++b)
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < ldc; ++j) {
              const float g = out[c.offC + b * strideC + i * ldc + j];
              if (j >= N) {
                if (!c.inplaceR && bitsOf(g) != kPoisonBits) ++padTouched;
                continue;
              }
              if (!std::isfinite(g)) {
                ++bad;
                continue;
              }
              const double r = ref[(b * M + i) * N + j];
              num += (g - r) * (g - r);
              den += r * r;
              maxAbs = std::max(maxAbs, std::fabs(g - r));
            }
        // Gaps between batches must stay untouched.
        if (!c.inplaceR)
          for (int64_t b = 0; b + 1 < B; ++b)
            for (int64_t q = b * strideC + M * ldc; q < (b + 1) * strideC; ++q)
              if (bitsOf(out[c.offC + q]) != kPoisonBits) ++padTouched;
      }
      const double nmse = den > 0 ? num / den : num;
      const bool ok = err.empty() && bad == 0 && padTouched == 0 && nmse <= bound(p);
      if (!ok) ++g_failures;
      std::printf(
          "{\"suite\":\"gemm\",\"impl\":\"sotr-cuda\",\"kind\":\"check\",\"case\":\"%s\","
          "\"precision\":\"%s\",\"tile\":\"%s\",\"M\":%lld,\"N\":%lld,\"K\":%lld,\"batch\":%lld,"
          "\"nmse\":%.3e,\"bound\":%.0e,\"max_abs_err\":%.3e,\"nonfinite\":%lld,"
          "\"pad_written\":%lld,\"ok\":%s%s%s%s}\n",
          jsonEsc(c.name).c_str(), precName(p), tileName(t), (long long)M, (long long)N,
          (long long)K, (long long)B, nmse, bound(p), maxAbs, (long long)bad,
          (long long)padTouched, ok ? "true" : "false", err.empty() ? "" : ",\"error\":\"",
          err.empty() ? "" : jsonEsc(err).c_str(), err.empty() ? "" : "\"");
    }
  }
}

std::vector<Case> checkCases(bool quick) {
  std::vector<Case> cs;
  auto add = [&](Case c) { cs.push_back(c); };
  add({"1x1x1", 1, 1, 1});
  add({"7x13x5", 7, 13, 5});
  add({"33x65x17", 33, 65, 17});
  add({"127x255x129", 127, 255, 129});
  add({"128x128x32 exact", 128, 128, 32});
  add({"64x64x64 exact", 64, 64, 64});
  add({"200x300x1000 long K", 200, 300, 1000});
  {
    Case c{"127x255x129 transA", 127, 255, 129};
    c.tA = true;
    add(c);
    c.name = "127x255x129 transB";
    c.tA = false;
    c.tB = true;
    add(c);
    c.name = "127x255x129 transA transB";
    c.tA = true;
    add(c);
    c = Case{"70x90x45 transA transB odd ld", 70, 90, 45};
    c.tA = c.tB = true;
    c.padA = 3;
    c.padB = 5;
    c.padC = 1;
    add(c);
  }
  {
    Case c{"batch3 broadcast A", 45, 70, 33, 3};
    c.bcastA = true;
    add(c);
    c = Case{"batch3 broadcast B transB", 45, 70, 33, 3};
    c.bcastB = true;
    c.tB = true;
    add(c);
    c = Case{"batch3 aligned strides", 64, 96, 40, 3};
    c.padA = 4;
    c.padB = 8;
    c.padC = 4;
    add(c);
  }
  {
    Case c{"big ld aligned", 100, 120, 80};
    c.padA = 64;
    c.padB = 64;
    c.padC = 64;
    add(c);
    c = Case{"big ld odd", 100, 120, 80};
    c.padA = 37;
    c.padB = 13;
    c.padC = 9;
    add(c);
    c.name = "big ld odd transA transB";
    c.tA = c.tB = true;
    add(c);
    c = Case{"misaligned pointers", 96, 80, 72};
    c.offA = 1;
    c.offB = 3;
    c.offC = 1;
    add(c);
    c = Case{"misaligned pointers transA", 96, 80, 72};
    c.tA = true;
    c.offA = 2;
    c.offB = 1;
    c.offC = 2;
    add(c);
  }
  {
    Case c{"epi bias axis0 relu", 77, 150, 64};
    c.bias = true;
    c.act = Activation::Relu;
    add(c);
    c = Case{"epi bias+scale+shift axis1 leaky", 77, 150, 64};
    c.bias = c.scale = c.shift = true;
    c.axis = 1;
    c.act = Activation::LeakyRelu;
    c.slope = 0.1f;
    add(c);
    c = Case{"epi scale+shift axis0 alpha", 50, 33, 100};
    c.scale = c.shift = true;
    c.alpha = 0.5f;
    add(c);
    c = Case{"epi alpha residual sigmoid batch2", 61, 130, 48, 2};
    c.alpha = 0.5f;
    c.residual = true;
    c.padR = 5;
    c.beta = -0.7f;
    c.act = Activation::Sigmoid;
    add(c);
    c = Case{"epi residual broadcast transA transB batch3", 40, 72, 24, 3};
    c.tA = c.tB = true;
    c.residual = true;
    c.bcastR = true;
    c.padR = 4;
    c.bias = true;
    c.axis = 1;
    add(c);
    c = Case{"epi residual in place (R == C)", 64, 100, 36, 2};
    c.residual = true;
    c.inplaceR = true;
    c.beta = 2.f;
    c.padC = 3;
    add(c);
    c = Case{"K = 0 with bias", 5, 7, 0};
    c.bias = true;
    c.axis = 1;
    c.act = Activation::Sigmoid;
    add(c);
  }
  add({"skinny 1x4096x33", 1, 4096, 33});
  add({"skinny 4096x1x17", 4096, 1, 17});
  add({"3x5x1000", 3, 5, 1000});
  if (!quick) {
    add({"batch 70000 (grid.y overflow)", 2, 3, 4, 70000});
    add({"300x520x700", 300, 520, 700});
  }
  return cs;
}

// Negative API checks (std::invalid_argument expected).
void apiChecks() {
  auto expectThrow = [&](const char* what, GemmArgs a) {
    ++g_checks;
    bool threw = false;
    try {
      sotr::cuda::gemm(a, Precision::FP32, nullptr);
    } catch (const std::invalid_argument&) {
      threw = true;
    } catch (...) {
    }
    if (!threw) ++g_failures;
    std::printf("{\"suite\":\"gemm\",\"impl\":\"sotr-cuda\",\"kind\":\"api\",\"case\":\"%s\",\"ok\":%s}\n",
                what, threw ? "true" : "false");
  };
  float* dummy = reinterpret_cast<float*>(0x1000);
  GemmArgs a;
  a.M = 4;
  a.N = 4;
  a.K = 4;
  a.A = a.B = dummy;
  a.C = dummy;
  a.lda = 3;
  a.ldb = 4;
  a.ldc = 4;
  expectThrow("lda < K", a);
  a.lda = 4;
  a.ldc = 3;
  expectThrow("ldc < N", a);
  a.ldc = 4;
  a.M = -1;
  expectThrow("negative M", a);
  a.M = 4;
  a.batch = 2;
  a.strideC = 0;
  expectThrow("strideC 0 with batch 2", a);
  a.batch = 1;
  a.ep.channelAxis = 2;
  expectThrow("channelAxis 2", a);
  a.ep.channelAxis = 0;
  a.C = nullptr;
  expectThrow("null C", a);
}

struct BenchShape {
  int64_t M, N, K;
};

void runBench(int reps) {
  const BenchShape shapes[] = {{4096, 4096, 4096}, {256, 4096, 2304}, {500, 67200, 256}};
  const Precision precs[] = {Precision::FP32, Precision::TF32, Precision::BF16, Precision::FP16};
  const GemmTile tiles[] = {GemmTile::Auto, GemmTile::Large, GemmTile::Small};
  for (const BenchShape& s : shapes) {
    Rng rng(1234 + s.M + s.N);
    std::vector<float> A(s.M * s.K), B(s.K * s.N);
    for (auto& v : A) v = rng.uni();
    for (auto& v : B) v = rng.uni();
    DevBuf dA(A), dB(B);
    float* dC = nullptr;
    CHECK_CUDA(cudaMalloc(&dC, s.M * s.N * sizeof(float)));
    // Sampled float64 reference.
    const int kSamples = 256;
    std::vector<int64_t> si(kSamples), sj(kSamples);
    std::vector<double> sref(kSamples);
    for (int q = 0; q < kSamples; ++q) {
      si[q] = static_cast<int64_t>(rng.next() % s.M);
      sj[q] = static_cast<int64_t>(rng.next() % s.N);
      double acc = 0;
      for (int64_t k = 0; k < s.K; ++k)
        acc += static_cast<double>(A[si[q] * s.K + k]) * B[k * s.N + sj[q]];
      sref[q] = acc;
    }
    GemmArgs args;
    args.M = s.M;
    args.N = s.N;
    args.K = s.K;
    args.A = dA.p;
    args.lda = s.K;
    args.B = dB.p;
    args.ldb = s.N;
    args.C = dC;
    args.ldc = s.N;
    cudaEvent_t e0, e1;
    CHECK_CUDA(cudaEventCreate(&e0));
    CHECK_CUDA(cudaEventCreate(&e1));
    const double flops = 2.0 * s.M * s.N * s.K;
    for (Precision p : precs) {
      for (GemmTile t : tiles) {
        std::string err;
        double med = 0, nmse = 0;
        try {
          CHECK_CUDA(cudaMemset(dC, 0xff, s.M * s.N * sizeof(float)));  // NaN poison
          sotr::cuda::gemm(args, p, nullptr, t);
          CHECK_CUDA(cudaDeviceSynchronize());
          // sampled accuracy
          double num = 0, den = 0;
          bool nonfinite = false;
          for (int q = 0; q < kSamples; ++q) {
            float g;
            CHECK_CUDA(cudaMemcpy(&g, dC + si[q] * s.N + sj[q], 4, cudaMemcpyDeviceToHost));
            if (!std::isfinite(g)) nonfinite = true;
            num += (g - sref[q]) * (g - sref[q]);
            den += sref[q] * sref[q];
          }
          nmse = nonfinite ? INFINITY : num / den;
          sotr::cuda::gemm(args, p, nullptr, t);  // warm-up
          CHECK_CUDA(cudaEventRecord(e0));
          sotr::cuda::gemm(args, p, nullptr, t);
          CHECK_CUDA(cudaEventRecord(e1));
          CHECK_CUDA(cudaEventSynchronize(e1));
          float first = 0;
          CHECK_CUDA(cudaEventElapsedTime(&first, e0, e1));
          int n = reps;
          if (first > 0) n = std::max(3, std::min(reps, static_cast<int>(300.0 / first)));
          std::vector<float> ts(n);
          for (int r = 0; r < n; ++r) {
            CHECK_CUDA(cudaEventRecord(e0));
            sotr::cuda::gemm(args, p, nullptr, t);
            CHECK_CUDA(cudaEventRecord(e1));
            CHECK_CUDA(cudaEventSynchronize(e1));
            CHECK_CUDA(cudaEventElapsedTime(&ts[r], e0, e1));
          }
          std::sort(ts.begin(), ts.end());
          med = ts[n / 2];
        } catch (const std::exception& e) {
          err = e.what();
        }
        const bool ok = err.empty() && nmse <= bound(p);
        if (!ok) ++g_failures;
        ++g_checks;
        const double tflops = med > 0 ? flops / (med * 1e-3) / 1e12 : 0;
        std::printf(
            "{\"suite\":\"gemm\",\"impl\":\"sotr-cuda\",\"kind\":\"bench\",\"precision\":\"%s\","
            "\"tile\":\"%s\",\"M\":%lld,\"N\":%lld,\"K\":%lld,\"batch\":1,\"ms\":%.4f,"
            "\"gflops\":%.1f,\"tflops\":%.2f,\"sampled_nmse\":%.3e,\"ok\":%s,\"device\":\"%s\"%s%s%s}\n",
            precName(p), tileName(t), (long long)s.M, (long long)s.N, (long long)s.K, med,
            tflops * 1e3, tflops, nmse, ok ? "true" : "false", jsonEsc(g_device).c_str(),
            err.empty() ? "" : ",\"error\":\"", err.empty() ? "" : jsonEsc(err).c_str(),
            err.empty() ? "" : "\"");
        std::fflush(stdout);
      }
    }
    CHECK_CUDA(cudaEventDestroy(e0));
    CHECK_CUDA(cudaEventDestroy(e1));
    CHECK_CUDA(cudaFree(dC));
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool doCheck = true, doBench = true, quick = false;
  uint64_t seed = 20240607;
  int reps = 30;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--no-check") doCheck = false;
    else if (a == "--no-bench") doBench = false;
    else if (a == "--quick") quick = true;
    else if (a == "--seed" && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--no-check] [--no-bench] [--quick] [--seed N] [--reps N]\n",
                   argv[0]);
      return 2;
    }
  }
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    std::printf("no CUDA device (%s): skipping GEMM checks\n",
                e != cudaSuccess ? cudaGetErrorString(e) : "device count 0");
    return 77;
  }
  cudaDeviceProp prop{};
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  g_device = prop.name;
  const auto& info = sotr::cuda::gemm_device_info(0);
  std::printf("device: %s (sm_%d%d, %d SMs, %d KB smem opt-in), tensor-core kernels: %s, bf16/fp16 mainloop: %s\n",
              prop.name, prop.major, prop.minor, prop.multiProcessorCount,
              info.maxSmemOptin / 1024, info.tensorCores ? "yes" : "no",
              sotr::cuda::gemm_core::tc_variant_name());
  try {
    if (doCheck) {
      apiChecks();
      const std::vector<Precision> precs = {Precision::FP32, Precision::TF32, Precision::BF16,
                                            Precision::FP16};
      const std::vector<GemmTile> tiles = {GemmTile::Auto, GemmTile::Large, GemmTile::Small};
      uint64_t s = seed;
      for (const Case& c : checkCases(quick)) runCase(c, s++, precs, tiles);
    }
    if (doBench) runBench(reps);
  } catch (const std::exception& ex) {
    std::printf("FATAL: %s\n", ex.what());
    return 1;
  }
  std::printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
  return g_failures ? 1 : 0;
}
