#include "ops/conv2d.h"
#include "ops/conv2d_winograd.h"
#include "runtime/weight_cache.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <tuple>

#include <unistd.h>

#include "gemm/gemm_cpu.h"
#include "core/int_math.h"
#include "ops/matmul.h"
#include "runtime/scratch.h"
#include "runtime/thread_pool.h"
#include "runtime/env.h"

namespace sotr {

// ---------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------

void parseConvAttrs(const std::string& op, const Attrs& attrs, ConvGeom& g) {
  pairAttr(op, attrs, "stride", {1}, 1, &g.sh, &g.sw);
  pairAttr(op, attrs, "padding", {0}, 0, &g.ph, &g.pw);
  pairAttr(op, attrs, "dilation", {1}, 1, &g.dh, &g.dw);
  g.groups = attrs.integer(op, "groups", 1);
  if (g.groups < 1) fail(ErrorKind::Range, op + ": groups must be >= 1, received " + std::to_string(g.groups));
}

void planConvGeom(const std::string& op, const Attrs& attrs, const Tensor& x, const Tensor& w, ConvGeom& g) {
  expectDType(op, "x", x, DType::F32);
  expectDType(op, "weight", w, DType::F32);
  if (x.dim() != 4) fail(ErrorKind::Shape, op + ": x must be [N, C, H, W], received " + shapeStr(x.shape));
  if (w.dim() != 4)
    fail(ErrorKind::Shape, op + ": weight must be [O, C/groups, kh, kw], received " + shapeStr(w.shape));
  parseConvAttrs(op, attrs, g);
  g.N = x.size(0);
  g.C = x.size(1);
  g.H = x.size(2);
  g.W = x.size(3);
  g.O = w.size(0);
  g.kh = w.size(2);
  g.kw = w.size(3);
  if (g.kh < 1 || g.kw < 1)
    fail(ErrorKind::Shape, op + ": weight must have a kernel of at least 1 x 1, received " + shapeStr(w.shape));
  if (g.C % g.groups == 0 && w.size(1) != g.C / g.groups)
    fail(ErrorKind::Shape, op + ": weight " + shapeStr(w.shape) + " must have C/groups = " +
                               std::to_string(g.C / g.groups) + " input channels for x " + shapeStr(x.shape) +
                               " with groups = " + std::to_string(g.groups));
  finishConvGeom(op, g);
}

void finishConvGeom(const std::string& op, ConvGeom& g) {
  if (g.C % g.groups != 0)
    fail(ErrorKind::Shape, op + ": input channels (" + std::to_string(g.C) + ") must be divisible by groups (" +
                               std::to_string(g.groups) + ")");
  if (g.O % g.groups != 0)
    fail(ErrorKind::Shape, op + ": output channels (" + std::to_string(g.O) + ") must be divisible by groups (" +
                               std::to_string(g.groups) + ")");
  const int64_t eh = g.dh * (g.kh - 1) + 1, ew = g.dw * (g.kw - 1) + 1;
  if (g.H + 2 * g.ph < eh || g.W + 2 * g.pw < ew)
    fail(ErrorKind::Shape, op + ": the padded input (" + std::to_string(g.H + 2 * g.ph) + " x " +
                               std::to_string(g.W + 2 * g.pw) + ") is smaller than the dilated kernel (" +
                               std::to_string(eh) + " x " + std::to_string(ew) + ")");
  g.Ho = (g.H + 2 * g.ph - eh) / g.sh + 1;
  g.Wo = (g.W + 2 * g.pw - ew) / g.sw + 1;
}

void checkConvEpilogue(const std::string& op, const OpCall& call, int biasSlot, const ConvGeom& g, Conv2dPlan& p) {
  auto opt = [&](int slot) -> const Tensor* {
    return static_cast<int>(call.inputs.size()) > slot && call.inputs[slot].defined() ? &call.inputs[slot] : nullptr;
  };
  const char* names[3] = {"bias", "scale", "shift"};
  bool* flags[3] = {&p.hasBias, &p.hasScale, &p.hasShift};
  for (int i = 0; i < 3; ++i) {
    if (const Tensor* t = opt(biasSlot + i)) {
      expectDType(op, names[i], *t, DType::F32);
      expectShape(op, names[i], *t, {g.O});
      *flags[i] = true;
    }
  }
  if (const Tensor* r = opt(biasSlot + 3)) {
    expectDType(op, "residual", *r, DType::F32);
    expectShape(op, "residual", *r, {g.N, g.O, g.Ho, g.Wo});
    p.hasResidual = true;
  }
  p.ep.channelAxis = 0;
  p.ep.alpha = static_cast<float>(call.attrs.number(op, "alpha", 1.0));
  p.ep.beta = static_cast<float>(call.attrs.number(op, "beta", 1.0));
  p.ep.act = parseActivation(op, call.attrs, &p.ep.slope);
}

Conv2dPlan planConv2d(const OpCall& call) {
  const std::string& op = call.op;
  Conv2dPlan p;
  planConvGeom(op, call.attrs, call.inputs[0], call.inputs[1], p.g);
  const ConvGeom& g = p.g;
  checkConvEpilogue(op, call, 2, g, p);
  p.outShape = {g.N, g.O, g.Ho, g.Wo};
  const std::string algo = call.attrs.string(op, "algorithm", "auto");
  if (algo == "direct") {
    p.algorithm = Conv2dPlan::Algorithm::Direct;
  } else if (algo == "winograd" || algo == "winograd2" || algo == "winograd4") {
    p.algorithm = algo == "winograd"    ? Conv2dPlan::Algorithm::Winograd
                  : algo == "winograd2" ? Conv2dPlan::Algorithm::Winograd2
                                        : Conv2dPlan::Algorithm::Winograd4;
    if (!winogradGeometry(g))
      fail(ErrorKind::Range, op + ": algorithm '" + algo + "' needs a 3x3 kernel, stride 1, dilation 1, groups 1, " +
                                 "at least 16 input and output channels and a 2x2 output (received kernel " +
                                 std::to_string(g.kh) + "x" + std::to_string(g.kw) + ", stride " + std::to_string(g.sh) +
                                 "," + std::to_string(g.sw) + ", dilation " + std::to_string(g.dh) + "," +
                                 std::to_string(g.dw) + ", groups " + std::to_string(g.groups) + ", " +
                                 std::to_string(g.C) + " -> " + std::to_string(g.O) + " channels, output " +
                                 std::to_string(g.Ho) + "x" + std::to_string(g.Wo) + ")");
  } else if (algo != "auto") {
    fail(ErrorKind::Range, op + ": algorithm must be 'auto', 'direct', 'winograd', 'winograd2' or 'winograd4', received '" +
                               algo + "'");
  }
  return p;
}

GemmEpilogue bindConvEpilogue(const Conv2dPlan& p, const OpCall& call, int biasSlot) {
  GemmEpilogue ep = p.ep;
  if (p.hasBias) ep.bias = call.inputs[biasSlot].data<float>();
  if (p.hasScale) ep.scale = call.inputs[biasSlot + 1].data<float>();
  if (p.hasShift) ep.shift = call.inputs[biasSlot + 2].data<float>();
  if (p.hasResidual) {
    ep.residual = call.inputs[biasSlot + 3].data<float>();
    ep.ldr = p.g.P();
    ep.strideR = p.g.O * p.g.P();
  }
  return ep;
}

// ---------------------------------------------------------------------------
// im2col
// ---------------------------------------------------------------------------

namespace {
void im2colBlockScalar(const ConvGeom& g, const float* x, int64_t n, int64_t grp, int64_t p0, int64_t ncols,
                       float* col, int64_t ld) {
  const int64_t Cg = g.Cg(), HW = g.H * g.W;
  const float* xg = x + (n * g.C + grp * Cg) * HW;
  int64_t k = 0;
  for (int64_t c = 0; c < Cg; ++c) {
    const float* xc = xg + c * HW;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j, ++k) {
        float* dst = col + k * ld;
        const int64_t offW = j * g.dw - g.pw;  // iw = ow * sw + offW
        int64_t p = p0, done = 0;
        while (done < ncols) {
          const int64_t oh = p / g.Wo, ow0 = p - oh * g.Wo;
          const int64_t len = std::min(g.Wo - ow0, ncols - done);
          float* d = dst + done;
          const int64_t ih = oh * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.H) {
            std::memset(d, 0, sizeof(float) * len);
          } else {
            const float* row = xc + ih * g.W;
            if (g.sw == 1) {
              // valid ow: 0 <= ow + offW < W
              const int64_t lo = std::min(std::max(-offW, ow0), ow0 + len);
              const int64_t hi = std::max(std::min(g.W - offW, ow0 + len), lo);
              if (lo > ow0) std::memset(d, 0, sizeof(float) * (lo - ow0));
              if (hi > lo) std::memcpy(d + (lo - ow0), row + lo + offW, sizeof(float) * (hi - lo));
              if (ow0 + len > hi) std::memset(d + (hi - ow0), 0, sizeof(float) * (ow0 + len - hi));
            } else {
              for (int64_t t = 0; t < len; ++t) {
                const int64_t iw = (ow0 + t) * g.sw + offW;
                d[t] = iw >= 0 && iw < g.W ? row[iw] : 0.f;
              }
            }
          }
          done += len;
          p += len;
        }
      }
    }
  }
}
}  // namespace

