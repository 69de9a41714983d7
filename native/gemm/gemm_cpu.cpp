// CPU GEMM driver: validation, blocking, packing orchestration and threading.
// Compiled for baseline x86-64; all SIMD work happens in the per-ISA kernel
// sources behind gemm_detail::KernelSet. See docs/gemm.md for the design.
#include "gemm/gemm_cpu.h"
#include "core/int_math.h"
#include "runtime/scratch.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "runtime/thread_pool.h"

namespace sotr {

using gemm_detail::EpiCtx;
using gemm_detail::KernelSet;
using gemm_detail::MacroArgs;

namespace {

// Packed A is built for at most this many bytes at once (rows blocked beyond):
// the packed block is shared by all threads and streamed from L3.
constexpr int64_t kPackedABudgetBytes = int64_t(16) << 20;
// Below this many flops per call the pool is not worth waking.
constexpr double kParallelMinFlops = 4.0e6;
// Packing A runs on the pool only from this many elements (~70 us of serial
// packing with AVX-512); below, waking the pool gains little.
constexpr int64_t kParallelPackMinElems = int64_t(1) << 19;

// The kernels for `level` (capped at what the CPU and binary have) and
// `precision`: the bfloat16 set for BF16 where AVX512-BF16 can run, float32
// otherwise. Its `precision` field is what cpuGemmPrecision reports.
const KernelSet* kernelsFor(SimdLevel level, Precision precision = Precision::FP32) {
  const int l = std::min(static_cast<int>(level), static_cast<int>(maxSimdLevel()));
  if (l >= static_cast<int>(SimdLevel::AVX512)) {
    if (precision == Precision::BF16 && cpuFeatures().avx512bf16)
      if (const KernelSet* k = gemm_detail::kernelsAvx512Bf16()) return k;
    if (const KernelSet* k = gemm_detail::kernelsAvx512()) return k;
  }
  if (l >= static_cast<int>(SimdLevel::AVX2))
    if (const KernelSet* k = gemm_detail::kernelsAvx2()) return k;
  return gemm_detail::kernelsScalar();
}

thread_local Scratch t_packA, t_packB, t_resid, t_macro;


// K is split into near-equal blocks of at most ks.kc (a multiple of 4), so the
// accumulation order depends only on K and the kernel set.
int64_t kcBaseFor(const KernelSet& ks, int64_t K) {
  if (K <= ks.kc) return std::max<int64_t>(K, 1);
  const int64_t nkb = ceilDiv(K, ks.kc);
  return std::min<int64_t>(roundUp(ceilDiv(K, nkb), 4), ks.kc);
}

// Where the packed A of a row block lives: panel data for (k0, kc, local row m)
// is at base + rowsPad*s(k0) + (rowOff + m)*s(kc), s = the kernels' kSlots
// (k0 is a multiple of the even K block, so s(k0) is exact).
struct AView {
  const float* base;
  int64_t rowsPad;
  int64_t rowOff;
  const KernelSet* ks;
  const float* at(int64_t k0, int64_t kc, int64_t m) const {
    return base + rowsPad * ks->kSlots(k0) + (rowOff + m) * ks->kSlots(kc);
  }
};
struct BView {
  const float* base;  // nullptr: pack B on the fly
  int64_t colsPad;
  const KernelSet* ks;
  const float* at(int64_t k0, int64_t kc, int64_t n) const { return base + colsPad * ks->kSlots(k0) + n * ks->kSlots(kc); }
};

struct Plan {
  const GemmArgs* a;
  const KernelSet* ks;
  int64_t kcBase;
  bool hasEpi;   // any epilogue work besides a plain store
  bool directA;  // kernels read op(A) in place (no packing)
  bool directB;  // kernels read B in place (no packing; never with transB)
};

// Packing A pays off when each packed panel feeds many N tiles; packing B
// when each B block feeds many M panels. Up to these sizes the kernels read
// the operand in place instead (the "small GEMM" path: no packing at all).
// In-place B also needs B small: its rows are ldb apart, and a large B
// thrashes L1 sets and the TLB (64 x 4096 x 2304: 65 vs 81 GFLOP/s packed).
constexpr int64_t kDirectAMaxN = 128;
constexpr int64_t kDirectBMaxM = 96;
constexpr int64_t kDirectBMaxBytes = int64_t(512) << 10;

bool epilogueIsTrivial(const GemmEpilogue& e) {
  return !e.bias && !e.scale && !e.shift && e.alpha == 1.f && !e.residual && e.act == Activation::None;
}

EpiCtx epiFor(const GemmEpilogue& e, int64_t b) {
  EpiCtx c;
  c.bias = e.bias;
  c.scale = e.scale;
  c.shift = e.shift;
  c.axis = e.channelAxis;
  c.alpha = e.alpha;
  c.res = e.residual ? e.residual + b * e.strideR : nullptr;
  c.ldr = e.ldr;
  c.beta = e.beta;
  c.act = static_cast<int>(e.act);
  c.slope = e.slope;
  return c;
}

// Packs rows [m0, m0+mcount) (all of K) of op(A) into dst, laid out as an
// AView with rowsPad = roundUp(mcount, mr). Panels are split across the pool.
void packABlock(const Plan& p, const float* A, int64_t m0, int64_t mcount, float* dst, ThreadPool* pool) {
  const GemmArgs& a = *p.a;
  const KernelSet& ks = *p.ks;
  const int64_t rowsPad = roundUp(mcount, ks.mr);
  const int64_t chunks = ceilDiv(rowsPad / ks.mr, 8);  // 8 panels per task
  const int64_t nkb = ceilDiv(a.K, p.kcBase);
  auto run = [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t kb = t / chunks, c = t % chunks;
      const int64_t k0 = kb * p.kcBase, kc = std::min(p.kcBase, a.K - k0);
      const int64_t pm0 = c * 8 * ks.mr, pm1 = std::min(mcount, pm0 + 8 * ks.mr);
      ks.packA(A, a.lda, a.transA, m0 + pm0, pm1 - pm0, k0, kc, dst + rowsPad * ks.kSlots(k0) + pm0 * ks.kSlots(kc));
    }
  };
  const int64_t tasks = nkb * chunks;
  // Waking the pool costs microseconds to tens of microseconds (more on a VM
  // with idle vCPUs): not worth it for a small A.
  const bool wide = a.K * mcount >= kParallelPackMinElems;
  if (pool && pool->size() > 1 && tasks > 1 && wide) pool->parallelFor(tasks, 1, run);
  else run(0, tasks);
}

// Computes C rows [m0, m1) x cols [n0, n1) of batch item b (m0 a multiple of mr,
// n0 of nr). A comes from the packed view av, or in place when p.directA.
void runRegion(const Plan& p, int64_t b, const AView& av, const BView& bv, int64_t m0, int64_t m1,
               int64_t n0, int64_t n1, const EpiCtx* epi) {
  const GemmArgs& a = *p.a;
  const KernelSet& ks = *p.ks;
  const float* A = p.directA ? a.A + b * a.strideA : nullptr;
  const float* B = a.B ? a.B + b * a.strideB : nullptr;
  float* C = a.C + b * a.strideC;
  MacroArgs m;
  m.aPacked = !p.directA;
  m.transA = a.transA;
  m.lda = a.lda;
  m.mcount = m1 - m0;
  m.bPacked = !p.directB;
  m.ldb = a.ldb;
  m.ldc = a.ldc;
  m.row0 = m0;
  m.scratch = ks.scratchFloats ? t_macro.get(ks.scratchFloats) : nullptr;
  const int64_t nc = ks.nc;  // L2 block of B, packed or read in place
  for (int64_t nb = n0; nb < n1; nb += nc) {
    m.ncount = std::min<int64_t>(nc, n1 - nb);
    m.C = C + m0 * a.ldc + nb;
    m.col0 = nb;
    for (int64_t k0 = 0; k0 < a.K; k0 += p.kcBase) {
      const int64_t kc = std::min(p.kcBase, a.K - k0);
      m.kc = kc;
      if (p.directA) {
        m.A = a.transA ? A + k0 * a.lda + m0 : A + m0 * a.lda + k0;
      } else {
        m.A = av.at(k0, kc, m0);
      }
      if (p.directB) {
        m.B = B + k0 * a.ldb + nb;
      } else if (bv.base) {
        m.B = bv.at(k0, kc, nb);
      } else {
        float* buf = t_packB.get(roundUp(m.ncount, ks.nr) * ks.kSlots(kc));
        ks.packB(B, a.ldb, a.transB, k0, kc, nb, m.ncount, buf);
        m.B = buf;
      }
      m.accumulate = k0 > 0;
      m.ep = k0 + kc >= a.K && p.hasEpi ? epi : nullptr;
      ks.macro(m);
    }
  }
}

// Splits `tiles` units into `parts` contiguous near-equal ranges; range i.
void splitRange(int64_t tiles, int64_t parts, int64_t i, int64_t* t0, int64_t* t1) {
  *t0 = tiles * i / parts;
  *t1 = tiles * (i + 1) / parts;
}

int64_t rowBlockFor(const Plan& p) {
  return std::max<int64_t>(p.ks->mr, (kPackedABudgetBytes / (4 * p.a->K)) / p.ks->mr * p.ks->mr);
}

// One batch item on the calling thread only.
void itemSerial(const Plan& p, int64_t b, const float* sharedPackedA, const AView* userA,
                const BView& bv) {
  const GemmArgs& a = *p.a;
  const KernelSet& ks = *p.ks;
  EpiCtx epi = epiFor(a.ep, b);
  if (userA || p.directA) {
    runRegion(p, b, userA ? *userA : AView{}, bv, 0, a.M, 0, a.N, &epi);
    return;
  }
  const int64_t mblk = rowBlockFor(p);
  const float* A = a.A + b * a.strideA;
  for (int64_t mb = 0; mb < a.M; mb += mblk) {
    const int64_t mc = std::min(mblk, a.M - mb);
    const float* pa = sharedPackedA;
    if (!pa || mc != a.M) {
      float* buf = t_packA.get(roundUp(mc, ks.mr) * ks.kSlots(a.K));
      packABlock(p, A, mb, mc, buf, nullptr);
      pa = buf;
    }
    runRegion(p, b, AView{pa, roundUp(mc, ks.mr), -mb, &ks}, bv, mb, mb + mc, 0, a.N, &epi);
  }
}

// Tasks per thread when splitting one item: > 1 so a thread slowed by other
// load (Node's own threads, other processes) does not hold up the others.
constexpr int64_t kTasksPerThread = 3;
// Smallest task worth handing out, in multiply-adds.
constexpr double kMinTaskMacs = 1.0e6;

// One batch item split over the pool: pack A (shared, in parallel), then a
// grid of C regions handed out dynamically; each packs its own B blocks.
void itemParallel(const Plan& p, int64_t b, const float* sharedPackedA, const AView* userA,
                  const BView& bv, ThreadPool& pool) {
  const GemmArgs& a = *p.a;
  const KernelSet& ks = *p.ks;
  const int64_t T = pool.size();
  EpiCtx epi = epiFor(a.ep, b);
  const int64_t mblk = (userA || p.directA) ? a.M : rowBlockFor(p);
  const float* A = a.A ? a.A + b * a.strideA : nullptr;
  for (int64_t mb = 0; mb < a.M; mb += mblk) {
    const int64_t mc = std::min(mblk, a.M - mb);
    AView av{};
    if (userA) {
      av = *userA;
    } else if (!p.directA) {
      const float* pa = sharedPackedA;
      if (!pa || mc != a.M) {
        float* buf = t_packA.get(roundUp(mc, ks.mr) * ks.kSlots(a.K));
        packABlock(p, A, mb, mc, buf, &pool);
        pa = buf;
      }
      av = AView{pa, roundUp(mc, ks.mr), -mb, &ks};
    }
    // Grid: split N first (tasks share packed A and pack disjoint parts of B),
    // then M; at most kTasksPerThread * T tasks of at least kMinTaskMacs.
    const int64_t mt = ceilDiv(mc, ks.mr), nt = ceilDiv(a.N, ks.nr);
    const double macs = double(mc) * a.N * a.K;
    const int64_t want = std::max<int64_t>(
        1, std::min<int64_t>(kTasksPerThread * T, static_cast<int64_t>(macs / kMinTaskMacs)));
    int64_t tn = std::min(nt, want);
    int64_t tm = std::min(mt, ceilDiv(want, tn));
    // Few tasks: make the count a multiple of T so no thread idles at the end.
    if (tm * tn < kTasksPerThread * T && tm * tn > T && (tm * tn) % T) {
      if (tn > T) tn = tn / T * T;
      else if (tm > T) tm = tm / T * T;
    }
    pool.parallelTasks(tm * tn, [&](int64_t cell) {
      int64_t r0, r1, c0, c1;
      splitRange(mt, tm, cell / tn, &r0, &r1);
      splitRange(nt, tn, cell % tn, &c0, &c1);
      const int64_t rm0 = mb + r0 * ks.mr, rm1 = std::min(mb + r1 * ks.mr, mb + mc);
      const int64_t cn0 = c0 * ks.nr, cn1 = std::min(c1 * ks.nr, a.N);
      if (rm0 < rm1 && cn0 < cn1) runRegion(p, b, av, bv, rm0, rm1, cn0, cn1, &epi);
    });
  }
}

[[noreturn]] void bad(const std::string& msg) { throw std::invalid_argument("gemmF32: " + msg); }

void validate(const GemmArgs& a, bool haveA, bool haveB) {
  auto s = [](int64_t v) { return std::to_string(v); };
  if (a.M < 0 || a.N < 0 || a.K < 0) bad("negative dimension (M=" + s(a.M) + ", N=" + s(a.N) + ", K=" + s(a.K) + ")");
  if (a.batch < 0) bad("negative batch " + s(a.batch));
  if (a.M == 0 || a.N == 0 || a.batch == 0) return;
  if (!a.C) bad("C is null");
  if (a.ldc < a.N) bad("ldc=" + s(a.ldc) + " < N=" + s(a.N));
  if (a.K > 0) {
    if (!haveA) {
      if (!a.A) bad("A is null");
      const int64_t need = a.transA ? a.M : a.K;
      if (a.lda < std::max<int64_t>(1, need))
        bad("lda=" + s(a.lda) + " < " + std::string(a.transA ? "M=" : "K=") + s(need) + (a.transA ? " (transA)" : ""));
    }
    if (!haveB) {
      if (!a.B) bad("B is null");
      const int64_t need = a.transB ? a.K : a.N;
      if (a.ldb < std::max<int64_t>(1, need))
        bad("ldb=" + s(a.ldb) + " < " + std::string(a.transB ? "K=" : "N=") + s(need) + (a.transB ? " (transB)" : ""));
    }
  }
  if (a.batch > 1) {
    if (a.strideA < 0 || a.strideB < 0 || a.strideC < 0 || a.ep.strideR < 0) bad("negative batch stride");
    if (a.strideC == 0) bad("strideC=0 with batch=" + s(a.batch) + " (outputs would overlap)");
  }
  const GemmEpilogue& e = a.ep;
  if (e.channelAxis != 0 && e.channelAxis != 1) bad("ep.channelAxis must be 0 (rows) or 1 (columns)");
  if (e.residual && e.ldr < a.N) bad("ep.ldr=" + s(e.ldr) + " < N=" + s(a.N));
  const int act = static_cast<int>(e.act);
  if (act < 0 || act > static_cast<int>(Activation::Sigmoid)) bad("unknown activation " + s(act));
}

// Byte span [lo, hi) touched by a batched strided matrix.
void span(const float* p, int64_t rows, int64_t cols, int64_t ld, int64_t batch, int64_t stride,
          const char** lo, const char** hi) {
  *lo = reinterpret_cast<const char*>(p);
  *hi = reinterpret_cast<const char*>(p + (batch - 1) * stride + (rows - 1) * ld + cols);
}

void run(const GemmArgs& args, const PackedMatrix* pA, const PackedMatrix* pB, ThreadPool* pool,
         const KernelSet* ks) {
  validate(args, pA != nullptr, pB != nullptr);
  if (args.M == 0 || args.N == 0 || args.batch == 0) return;
  GemmArgs a = args;

  // A residual overlapping C would be clobbered by the partial sums of early K
  // blocks (or by other tiles), so work from a copy. (Packing scratch is
  // bounded by the blocking; the copy is not, so a large one is not kept.)
  struct DropLargeCopy {
    ~DropLargeCopy() {
      if (t_resid.cap > (int64_t(4) << 20)) t_resid.release();
    }
  } dropLargeCopy;
  if (a.ep.residual) {
    const int64_t rb = a.ep.strideR == 0 ? 1 : a.batch;
    const char *rlo, *rhi, *clo, *chi;
    span(a.ep.residual, a.M, a.N, a.ep.ldr, rb, a.ep.strideR, &rlo, &rhi);
    span(a.C, a.M, a.N, a.ldc, a.batch, a.strideC, &clo, &chi);
    if (rlo < chi && clo < rhi) {
      float* copy = t_resid.get(rb * a.M * a.N);
      for (int64_t b = 0; b < rb; ++b)
        for (int64_t i = 0; i < a.M; ++i)
          std::memcpy(copy + (b * a.M + i) * a.N, a.ep.residual + b * a.ep.strideR + i * a.ep.ldr,
                      sizeof(float) * a.N);
      a.ep.residual = copy;
      a.ep.ldr = a.N;
      a.ep.strideR = a.ep.strideR == 0 ? 0 : a.M * a.N;
    }
  }

  if (a.K == 0) {  // empty product: C = epilogue(0)
    for (int64_t b = 0; b < a.batch; ++b)
      for (int64_t i = 0; i < a.M; ++i)
        for (int64_t j = 0; j < a.N; ++j)
          a.C[b * a.strideC + i * a.ldc + j] = applyEpilogueScalar(a.ep, 0.f, i, j, b);
    return;
  }

  Plan p{&a, ks, kcBaseFor(*ks, a.K), !epilogueIsTrivial(a.ep), false, false};
  p.directA = !pA && a.N <= kDirectAMaxN;
  p.directB = !pB && !a.transB && a.M <= kDirectBMaxM && a.K * a.N * 4 <= kDirectBMaxBytes;
  const int T = pool ? pool->size() : 1;
  const double flops = 2.0 * a.M * a.N * a.K * a.batch;
  const bool parallel = T > 1 && flops >= kParallelMinFlops;

  AView userA{};
  if (pA) userA = AView{pA->data(), roundUp(a.M, ks->mr), 0, ks};
  BView bv{nullptr, 0, ks};
  if (pB) bv = BView{pB->data(), roundUp(a.N, ks->nr), ks};

  // A shared by every batch item (stride 0) is packed once up front when it
  // fits the packed-A budget.
  const float* sharedA = nullptr;
  if (!pA && !p.directA && a.batch > 1 && a.strideA == 0 &&
      roundUp(a.M, ks->mr) * a.K * 4 <= kPackedABudgetBytes) {
    float* buf = t_packA.get(roundUp(a.M, ks->mr) * ks->kSlots(a.K));
    packABlock(p, a.A, 0, a.M, buf, parallel ? pool : nullptr);
    sharedA = buf;
  }
  const AView* ua = pA ? &userA : nullptr;

  if (!parallel) {
    for (int64_t b = 0; b < a.batch; ++b) itemSerial(p, b, sharedA, ua, bv);
    return;
  }
  // Many items: one item per task, each on one thread (no intra-item sync).
  // Few large items: split each item across the pool.
  const double itemFlops = 2.0 * a.M * a.N * a.K;
  if (a.batch >= 2 * T || (a.batch > 1 && itemFlops < 2 * kParallelMinFlops)) {
    // Contiguous runs of items, a few per thread: one task per item would
    // take the pool's lock once per (possibly microsecond-sized) item.
    const int64_t tasks = std::min<int64_t>(a.batch, kTasksPerThread * T);
    pool->parallelTasks(tasks, [&](int64_t t) {
      int64_t b0, b1;
      splitRange(a.batch, tasks, t, &b0, &b1);
      for (int64_t b = b0; b < b1; ++b) itemSerial(p, b, sharedA, ua, bv);
    });
    return;
  }
  for (int64_t b = 0; b < a.batch; ++b) itemParallel(p, b, sharedA, ua, bv, *pool);
}

}  // namespace

