// CPU twin of matrix_nms: bit-packed AND + popcount over the overlap of the
// two masks' boxes (AVX-512 VPOPCNTDQ when present), only for pairs i < j of
// one class; then the compensation and one exp per column.
#include "ops/matrix_nms.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "ops/bitmask.h"
#include "runtime/thread_pool.h"

namespace sotr {

namespace {
const char* kOp = "matrix_nms";
}

void checkSortedScores(const std::string& op, const float* scores, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(scores[i]))
      fail(ErrorKind::Range, op + ": scores must not hold NaN (index " + std::to_string(i) + ")");
    if (i > 0 && scores[i] > scores[i - 1])
      fail(ErrorKind::Range, op + ": scores must be sorted in descending order, but scores[" + std::to_string(i) +
                                 "] = " + std::to_string(scores[i]) + " > scores[" + std::to_string(i - 1) +
                                 "] = " + std::to_string(scores[i - 1]));
  }
}

MatrixNmsPlan planMatrixNms(const OpCall& call) {
  const std::string op = kOp;
  MatrixNmsPlan p;
  const Tensor& masks = call.inputs[0];
  expectDefined(op, "masks", masks);
  if (masks.dtype != DType::U8 && masks.dtype != DType::I32)
    fail(ErrorKind::DType, op + ": masks must be uint8 [n, H, W] or bit-packed int32 [n, H, 2*wordsPerRow], received " +
                               dtypeName(masks.dtype));
  expectRank(op, "masks", masks, 3);
  p.n = masks.size(0);
  p.height = masks.size(1);
  p.dense = masks.dtype == DType::U8;
  if (p.dense) {
    p.width = masks.size(2);
    p.wpr = bitmask::wordsPerRow(p.width);
  } else {
    if (masks.size(2) % 2 != 0)
      fail(ErrorKind::Shape, op + ": bit-packed masks must have an even last dimension (2 int32 per 64-bit word), "
                                  "received shape " + shapeStr(masks.shape));
    p.wpr = masks.size(2) / 2;
    p.width = call.attrs.integer(op, "width", 64 * p.wpr);
    if (p.width < 0 || bitmask::wordsPerRow(p.width) != p.wpr)
      fail(ErrorKind::Shape, op + ": width " + std::to_string(p.width) + " needs " +
                                 std::to_string(2 * bitmask::wordsPerRow(p.width)) +
                                 " int32 words per row, masks have shape " + shapeStr(masks.shape));
  }
  expectDType(op, "labels", call.inputs[1], DType::I32);
  expectShape(op, "labels", call.inputs[1], {p.n});
  expectDType(op, "scores", call.inputs[2], DType::F32);
  expectShape(op, "scores", call.inputs[2], {p.n});
  const bool hasAreas = call.inputs.size() > 3 && call.inputs[3].defined();
  const bool hasBoxes = call.inputs.size() > 4 && call.inputs[4].defined();
  if (hasAreas != hasBoxes) fail(ErrorKind::InvalidArgument, op + ": areas and boxes go together (give both or neither)");
  if (hasAreas) {
    expectDType(op, "areas", call.inputs[3], DType::I32);
    expectShape(op, "areas", call.inputs[3], {p.n});
    expectDType(op, "boxes", call.inputs[4], DType::I32);
    expectShape(op, "boxes", call.inputs[4], {p.n, 4});
  }
  p.hasStats = hasAreas;
  const std::string kernel = call.attrs.string(op, "kernel", "gaussian");
  if (kernel != "gaussian" && kernel != "linear")
    fail(ErrorKind::Range, op + ": kernel must be 'gaussian' or 'linear', received '" + kernel + "'");
  p.gaussian = kernel == "gaussian";
  const double sigma = call.attrs.number(op, "sigma", 2.0);
  if (!(sigma >= 0) || sigma > 1e30) fail(ErrorKind::Range, op + ": sigma must be >= 0, received " + std::to_string(sigma));
  p.sigma = static_cast<float>(sigma);
  p.intersections = call.attrs.flag(op, "intersections", false);
  const std::string algo = call.attrs.string(op, "algorithm", "auto");
  if (algo == "popcount") p.algorithm = MatrixNmsPlan::Algorithm::Popcount;
  else if (algo == "mma") p.algorithm = MatrixNmsPlan::Algorithm::Mma;
  else if (algo == "bmma") p.algorithm = MatrixNmsPlan::Algorithm::Bmma;
  else if (algo != "auto")
    fail(ErrorKind::Range, op + ": algorithm must be 'auto', 'popcount', 'mma' or 'bmma', received '" + algo + "'");
  if (p.n > 0 && p.height * p.wpr * 64 >= (int64_t(1) << 31))
    fail(ErrorKind::Range, op + ": masks of " + std::to_string(p.height) + " x " + std::to_string(p.width) +
                               " pixels are too large (counts are int32)");
  return p;
}