void im2colBlock(const ConvGeom& g, const float* x, int64_t n, int64_t grp, int64_t p0, int64_t ncols, float* col,
                 int64_t ld) {
  const SimdLevel level = activeSimdLevel();
  if (level >= SimdLevel::AVX512 && conv_detail::im2colBlockAvx512(g, x, n, grp, p0, ncols, col, ld)) return;
  if (level == SimdLevel::AVX2 && conv_detail::im2colBlockAvx2(g, x, n, grp, p0, ncols, col, ld)) return;
  im2colBlockScalar(g, x, n, grp, p0, ncols, col, ld);
}

// ---------------------------------------------------------------------------
// Packed weights and their cache
// ---------------------------------------------------------------------------

namespace {

struct PackedConvWeight {
  SimdLevel level = SimdLevel::Scalar;
  int64_t groups = 1, Og = 0, K = 0, mb = 0, nmb = 0;
  std::vector<PackedMatrix> blocks;  // [g * nmb + b], rows [b*mb, min(Og, (b+1)*mb))
  int64_t bytes = 0;
  const PackedMatrix& block(int64_t g, int64_t b) const { return blocks[g * nmb + b]; }
  int64_t rows(int64_t b) const { return std::min(Og, (b + 1) * mb) - b * mb; }
};

std::shared_ptr<PackedConvWeight> packConvWeight(const float* w, int64_t groups, int64_t Og, int64_t K,
                                                 SimdLevel level, Precision precision, ThreadPool* pool) {
  auto pw = std::make_shared<PackedConvWeight>();
  pw->level = level;
  pw->groups = groups;
  pw->Og = Og;
  pw->K = K;
  pw->mb = convBlockRows(level);
  pw->nmb = (Og + pw->mb - 1) / pw->mb;
  pw->blocks.resize(groups * pw->nmb);
  auto one = [&](int64_t t) {
    const int64_t g = t / pw->nmb, b = t % pw->nmb;
    pw->blocks[t] = packA(w + (g * Og + b * pw->mb) * K, K, false, pw->rows(b), K, level, nullptr, precision);
  };
  const int64_t tasks = groups * pw->nmb;
  if (pool && pool->size() > 1 && tasks > 1) pool->parallelTasks(tasks, one);
  else
    for (int64_t t = 0; t < tasks; ++t) one(t);
  for (auto& b : pw->blocks) pw->bytes += b.bytes();
  return pw;
}

std::shared_ptr<PackedConvWeight> packedWeightFor(const Tensor& key, const float* w, int64_t groups, int64_t Og,
                                                  int64_t K, SimdLevel level, Precision precision, ThreadPool* pool) {
  // The weight cache makes a fresh payload when key is undefined.
  const std::string tag = "conv/g" + std::to_string(groups) + "/o" + std::to_string(Og) + "/k" + std::to_string(K) +
                          packedKernelsTag(level, precision);
  return weightCache().get<PackedConvWeight>({&key}, tag, [&](int64_t& bytes) {
    auto pw = packConvWeight(w, groups, Og, K, level, precision, pool);
    bytes = pw->bytes;
    return pw;
  });
}

thread_local Scratch t_cols;    // per worker: one column block
thread_local Scratch t_shared;  // per caller: the shared columns of small maps

struct OwnedBuffer {
  float* p = nullptr;
  explicit OwnedBuffer(int64_t n) : p(alignedFloats(n)) {}
  ~OwnedBuffer() { std::free(p); }
  OwnedBuffer(const OwnedBuffer&) = delete;
  OwnedBuffer& operator=(const OwnedBuffer&) = delete;
};


// Column block width: the K x nc block should stay in L2 while every row
// block of the weight runs over it, next to the weight panels streaming
// through. A quarter of L2 measured best on the Zen 4 reference machine
// (1 MiB L2), each call timed alone with 2 threads: 256 KiB gave 3x3
// 256->256 at 50x84 201 GFLOP/s and at 24x48 198, against 183 and 168 with
// the whole L2. For deep K this is a single 32-column panel with ld = 32,
// which the microkernel reads exactly like a packed B panel.
int64_t l2Bytes() {
  long v = 0;
#ifdef _SC_LEVEL2_CACHE_SIZE
  v = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
  if (v <= 0) v = 1 << 20;
  return std::min<int64_t>(std::max<int64_t>(v, 256 * 1024), 2 << 20);
}
constexpr int64_t kMaxSharedColBytes = int64_t(96) << 20;
constexpr int64_t kReusedSharedColBytes = int64_t(16) << 20;
constexpr int64_t kPointwiseCopyMinK = 1024;

int64_t colBlockBytes() {
  static const int64_t v = [] {
    const int64_t kb = env::integer("SOTR_CONV_COLBLOCK_KB", 0, 1, 1 << 20);  // tuning hook
    return kb > 0 ? kb * 1024 : l2Bytes() / 4;
  }();
  return v;
}

int64_t colBlockFor(int64_t K) {
  int64_t nc = colBlockBytes() / (4 * K);
  // A multiple of 32 columns (the AVX-512 microtile width; also a multiple of
  // the AVX2 and scalar ones): a partial tile costs as much as a full one.
  nc = (nc + 16) / 32 * 32;
  return std::min<int64_t>(std::max<int64_t>(nc, 32), 1024);
}

}  // namespace

