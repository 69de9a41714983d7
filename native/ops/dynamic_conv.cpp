// CPU twins of dynamic_conv and dynamic_conv_masks on the shared SIMD GEMM.
// 1x1: one GEMM [N, C] x [C, H*W]. k x k: im2col by chunks of image rows.
// The fused masks form runs the GEMM by chunks of rows into a cache-sized
// scratch (never the whole float masks) and bit-packs it right away.
#include "ops/dynamic_conv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/int_math.h"
#include "gemm/gemm_cpu.h"
#include "ops/bitmask.h"
#include "runtime/cpu_features.h"
#include "runtime/thread_pool.h"

namespace sotr {

DynamicConvPlan planDynamicConv(const OpCall& call, bool masks) {
  const std::string& op = call.op;
  const Tensor& f = call.inputs[0];
  const Tensor& k = call.inputs[1];
  expectDType(op, "features", f, DType::F32);
  expectDType(op, "kernels", k, DType::F32);
  if (f.dim() != 3) fail(ErrorKind::Shape, op + ": features must be [C, H, W], received shape " + shapeStr(f.shape));
  DynamicConvPlan p;
  p.C = f.size(0);
  p.H = f.size(1);
  p.W = f.size(2);
  if (k.dim() == 2) {
    p.k = 1;
  } else if (k.dim() == 4) {
    p.k = k.size(2);
    if (k.size(3) != p.k || p.k % 2 == 0)
      fail(ErrorKind::Shape, op + ": kernels [N, C, k, k] need a square odd k, received shape " + shapeStr(k.shape));
  } else {
    fail(ErrorKind::Shape, op + ": kernels must be [N, C] (1x1) or [N, C, k, k], received shape " + shapeStr(k.shape));
  }
  if (k.size(1) != p.C)
    fail(ErrorKind::Shape, op + ": kernels have " + std::to_string(k.size(1)) + " channels but features have " +
                               std::to_string(p.C) + " (kernels " + shapeStr(k.shape) + ", features " +
                               shapeStr(f.shape) + ")");
  p.N = k.size(0);
  if (p.H * p.W >= (int64_t(1) << 31) || p.N >= (int64_t(1) << 31) || p.K() >= (int64_t(1) << 31))
    fail(ErrorKind::Range, op + ": sizes must stay below 2^31 (features " + shapeStr(f.shape) + ", kernels " +
                               shapeStr(k.shape) + ")");
  if (masks) {
    const double t = call.attrs.number(op, "threshold", 0.5);
    if (!(t >= 0 && t <= 1)) fail(ErrorKind::Range, op + ": threshold must be in [0, 1], received " + std::to_string(t));
    p.threshold = static_cast<float>(t);
    p.logitThr = bitmask::logitThreshold(p.threshold);
    p.wpr = bitmask::wordsPerRow(p.W);
  } else {
    p.sigmoid = call.attrs.flag(op, "sigmoid", true);
  }
  return p;
}

namespace dynconv_detail {

void maskChunkScalar(const ChunkArgs& a) {
  for (int64_t m = 0; m < a.count; ++m) {
    for (int64_t r = 0; r < a.rows; ++r) {
      const float* l = a.logits + m * a.ld + r * a.W;
      uint64_t* wrow = a.bits + m * a.maskPitch + r * a.wpr;
      float rowSoft = 0.f;
      int64_t rowArea = 0, first = -1, last = -1;
      for (int64_t w = 0; w < a.wpr; ++w) {
        uint64_t word = 0;
        const int64_t x0 = w * 64, n = std::min<int64_t>(64, a.W - x0);
        for (int64_t i = 0; i < n; ++i) {
          const float v = l[x0 + i];
          if (v > a.logitThr) {
            word |= uint64_t(1) << i;
            rowSoft += bitmask::sigmoid32(v);
            ++rowArea;
            if (first < 0) first = x0 + i;
            last = x0 + i;
          }
        }
        wrow[w] = word;
      }
      addRow(a, m, r, rowArea, rowSoft, first, last);
    }
  }
}

MaskChunkFn maskChunkFor(SimdLevel level) {
  MaskChunkFn f = nullptr;
  if (level >= SimdLevel::AVX512) f = maskChunkAvx512();
  if (!f && level >= SimdLevel::AVX2) f = maskChunkAvx2();
  return f ? f : maskChunkScalar;
}

SigmoidFn sigmoidFor(SimdLevel level) {
  SigmoidFn f = nullptr;
  if (level >= SimdLevel::AVX512) f = sigmoidAvx512();
  if (!f && level >= SimdLevel::AVX2) f = sigmoidAvx2();
  return f;
}

}  // namespace dynconv_detail

namespace {

// Unfolds rows [y0, y0 + rows) of the zero-padded features into
// col[(c*k*k + dy*k + dx) * rows*W + r*W + x].
void im2colRows(const float* f, const DynamicConvPlan& p, int64_t y0, int64_t rows, float* col) {
  const int64_t k = p.k, pad = k / 2, P = rows * p.W;
  for (int64_t c = 0; c < p.C; ++c)
    for (int64_t dy = 0; dy < k; ++dy)
      for (int64_t dx = 0; dx < k; ++dx) {
        float* dst = col + ((c * k + dy) * k + dx) * P;
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t y = y0 + r + dy - pad;
          float* d = dst + r * p.W;
          if (y < 0 || y >= p.H) {
            std::memset(d, 0, sizeof(float) * p.W);
            continue;
          }
          const float* s = f + (c * p.H + y) * p.W;
          for (int64_t x = 0; x < p.W; ++x) {
            const int64_t xs = x + dx - pad;
            d[x] = (xs >= 0 && xs < p.W) ? s[xs] : 0.f;
          }
        }
      }
}

// Scratch reused by each pool thread across calls.
std::vector<float>& threadScratch(int which) {
  thread_local std::vector<float> buf[2];
  return buf[which];
}

// GEMM of rows [y0, y0 + rows) into C (ldc): logits (no activation) or the
// activation given. On the calling thread.
// kernels: p.N, or the rows of a group of kernels packed apart (packedA's).
void gemmRows(const DynamicConvPlan& p, const float* features, const PackedMatrix& packedA, int64_t y0,
              int64_t rows, float* C, int64_t ldc, Activation act, int64_t kernels = -1) {
  const int64_t P = rows * p.W, M = kernels < 0 ? p.N : kernels;
  if (p.K() == 0) {
    const float v = act == Activation::Sigmoid ? 0.5f : 0.f;
    for (int64_t m = 0; m < M; ++m) std::fill(C + m * ldc, C + m * ldc + P, v);
    return;
  }
  GemmArgs g;
  g.M = M;
  g.N = P;
  g.K = p.K();
  g.C = C;
  g.ldc = ldc;
  g.ep.act = act;
  if (p.k == 1) {
    g.B = features + y0 * p.W;
    g.ldb = p.H * p.W;
  } else {
    std::vector<float>& col = threadScratch(1);
    col.resize(static_cast<size_t>(p.K() * P));
    im2colRows(features, p, y0, rows, col.data());
    g.B = col.data();
    g.ldb = P;
  }
  gemmF32Packed(g, &packedA, nullptr, nullptr);
}

// precision: the op's; BF16 packs bfloat16 kernels where the CPU can, and the
// GEMM follows the packed operand.
PackedMatrix packKernels(const DynamicConvPlan& p, const float* kernels, ThreadPool* pool, Precision precision) {
  if (p.K() == 0 || p.N == 0) return PackedMatrix();
  return packA(kernels, p.K(), false, p.N, p.K(), activeSimdLevel(), pool, precision);
}

void dynamicConvCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const DynamicConvPlan p = planDynamicConv(call, false);
  if (out[0].numel() == 0) return;
  const float* features = call.inputs[0].data<float>();
  const float* kernels = call.inputs[1].data<float>();
  float* y = out[0].data<float>();
  const int64_t HW = p.pixels();
  const PackedMatrix packed = packKernels(p, kernels, ctx.pool, call.precision);
  // By chunks of rows, one per task: the GEMM writes the logits of all N
  // kernels for those rows (about 1 MB, or the im2col block near 4 MB for
  // k x k), and the sigmoid runs on them while they are in cache.
  dynconv_detail::SigmoidFn vecSigmoid = dynconv_detail::sigmoidFor(activeSimdLevel());
  const bool vec = p.sigmoid && vecSigmoid && p.K() > 0;
  const Activation act = p.sigmoid && !vec ? Activation::Sigmoid : Activation::None;
  const int64_t budget = p.k == 1 ? p.N * p.W : p.K() * p.W;
  const int64_t rows = std::clamp<int64_t>((p.k == 1 ? (int64_t(1) << 18) : (int64_t(1) << 20)) / std::max<int64_t>(1, budget), 1, p.H);
  const int64_t chunks = (p.H + rows - 1) / rows;
  ctx.pool->parallelTasks(chunks, [&](int64_t t) {
    const int64_t y0 = t * rows, r = std::min(rows, p.H - y0);
    gemmRows(p, features, packed, y0, r, y + y0 * p.W, HW, act);
    if (vec)
      for (int64_t m = 0; m < p.N; ++m) vecSigmoid(y + m * HW + y0 * p.W, r * p.W);
  });
}

void dynamicConvMasksCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const DynamicConvPlan p = planDynamicConv(call, true);
  const int64_t N = p.N;
  if (N == 0) return;
  uint64_t* bits = reinterpret_cast<uint64_t*>(out[0].raw());
  int32_t* areas = out[1].data<int32_t>();
  float* soft = out[2].data<float>();
  int32_t* boxes = out[3].data<int32_t>();
  if (p.pixels() == 0) {
    std::memset(areas, 0, sizeof(int32_t) * N);
    std::memset(soft, 0, sizeof(float) * N);
    std::memset(boxes, 0, sizeof(int32_t) * 4 * N);
    if (out[0].bytes()) std::memset(bits, 0, out[0].bytes());
    return;
  }
  const float* features = call.inputs[0].data<float>();
  // Blocks of image rows whose logits (N x rows*W floats) stay near 1 MB
  // (one row at least), in bands of consecutive blocks, one task each.
  const int64_t rows = std::clamp<int64_t>((int64_t(1) << 18) / (N * p.W), 1, p.H);
  const int64_t blocks = (p.H + rows - 1) / rows;
  // Partial statistics per band, not per block: with thousands of candidates
  // (an untrained R50: 16k) a block is one row, and per-block partials took
  // 200 x 16k x 32 bytes. A fixed number of bands (not one per thread) keeps
  // the soft sums' grouping, so the result, independent of the thread count.
  constexpr int64_t kBands = 16;
  const int64_t bands = std::min<int64_t>(blocks, kBands);
  const int64_t perBand = (blocks + bands - 1) / bands;
  std::vector<int64_t> area(bands * N, 0);
  std::vector<double> softP(bands * N, 0.0);
  std::vector<int32_t> ymin(bands * N, -1), ymax(bands * N, -1), xmin(bands * N, std::numeric_limits<int32_t>::max()),
      xmax(bands * N, -1);
  const dynconv_detail::MaskChunkFn chunkFn = dynconv_detail::maskChunkFor(activeSimdLevel());
  const int64_t maskWords = p.H * p.wpr;
  // More threads than bands (over 16 cores): each band's candidates also split into groups (of whole microkernel
  // panels, each packed apart). A candidate's statistics in a band come from the same rows in the same order either
  // way, so nothing changes but who computes them. 1x1 kernels only (a k x k im2col would be made per group).
  const int threads = ctx.pool ? ctx.pool->size() : 1;
  const int64_t kernelGroups = p.k == 1 && p.K() > 0 ? piecesPerUnit(bands, threads, ceilDiv(N, int64_t(64))) : 1;
  const int64_t groupSize = roundUp(ceilDiv(N, kernelGroups), 16), groups = ceilDiv(N, groupSize);
  const float* kernels = call.inputs[1].data<float>();
  std::vector<PackedMatrix> packed(static_cast<size_t>(groups));
  for (int64_t q = 0; q < groups; ++q) {
    const int64_t n0 = q * groupSize, n1 = std::min(N, n0 + groupSize);
    DynamicConvPlan pq = p;
    pq.N = n1 - n0;
    packed[q] = packKernels(pq, kernels + n0 * p.K(), ctx.pool, call.precision);
  }
  constexpr size_t kKeptLogits = size_t(1) << 20;  // floats of thread scratch kept across calls
  ctx.pool->parallelTasks(bands * groups, [&](int64_t task) {
    const int64_t t = task / groups, q = task % groups, n0 = q * groupSize, count = std::min(N, n0 + groupSize) - n0;
    const size_t need = static_cast<size_t>(count * rows * p.W);
    // Over the kept size (many candidates), a buffer for this task only.
    std::vector<float> own;
    std::vector<float>& logits = need <= kKeptLogits ? threadScratch(0) : own;
    if (logits.size() < need) logits.resize(need);
    for (int64_t b = t * perBand; b < std::min(blocks, (t + 1) * perBand); ++b) {
      const int64_t y0 = b * rows, r = std::min(rows, p.H - y0), P = r * p.W;
      gemmRows(p, features, packed[q], y0, r, logits.data(), P, Activation::None, count);
      dynconv_detail::ChunkArgs a;
      a.logits = logits.data();
      a.ld = P;
      a.count = count;
      a.rows = r;
      a.W = p.W;
      a.wpr = p.wpr;
      a.logitThr = p.logitThr;
      a.bits = bits + n0 * maskWords + y0 * p.wpr;
      a.maskPitch = maskWords;
      const int64_t at = t * N + n0;  // this band's partials of the group's first candidate
      a.area = area.data() + at;
      a.soft = softP.data() + at;
      a.ymin = ymin.data() + at;
      a.ymax = ymax.data() + at;
      a.xmin = xmin.data() + at;
      a.xmax = xmax.data() + at;
      a.yOffset = y0;
      chunkFn(a);
    }
  });
  // Reduce the partials in band order.
  for (int64_t m = 0; m < N; ++m) {
    int64_t ar = 0;
    double s = 0;
    int32_t y0 = -1, y1 = -1, x0 = std::numeric_limits<int32_t>::max(), x1 = -1;
    for (int64_t t = 0; t < bands; ++t) {
      const int64_t i = t * N + m;
      ar += area[i];
      s += softP[i];
      if (ymin[i] >= 0) {
        if (y0 < 0) y0 = ymin[i];
        y1 = ymax[i];
        x0 = std::min(x0, xmin[i]);
        x1 = std::max(x1, xmax[i]);
      }
    }
    areas[m] = static_cast<int32_t>(ar);
    soft[m] = static_cast<float>(s);
    int32_t* b = boxes + 4 * m;
    if (ar == 0) {
      b[0] = b[1] = b[2] = b[3] = 0;
    } else {
      b[0] = x0;
      b[1] = y0;
      b[2] = x1 + 1;
      b[3] = y1 + 1;
    }
  }
}

std::vector<TensorSpec> inferMasks(const OpCall& call) {
  const DynamicConvPlan p = planDynamicConv(call, true);
  return {{DType::I32, {p.N, p.H, 2 * p.wpr}}, {DType::I32, {p.N}}, {DType::F32, {p.N}}, {DType::I32, {p.N, 4}}};
}

OpRegistrar regConv(OpDef{
    "dynamic_conv", 2, 2,
    [](const OpCall& call) {
      const DynamicConvPlan p = planDynamicConv(call, false);
      return std::vector<TensorSpec>{{DType::F32, {p.N, p.H, p.W}}};
    },
    dynamicConvCpu, nullptr});

OpRegistrar regMasks(OpDef{"dynamic_conv_masks", 2, 2, inferMasks, dynamicConvMasksCpu, nullptr});

}  // namespace
}  // namespace sotr