namespace {

void matrixNmsCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const MatrixNmsPlan p = planMatrixNms(call);
  const int64_t n = p.n;
  if (p.intersections && n) std::memset(out[1].raw(), 0, out[1].bytes());
  if (n == 0) return;
  const float* scores = call.inputs[2].data<float>();
  const int32_t* labels = call.inputs[1].data<int32_t>();
  checkSortedScores(kOp, scores, n);
  ThreadPool* pool = ctx.pool;

  const bitmask::Geom g{n, p.height, p.width, p.wpr};
  std::vector<uint64_t> packed;
  const uint64_t* bits;
  if (p.dense) {
    packed.resize(static_cast<size_t>(n * g.maskWords()));
    bitmask::pack(call.inputs[0].data<uint8_t>(), g, packed.data(), pool);
    bits = packed.data();
  } else {
    bits = reinterpret_cast<const uint64_t*>(call.inputs[0].raw());
  }
  std::vector<int32_t> areaBuf, boxBuf;
  const int32_t *areas, *boxes;
  if (p.hasStats) {
    areas = call.inputs[3].data<int32_t>();
    boxes = call.inputs[4].data<int32_t>();
  } else {
    areaBuf.resize(n);
    boxBuf.resize(4 * n);
    bitmask::stats(bits, g, areaBuf.data(), boxBuf.data(), pool);
    areas = areaBuf.data();
    boxes = boxBuf.data();
  }