// Rows of C per GEMM call: the core reads B (the column block) in place when
// M spans at most 8 microkernel panels, so the column block is never copied.
int64_t convBlockRows(SimdLevel l) {
  switch (l) {
    case SimdLevel::AVX512: return 96;  // 8 x 12
    case SimdLevel::AVX2: return 48;    // 8 x 6
#if defined(__aarch64__) && !defined(SOTR_GEMM_NO_NEON)
    default: return 64;                 // 8 x 8 (the NEON tile, gemm_kernel_neon.cpp)
#else
    default: return 32;                 // 8 x 4
#endif
  }
}

// ---------------------------------------------------------------------------
// The CPU engine
// ---------------------------------------------------------------------------

void convGemmCpu(const ConvGeom& g, const float* x, const Tensor& weightKey, const float* weight,
                 const GemmEpilogue& ep, float* out, const ColumnFn* columns, ThreadPool* pool, Precision precision) {
  const int64_t N = g.N, G = g.groups, Og = g.Og(), O = g.O, K = g.K(), P = g.P();
  if (N == 0 || O == 0 || P == 0) return;
  if (K == 0) {  // empty reduction: out = epilogue(0)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o)
        for (int64_t p = 0; p < P; ++p) out[(n * O + o) * P + p] = applyEpilogueScalar(ep, 0.f, o, p, n);
    return;
  }
  const SimdLevel level = activeSimdLevel();
  const std::shared_ptr<PackedConvWeight> pw =
      packedWeightFor(weightKey, weight, G, Og, K, level, cpuGemmPrecision(precision, level), pool);
  const int T = pool ? pool->size() : 1;

  // One GEMM: rows of weight block b of group grp, columns [p0, p0+nc) of
  // image n, B at `cols` with leading dimension ldb.
  auto gemmBlock = [&](int64_t n, int64_t grp, int64_t b, int64_t p0, int64_t nc, const float* cols, int64_t ldb) {
    const int64_t r0 = grp * Og + b * pw->mb;  // global output channel of row 0
    GemmArgs a;
    a.M = pw->rows(b);
    a.N = nc;
    a.K = K;
    a.B = cols;
    a.ldb = ldb;
    a.C = out + (n * O + r0) * P + p0;
    a.ldc = P;
    a.ep = ep;
    a.ep.channelAxis = 0;
    if (ep.bias) a.ep.bias = ep.bias + r0;
    if (ep.scale) a.ep.scale = ep.scale + r0;
    if (ep.shift) a.ep.shift = ep.shift + r0;
    if (ep.residual) {
      a.ep.residual = ep.residual + n * ep.strideR + r0 * ep.ldr + p0;
      a.ep.strideR = 0;
    }
    gemmF32Packed(a, &pw->block(grp, b), nullptr, nullptr);
  };

  int64_t nc = colBlockFor(K);
  if (nc >= P) nc = P;
  const int64_t chunksPerImage = ceilDiv(P, nc);
  const int64_t chunkTasks = N * G * chunksPerImage;
  const bool enough = T == 1 || chunkTasks >= 3 * T || (pw->nmb == 1 && chunkTasks >= T && chunkTasks % T == 0);
  const bool sharedFits = columns == nullptr || N * G * K * P * 4 <= kMaxSharedColBytes;

  if (enough || !sharedFits) {
    // Per task: one column block, built in this thread's scratch, then every
    // row block of the weight over it.
    auto task = [&](int64_t t) {
      const int64_t c = t % chunksPerImage, ng = t / chunksPerImage;
      const int64_t n = ng / G, grp = ng % G;
      const int64_t p0 = c * nc, w = std::min(nc, P - p0);
      const float* cols;
      int64_t ldb;
      if (columns) {
        float* buf = t_cols.get(K * w);
        (*columns)(n, grp, p0, w, buf, w);
        cols = buf;
        ldb = w;
      } else {
        cols = x + (n * g.C + grp * g.Cg()) * P + p0;
        ldb = P;
      }
      for (int64_t b = 0; b < pw->nmb; ++b) gemmBlock(n, grp, b, p0, w, cols, ldb);
    };
    if (T > 1 && chunkTasks > 1) pool->parallelTasks(chunkTasks, task);
    else
      for (int64_t t = 0; t < chunkTasks; ++t) task(t);
    return;
  }

  // Few column blocks: build all columns first (shared), then split the work
  // over (image, group, row block, column block) so every thread has work.
  std::unique_ptr<OwnedBuffer> owned;
  float* shared = nullptr;
  if (columns) {
    // Small column sets reuse this thread's grow-only buffer (no page faults
    // per call); big ones are allocated for the call only.
    const int64_t need = N * G * K * P;
    if (need * 4 <= kReusedSharedColBytes) {
      shared = t_shared.get(need);
    } else {
      owned.reset(new OwnedBuffer(need));
      shared = owned->p;
    }
    const int64_t bw = std::max<int64_t>(16, ceilDiv(P, 2 * T));
    const int64_t per = ceilDiv(P, bw);
    pool->parallelTasks(N * G * per, [&](int64_t t) {
      const int64_t ng = t / per, c = t % per;
      const int64_t p0 = c * bw, w = std::min(bw, P - p0);
      (*columns)(ng / G, ng % G, p0, w, shared + ng * K * P + p0, P);
    });
  }
  const int64_t units = N * G * pw->nmb;
  int64_t split = std::max<int64_t>(1, ceilDiv(3 * T, units));
  int64_t w2 = std::max<int64_t>(32, ceilDiv(ceilDiv(P, split), 32) * 32);
  split = ceilDiv(P, w2);
  pool->parallelTasks(units * split, [&](int64_t t) {
    const int64_t c = t % split, u = t / split;
    const int64_t b = u % pw->nmb, ng = u / pw->nmb;
    const int64_t n = ng / G, grp = ng % G;
    const int64_t p0 = c * w2, w = std::min(w2, P - p0);
    if (w <= 0) return;
    const float* cols = shared ? shared + ng * K * P + p0 : x + (n * g.C + grp * g.Cg()) * P + p0;
    gemmBlock(n, grp, b, p0, w, cols, P);
  });
}

