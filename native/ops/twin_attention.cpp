// twinAttention: validation, the CPU twin (GEMM-core projections, a SIMD
// per-sequence attention core multithreaded over sequences) and the portable
// scalar core. See twin_attention.h and docs/twin-attention.md.
#include "ops/twin_attention.h"
#include "runtime/scratch.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "gemm/gemm_cpu.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

namespace sotr {

namespace {
const char* kOp = "twinAttention";

const char* kInputNames[kTwinInputCount] = {
    "x",           "weights.col.q", "weights.col.kv",  "weights.col.out", "weights.col.outBias",
    "weights.row.q", "weights.row.kv", "weights.row.out", "weights.row.outBias"};
}  // namespace

TwinPlan planTwinAttention(const OpCall& call) {
  const std::string op = kOp;
  if (call.inputs.size() != kTwinInputCount)
    fail(ErrorKind::InvalidArgument, op + ": expected 9 inputs (x and 8 weight tensors), received " +
                                         std::to_string(call.inputs.size()));
  for (int i = 0; i < kTwinInputCount; ++i) expectDType(op, kInputNames[i], call.inputs[i], DType::F32);
  const Tensor& x = call.inputs[kTwinX];
  if (x.dim() != 4) fail(ErrorKind::Shape, op + ": x must be [B, C, H, W], received " + shapeStr(x.shape));
  TwinPlan p;
  p.B = x.size(0);
  p.C = x.size(1);
  p.H = x.size(2);
  p.W = x.size(3);
  if (p.C < 1) fail(ErrorKind::Shape, op + ": x must have at least 1 channel, received " + shapeStr(x.shape));
  p.heads = call.attrs.integer(op, "heads", 8);
  if (p.heads < 1) fail(ErrorKind::Range, op + ": option 'heads' must be a positive integer, received " + std::to_string(p.heads));
  if (p.C % p.heads != 0)
    fail(ErrorKind::Shape, op + ": x channels (" + std::to_string(p.C) + ") must be divisible by heads (" +
                               std::to_string(p.heads) + "), received x " + shapeStr(x.shape));
  p.d = p.C / p.heads;
  p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.d)));
  const std::string mode = call.attrs.string(op, "mode", "parallel");
  if (mode == "parallel") p.mode = TwinMode::Parallel;
  else if (mode == "sequential") p.mode = TwinMode::Sequential;
  else fail(ErrorKind::Range, op + ": option 'mode' must be 'parallel' or 'sequential', received '" + mode + "'");
  if (!call.attrs.has("gCol")) fail(ErrorKind::InvalidArgument, op + ": weights.gCol is required (a number)");
  if (!call.attrs.has("gRow")) fail(ErrorKind::InvalidArgument, op + ": weights.gRow is required (a number)");
  p.gCol = static_cast<float>(call.attrs.number(op, "gCol", 0));
  p.gRow = static_cast<float>(call.attrs.number(op, "gRow", 0));
  const int64_t C = p.C;
  for (int dir = 0; dir < 2; ++dir) {
    const int base = dir == 0 ? kTwinColQ : kTwinRowQ;
    expectShape(op, kInputNames[base + 0], call.inputs[base + 0], {C, C});
    expectShape(op, kInputNames[base + 1], call.inputs[base + 1], {2 * C, C});
    expectShape(op, kInputNames[base + 2], call.inputs[base + 2], {C, C});
    expectShape(op, kInputNames[base + 3], call.inputs[base + 3], {C});
  }
  p.outShape = x.shape;
  return p;
}

// ---------------------------------------------------------------------------
// Portable attention core (any CPU): plain loops the compiler vectorises for
// the baseline ISA, one query row at a time (the AVX2 and AVX-512 cores block
// rows and keys in registers); same scratch size, rinv after the scores.
// ---------------------------------------------------------------------------
namespace {
int64_t roundUp16(int64_t v) { return (v + 15) / 16 * 16; }
}  // namespace

int64_t twinCoreScratchFloats(int64_t L, int64_t C) {
  const int64_t Lp = roundUp16(std::max<int64_t>(L, 1));
  return C * Lp + L * Lp + 2 * L * C + Lp + 64;
}