  // Group by class (members in score order): class c holds ids order[start[c] .. start[c+1]).
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return labels[a] < labels[b]; });
  std::vector<int64_t> pos(n), classStart(n), triBase(n);  // per mask: position in class, class start, triangle base
  int64_t tri = 0;
  for (int64_t s = 0; s < n;) {
    int64_t e = s;
    while (e < n && labels[order[e]] == labels[order[s]]) ++e;
    for (int64_t q = s; q < e; ++q) {
      pos[order[q]] = q - s;
      classStart[order[q]] = s;
      triBase[order[q]] = tri;
    }
    tri += (e - s) * (e - s - 1) / 2;
    s = e;
  }
  // iou[triBase + P(P-1)/2 + Q]: IoU of members Q < P of one class.
  std::vector<float> iou(static_cast<size_t>(tri));
  std::vector<float> comp(n, 0.f);
  int32_t* inter = p.intersections ? out[1].data<int32_t>() : nullptr;
  bitmask::RectAndCountFn count = bitmask::rectAndCountKernel();

  // Pass 1: IoU of every pair Q < P of one class (positions in the class), and
  // comp. One task per block of kBlock consecutive members P of a class (the
  // largest classes' late blocks first); inside, each earlier member i is read
  // once for the whole block (it stays in L1 while the block's masks sit in
  // L2), which cuts the traffic from L3 by the block size on dense masks.
  constexpr int64_t kBlock = 8;
  struct Task {
    int64_t start, p0, p1;  // class start in `order`, positions [p0, p1)
  };
  std::vector<Task> tasks;
  for (int64_t s = 0; s < n;) {
    int64_t e = s;
    while (e < n && labels[order[e]] == labels[order[s]]) ++e;
    for (int64_t p0 = 1; p0 < e - s; p0 += kBlock) tasks.push_back({s, p0, std::min(e - s, p0 + kBlock)});
    s = e;
  }
  std::stable_sort(tasks.begin(), tasks.end(), [](const Task& a, const Task& b) { return a.p1 > b.p1; });
  auto block = [&](int64_t t) {
    const Task& tk = tasks[t];
    const int64_t nb = tk.p1 - tk.p0;
    int64_t js[kBlock];
    float cmax[kBlock];
    for (int64_t b = 0; b < nb; ++b) {
      js[b] = order[tk.start + tk.p0 + b];
      cmax[b] = 0.f;
    }
    for (int64_t Q = 0; Q + 1 < tk.p1; ++Q) {
      const int64_t i = order[tk.start + Q];
      const int32_t* bi = boxes + 4 * i;
      const uint64_t* mi = bits + i * g.maskWords();
      for (int64_t b = std::max<int64_t>(0, Q + 1 - tk.p0); b < nb; ++b) {
        const int64_t j = js[b], P = tk.p0 + b;
        const int32_t* bj = boxes + 4 * j;
        // Clipped to the masks: given boxes that do not describe the bits (the op cannot check them without
        // reading every mask) must not make it read outside them. The CUDA kernels clip rows the same way.
        const int64_t x0 = std::max<int64_t>({bi[0], bj[0], 0}), y0 = std::max<int64_t>({bi[1], bj[1], 0});
        const int64_t x1 = std::min<int64_t>({bi[2], bj[2], g.width}), y1 = std::min<int64_t>({bi[3], bj[3], g.height});
        int64_t c = 0;
        if (x0 < x1 && y0 < y1) c = count(mi, bits + j * g.maskWords(), g.wpr, y0, y1, x0 / 64, (x1 - 1) / 64 + 1);
        const int64_t uni = static_cast<int64_t>(areas[i]) + areas[j] - c;
        // As the reference: float32 counts (exact below 2^24), one rounding.
        const float v = uni > 0 ? static_cast<float>(c) / static_cast<float>(uni) : 0.f;
        iou[triBase[j] + P * (P - 1) / 2 + Q] = v;
        cmax[b] = std::max(cmax[b], v);
        if (inter) inter[i * n + j] = static_cast<int32_t>(c);
      }
    }
    for (int64_t b = 0; b < nb; ++b) comp[js[b]] = cmax[b];
  };
  const int64_t ntasks = static_cast<int64_t>(tasks.size());
  if (pool && n > 16) pool->parallelTasks(ntasks, block);
  else
    for (int64_t t = 0; t < ntasks; ++t) block(t);

  // Pass 2: the column minimum of the decay, one exp per column.
  float* decayed = out[0].data<float>();
  const float sigma = p.sigma;
  const bool gaussian = p.gaussian;
  auto decayCols = [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t P = pos[j];
      const float* row = iou.data() + triBase[j] + P * (P - 1) / 2;
      float decay = 1.f;
      if (gaussian) {
        float m = 0.f;  // min_i (comp_i^2 - iou_ij^2), capped at 0 (decay <= 1)
        for (int64_t Q = 0; Q < P; ++Q) {
          const float c = comp[order[classStart[j] + Q]];
          m = std::min(m, c * c - row[Q] * row[Q]);
        }
        if (m < 0.f) decay = std::exp(sigma * m);
      } else {
        for (int64_t Q = 0; Q < P; ++Q) {
          const float c = comp[order[classStart[j] + Q]];
          if (c >= 1.f) continue;  // a duplicate row: see matrix_nms.h
          decay = std::min(decay, (1.f - row[Q]) / (1.f - c));
        }
      }
      decayed[j] = scores[j] * decay;
    }
  };
  if (pool && n > 256) pool->parallelFor(n, 64, decayCols);
  else decayCols(0, n);
}

OpRegistrar reg(OpDef{
    "matrix_nms", 3, 5,
    [](const OpCall& call) {
      MatrixNmsPlan p = planMatrixNms(call);
      std::vector<TensorSpec> specs{{DType::F32, {p.n}}};
      if (p.intersections) specs.push_back({DType::I32, {p.n, p.n}});
      return specs;
    },
    matrixNmsCpu, nullptr});

}  // namespace

}  // namespace sotr