void PackedMatrix::Free::operator()(float* p) const { std::free(p); }

void gemmF32(const GemmArgs& args, ThreadPool* pool, Precision precision) {
  run(args, nullptr, nullptr, pool, kernelsFor(activeSimdLevel(), precision));
}

void gemmF32(const GemmArgs& args, ThreadPool* pool, SimdLevel level, Precision precision) {
  run(args, nullptr, nullptr, pool, kernelsFor(level, precision));
}

Precision cpuGemmPrecision(Precision requested, SimdLevel level) { return kernelsFor(level, requested)->precision; }

std::string packedKernelsTag(SimdLevel level, Precision precision) {
  const KernelSet* ks = kernelsFor(level, precision);
  return "/simd" + std::to_string(static_cast<int>(ks->level)) + (ks->precision == Precision::BF16 ? "/bf16" : "");
}

PackedMatrix packA(const float* A, int64_t lda, bool transA, int64_t M, int64_t K, SimdLevel level,
                   ThreadPool* pool, Precision precision) {
  if (M <= 0 || K <= 0) throw std::invalid_argument("packA: M and K must be positive");
  if (!A) throw std::invalid_argument("packA: A is null");
  if (lda < (transA ? M : K)) throw std::invalid_argument("packA: lda too small");
  const KernelSet* ks = kernelsFor(level, precision);
  GemmArgs a;
  a.M = M;
  a.K = K;
  a.lda = lda;
  a.transA = transA;
  Plan p{&a, ks, kcBaseFor(*ks, K), false, false, false};
  PackedMatrix pm;
  pm.size_ = roundUp(M, ks->mr) * ks->kSlots(K);
  pm.data_.reset(alignedFloats(pm.size_));
  packABlock(p, A, 0, M, pm.data_.get(), pool);
  pm.role_ = PackedMatrix::Role::A;
  pm.level_ = ks->level;
  pm.precision_ = ks->precision;
  pm.rows_ = M;
  pm.cols_ = K;
  return pm;
}