void twinCoreScalar(const TwinCoreArgs& a, int64_t s, float* scratch) {
  const int64_t L = a.L, C = a.C, d = a.d, Lp = roundUp16(L);
  float* Kt = scratch;        // C x Lp: K transposed (channel-major)
  float* S = Kt + C * Lp;     // L x Lp: scores, then exp
  float* rinv = S + L * Lp;   // gate / row sum
  const float* q = a.q + s * a.inSeq;
  const float* k = a.k + s * a.inSeq;
  const float* v = a.v + s * a.inSeq;
  float* o = a.o + s * a.outSeq;
  for (int64_t t = 0; t < L; ++t)
    for (int64_t c = 0; c < C; ++c) Kt[c * Lp + t] = k[t * a.inTok + c];
  for (int64_t hd = 0; hd < a.heads; ++hd) {
    const int64_t c0 = hd * d;
    for (int64_t i = 0; i < L; ++i) {
      float* Si = S + i * Lp;
      for (int64_t j = 0; j < L; ++j) Si[j] = 0.f;
      const float* qi = q + i * a.inTok + c0;
      for (int64_t e = 0; e < d; ++e) {
        const float qe = qi[e];
        const float* kt = Kt + (c0 + e) * Lp;
        for (int64_t j = 0; j < L; ++j) Si[j] += qe * kt[j];
      }
      float m = Si[0];
      for (int64_t j = 1; j < L; ++j) m = Si[j] > m ? Si[j] : m;
      float sum = 0.f;
      for (int64_t j = 0; j < L; ++j) {
        Si[j] = std::exp(a.scale * (Si[j] - m));
        sum += Si[j];
      }
      rinv[i] = a.gate / sum;
    }
    for (int64_t i = 0; i < L; ++i) {
      float* oi = o + i * a.outTok + c0;
      for (int64_t e = 0; e < d; ++e) oi[e] = 0.f;
      const float* Si = S + i * Lp;
      for (int64_t j = 0; j < L; ++j) {
        const float pj = Si[j];
        const float* vj = v + j * a.inTok + c0;
        for (int64_t e = 0; e < d; ++e) oi[e] += pj * vj[e];
      }
      for (int64_t e = 0; e < d; ++e) oi[e] *= rinv[i];
    }
  }
}