// ---------------------------------------------------------------------------
// The op
// ---------------------------------------------------------------------------

static OpRegistrar reg(OpDef{
    "conv2d", 2, 6,
    [](const OpCall& call) { return std::vector<TensorSpec>{{DType::F32, planConv2d(call).outShape}}; },
    [](const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
      const Conv2dPlan p = planConv2d(call);
      if (out[0].numel() == 0) return;
      const GemmEpilogue ep = bindConvEpilogue(p, call, 2);
      const ConvGeom& g = p.g;
      const float* x = call.inputs[0].data<float>();
      const Tensor& w = call.inputs[1];
      // 1x1: the GEMM reads x in place, except for deep K, where the rows of
      // a block lie too far apart (one page per k: TLB misses) and copying
      // the block first measured faster (K = 1024 at 50x84: +5-9%).
      using A = Conv2dPlan::Algorithm;
      const bool winograd = p.algorithm == A::Winograd || p.algorithm == A::Winograd2 || p.algorithm == A::Winograd4 ||
                            (p.algorithm == A::Auto && winogradEnabled() && winogradGeometry(g));
      if (winograd) {
        const WinogradTile tile = p.algorithm == A::Winograd2   ? WinogradTile::F2
                                  : p.algorithm == A::Winograd4 ? WinogradTile::F4
                                                                : winogradPick(g, w, call.precision);
        convWinogradCpu(g, x, w, w.data<float>(), ep, out[0].data<float>(), ctx.pool, tile, call.precision);
      } else if (g.pointwise() && g.K() < kPointwiseCopyMinK) {
        convGemmCpu(g, x, w, w.data<float>(), ep, out[0].data<float>(), nullptr, ctx.pool, call.precision);
      } else {
        const ColumnFn cols = [&](int64_t n, int64_t grp, int64_t p0, int64_t nc, float* col, int64_t ld) {
          im2colBlock(g, x, n, grp, p0, nc, col, ld);
        };
        convGemmCpu(g, x, w, w.data<float>(), ep, out[0].data<float>(), &cols, ctx.pool, call.precision);
      }
    },
    nullptr});

}  // namespace sotr