PackedMatrix packB(const float* B, int64_t ldb, bool transB, int64_t K, int64_t N, SimdLevel level,
                   ThreadPool* pool, Precision precision) {
  if (K <= 0 || N <= 0) throw std::invalid_argument("packB: K and N must be positive");
  if (!B) throw std::invalid_argument("packB: B is null");
  if (ldb < (transB ? K : N)) throw std::invalid_argument("packB: ldb too small");
  const KernelSet* ks = kernelsFor(level, precision);
  const int64_t kcBase = kcBaseFor(*ks, K);
  const int64_t colsPad = roundUp(N, ks->nr);
  PackedMatrix pm;
  pm.size_ = colsPad * ks->kSlots(K);
  pm.data_.reset(alignedFloats(pm.size_));
  float* dst = pm.data_.get();
  const int64_t nkb = ceilDiv(K, kcBase), chunks = ceilDiv(N, 8 * int64_t(ks->nr));
  auto body = [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t kb = t / chunks, c = t % chunks;
      const int64_t k0 = kb * kcBase, kc = std::min(kcBase, K - k0);
      const int64_t n0 = c * 8 * ks->nr, n1 = std::min(N, n0 + 8 * ks->nr);
      ks->packB(B, ldb, transB, k0, kc, n0, n1 - n0, dst + colsPad * ks->kSlots(k0) + n0 * ks->kSlots(kc));
    }
  };
  if (pool && pool->size() > 1) pool->parallelFor(nkb * chunks, 1, body);
  else body(0, nkb * chunks);
  pm.role_ = PackedMatrix::Role::B;
  pm.level_ = ks->level;
  pm.precision_ = ks->precision;
  pm.rows_ = K;
  pm.cols_ = N;
  return pm;
}