// ---------------------------------------------------------------------------
// CPU twin.
// ---------------------------------------------------------------------------
namespace {

// Large scratch buffers are freed after the call instead of kept above this.
constexpr int64_t kKeepFloats = int64_t(64) << 20;  // 256 MB
thread_local Scratch t_qkv, t_o, t_t, t_core;

// Packed weights of one weight set for one SIMD level and mode.
struct CpuTwinWeights {
  // Parallel mode: one projection GEMM and one output GEMM.
  PackedMatrix qkvCat;   // B operand, K = C, N = 6C: [colQ; colKV; rowQ; rowKV]^T
  PackedMatrix outCat;   // A operand, C x 2C: [WoutCol | WoutRow]
  // Sequential mode: one per direction.
  PackedMatrix qkv[2];   // B operands, K = C, N = 3C: [Wq; Wkv]^T of col / row
  PackedMatrix out[2];   // A operands, C x C: WoutCol, WoutRow
  int64_t bytes() const {
    int64_t b = qkvCat.bytes() + outCat.bytes();
    for (int d = 0; d < 2; ++d) b += qkv[d].bytes() + out[d].bytes();
    return b;
  }
};

// B = [Wq; Wkv]^T of the given directions, stored N x K (transposed).
PackedMatrix packQkv(const OpCall& call, int64_t C, int dir0, int ndir, SimdLevel level, Precision precision) {
  std::vector<float> cat(static_cast<size_t>(3 * C * C * ndir));
  for (int k = 0; k < ndir; ++k) {
    const int base = dir0 + k == 0 ? kTwinColQ : kTwinRowQ;
    float* dst = cat.data() + k * 3 * C * C;
    std::memcpy(dst, call.inputs[base].data<float>(), sizeof(float) * C * C);
    std::memcpy(dst + C * C, call.inputs[base + 1].data<float>(), sizeof(float) * 2 * C * C);
  }
  return packB(cat.data(), C, true, C, 3 * C * ndir, level, nullptr, precision);
}

// The projections' weights packed for the GEMM core, at the op's precision
// (BF16: bfloat16 projections where the CPU can; the attention core itself
// stays float32).
std::shared_ptr<CpuTwinWeights> cpuWeights(const OpCall& call, const TwinPlan& p) {
  const SimdLevel level = activeSimdLevel();
  const Precision prec = cpuGemmPrecision(call.precision, level);
  std::vector<const Tensor*> sources;
  for (int i = 1; i < kTwinInputCount; ++i) sources.push_back(&call.inputs[i]);
  const bool parallel = p.mode == TwinMode::Parallel;
  const std::string tag = std::string("twin-cpu/") + (parallel ? "par" : "seq") + packedKernelsTag(level, prec);
  return weightCache().get<CpuTwinWeights>(sources, tag, [&](int64_t& bytes) {
    auto w = std::make_shared<CpuTwinWeights>();
    const int64_t C = p.C;
    if (parallel) {
      w->qkvCat = packQkv(call, C, 0, 2, level, prec);
      std::vector<float> cat(static_cast<size_t>(2 * C * C));
      const float* wc = call.inputs[kTwinColOut].data<float>();
      const float* wr = call.inputs[kTwinRowOut].data<float>();
      for (int64_t i = 0; i < C; ++i) {
        std::memcpy(cat.data() + i * 2 * C, wc + i * C, sizeof(float) * C);
        std::memcpy(cat.data() + i * 2 * C + C, wr + i * C, sizeof(float) * C);
      }
      w->outCat = packA(cat.data(), 2 * C, false, C, 2 * C, level, nullptr, prec);
    } else {
      for (int dir = 0; dir < 2; ++dir) {
        w->qkv[dir] = packQkv(call, C, dir, 1, level, prec);
        w->out[dir] = packA(call.inputs[dir == 0 ? kTwinColOut : kTwinRowOut].data<float>(), C, false, C, C,
                            level, nullptr, prec);
      }
    }
    bytes = w->bytes();
    return w;
  });
}

// One direction of attention over a group of g images laid out token-major.
struct CoreJob {
  TwinCoreArgs args;
  int64_t count;  // sequences
};

void runCores(const CoreJob* jobs, int njobs, ThreadPool* pool) {
  // The widest core the active SIMD level allows (and the build has).
  const SimdLevel level = activeSimdLevel();
  TwinCoreFn fn = level >= SimdLevel::AVX512 ? twinCoreAvx512() : nullptr;
  if (!fn && level >= SimdLevel::AVX2) fn = twinCoreAvx2();
  if (!fn) fn = twinCoreScalar;
  int64_t total = 0;
  for (int j = 0; j < njobs; ++j) total += jobs[j].count;
  // Tasks in job order: put the job with the longest sequences first so the
  // dynamic hand-out ends on short tasks.
  auto task = [&](int64_t t) {
    int j = 0;
    while (t >= jobs[j].count) t -= jobs[j++].count;
    const TwinCoreArgs& a = jobs[j].args;
    float* scratch = t_core.get(twinCoreScratchFloats(a.L, a.C));
    fn(a, t, scratch);
  };
  if (pool && pool->size() > 1 && total > 1) pool->parallelTasks(total, task);
  else
    for (int64_t t = 0; t < total; ++t) task(t);
}

// Largest group of images processed at once: bounds the token-major scratch
// (QKV is tokens x 6C floats) while keeping small images batched.
int64_t groupSize(const TwinPlan& p) {
  constexpr int64_t kTokensPerGroup = 4096;
  const int64_t n = std::max<int64_t>(p.H * p.W, 1);
  return std::max<int64_t>(1, std::min<int64_t>(p.B, kTokensPerGroup / n));
}

void twinCpu(const OpCall& call, std::vector<Tensor>& outs, ExecContext& ctx) {
  const TwinPlan p = planTwinAttention(call);
  if (outs[0].numel() == 0) return;
  const std::shared_ptr<CpuTwinWeights> wp = cpuWeights(call, p);  // held for the call
  const CpuTwinWeights& w = *wp;
  ThreadPool* pool = ctx.pool;
  const int64_t C = p.C, H = p.H, W = p.W, N = H * W;
  const float* x = call.inputs[kTwinX].data<float>();
  float* y = outs[0].data<float>();
  const float* bc = call.inputs[kTwinColOutBias].data<float>();
  const float* br = call.inputs[kTwinRowOutBias].data<float>();
  const bool par = p.mode == TwinMode::Parallel;
  const int64_t G = groupSize(p);
  const int64_t ldq = par ? 6 * C : 3 * C;  // QKV row (token) length
  const int64_t ldo = par ? 2 * C : C;
  float* qkv = t_qkv.get(G * N * ldq);
  float* o = t_o.get(G * N * ldo);
  float* t = par ? nullptr : t_t.get(G * C * N);
  std::vector<float> bias(static_cast<size_t>(C));

  // Projection: dst[g] (N x cols, ld ldq) = src[g]^T (src NCHW) · Wb^T (packed).
  auto project = [&](const float* src, int64_t g, const PackedMatrix& Wb, float* dst) {
    GemmArgs a;
    a.M = N;
    a.N = Wb.cols();
    a.K = C;
    a.A = src;
    a.lda = N;
    a.transA = true;
    a.C = dst;
    a.ldc = ldq;
    a.batch = g;
    a.strideA = C * N;
    a.strideC = N * ldq;
    gemmF32Packed(a, nullptr, &Wb, pool);
  };
  // Core job of one direction: Q, K, V at column offset q0 of qkv; O at column o0.
  auto coreJob = [&](int dir, int64_t q0, int64_t o0, float gate) {
    CoreJob j;
    TwinCoreArgs& a = j.args;
    a.q = qkv + q0;
    a.k = qkv + q0 + C;
    a.v = qkv + q0 + 2 * C;
    a.o = o + o0;
    a.C = C;
    a.heads = p.heads;
    a.d = p.d;
    a.scale = p.scale;
    a.gate = gate;
    if (dir == 0) {  // columns: sequence (b, w), token h
      a.L = H;
      a.inSeq = ldq;
      a.inTok = W * ldq;
      a.outSeq = ldo;
      a.outTok = W * ldo;
      j.count = W;
    } else {  // rows: sequence (b, h), token w
      a.L = W;
      a.inSeq = W * ldq;
      a.inTok = ldq;
      a.outSeq = W * ldo;
      a.outTok = ldo;
      j.count = H;
    }
    return j;
  };
  // Output projection: dst[g] (C x N) = A · O[g]^T + bias + res[g].
  auto outProj = [&](const PackedMatrix& A, int64_t kdim, int64_t o0, int64_t g, const float* res, float* dst) {
    GemmArgs a;
    a.M = C;
    a.N = N;
    a.K = kdim;
    a.B = o + o0;
    a.ldb = ldo;
    a.transB = true;
    a.C = dst;
    a.ldc = N;
    a.batch = g;
    a.strideB = N * ldo;
    a.strideC = C * N;
    a.ep.bias = bias.data();
    a.ep.channelAxis = 0;
    a.ep.residual = res;
    a.ep.ldr = N;
    a.ep.strideR = C * N;
    gemmF32Packed(a, &A, nullptr, pool);
  };
  // Core jobs for g images: one job per (image, direction); row sequences of
  // an image are contiguous in tokens, column sequences interleave.
  std::vector<CoreJob> jobs;
  auto addJobs = [&](int dir, int64_t g, int64_t q0, int64_t o0, float gate) {
    for (int64_t b = 0; b < g; ++b) {
      CoreJob j = coreJob(dir, q0, o0, gate);
      j.args.q += b * N * ldq;
      j.args.k += b * N * ldq;
      j.args.v += b * N * ldq;
      j.args.o += b * N * ldo;
      jobs.push_back(j);
    }
  };

  for (int64_t b0 = 0; b0 < p.B; b0 += G) {
    const int64_t g = std::min(G, p.B - b0);
    const float* xg = x + b0 * C * N;
    float* yg = y + b0 * C * N;
    jobs.clear();
    if (par) {
      project(xg, g, w.qkvCat, qkv);
      // Longer sequences first.
      if (W >= H) {
        addJobs(1, g, 3 * C, C, p.gRow);
        addJobs(0, g, 0, 0, p.gCol);
      } else {
        addJobs(0, g, 0, 0, p.gCol);
        addJobs(1, g, 3 * C, C, p.gRow);
      }
      runCores(jobs.data(), static_cast<int>(jobs.size()), pool);
      for (int64_t c = 0; c < C; ++c) bias[c] = p.gCol * bc[c] + p.gRow * br[c];
      outProj(w.outCat, 2 * C, 0, g, xg, yg);
    } else {
      project(xg, g, w.qkv[0], qkv);
      addJobs(0, g, 0, 0, p.gCol);
      runCores(jobs.data(), static_cast<int>(jobs.size()), pool);
      for (int64_t c = 0; c < C; ++c) bias[c] = p.gCol * bc[c];
      outProj(w.out[0], C, 0, g, xg, t);
      project(t, g, w.qkv[1], qkv);
      jobs.clear();
      addJobs(1, g, 0, 0, p.gRow);
      runCores(jobs.data(), static_cast<int>(jobs.size()), pool);
      for (int64_t c = 0; c < C; ++c) bias[c] = p.gRow * br[c];
      outProj(w.out[1], C, 0, g, t, yg);
    }
  }
  t_qkv.trim(kKeepFloats);
  t_o.trim(kKeepFloats);
  t_t.trim(kKeepFloats);
}

}  // namespace

static OpRegistrar reg(OpDef{
    "twinAttention", kTwinInputCount, kTwinInputCount,
    [](const OpCall& call) { return std::vector<TensorSpec>{{DType::F32, planTwinAttention(call).outShape}}; },
    twinCpu, nullptr});

}  // namespace sotr