void gemmF32Packed(const GemmArgs& args, const PackedMatrix* packedA, const PackedMatrix* packedB,
                   ThreadPool* pool) {
  if (packedA && packedA->empty()) packedA = nullptr;
  if (packedB && packedB->empty()) packedB = nullptr;
  if (packedA && (packedA->role() != PackedMatrix::Role::A || packedA->rows() != args.M || packedA->cols() != args.K))
    throw std::invalid_argument("gemmF32Packed: packedA is not an M x K packed A");
  if (packedB && (packedB->role() != PackedMatrix::Role::B || packedB->rows() != args.K || packedB->cols() != args.N))
    throw std::invalid_argument("gemmF32Packed: packedB is not a K x N packed B");
  if (packedA && packedB && (packedA->level() != packedB->level() || packedA->precision() != packedB->precision()))
    throw std::invalid_argument("gemmF32Packed: packed operands were made for different kernels (SIMD level or precision)");
  const PackedMatrix* packed = packedA ? packedA : packedB;
  const SimdLevel level = packed ? packed->level() : activeSimdLevel();
  const Precision precision = packed ? packed->precision() : Precision::FP32;
  const KernelSet* ks = kernelsFor(level, precision);
  if (ks->level != level || ks->precision != precision)
    throw std::invalid_argument("gemmF32Packed: packed operand's kernels (SIMD level or precision) not available");
  run(args, packedA, packedB, pool, ks);
}

}  // namespace sotr
