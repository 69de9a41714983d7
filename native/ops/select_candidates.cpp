// selectCandidates: see select_candidates.h. The arithmetic and the order are
// the TypeScript version's (ts/model/postprocess.ts before this op; kept as the
// reference of tests/model/postprocess_ops.test.mjs), bit for bit.
#include "ops/select_candidates.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "runtime/thread_pool.h"

namespace sotr {

// exp in double, then float32: equal to the TypeScript's Math.fround(Math.exp(-x)) for every float32 x. Checked
// once over all float32 |x| <= 104 (beyond, the result is 0 or inf either way): glibc's and V8's exp are both
// within 1 ulp of exp(-x) in double, and only two such x (0x3bf0edf1, 0x416912cd) have a float32 rounding that
// moves within +-2 ulps; both give the same float32 in C++ and in Node.
float sigmoid32Exact(float x) {
  const float e = static_cast<float>(std::exp(-static_cast<double>(x)));
  const float s = static_cast<float>(1.0 + static_cast<double>(e));
  return static_cast<float>(1.0 / static_cast<double>(s));
}

namespace {

constexpr int64_t kMaxLevels = 8;

struct Plan {
  int64_t levels = 0, classes = 0, cap = 0, cellsTotal = 0;
  std::vector<int64_t> n;  // grid size per level
  std::vector<float> strides;
  double threshold = 0;
  // Per class: 1 where its pairs may be candidates (the optional `classes` attr; all when absent).
  std::vector<char> allowed;
};

Plan plan(const OpCall& call) {
  const std::string& op = call.op;
  Plan p;
  p.levels = static_cast<int64_t>(call.inputs.size());
  for (int64_t l = 0; l < p.levels; ++l) {
    const Tensor& t = call.inputs[l];
    const std::string arg = "cate[" + std::to_string(l) + "]";
    expectDefined(op, arg, t);
    expectDType(op, arg, t, DType::F32);
    const bool ok = (t.dim() == 3 || (t.dim() == 4 && t.size(0) == 1)) && t.size(-1) == t.size(-2) && t.size(-1) >= 1 &&
                    t.size(-3) >= 1;
    if (!ok) fail(ErrorKind::Shape, op + ": " + arg + " must be [C, N, N] or [1, C, N, N] with C, N >= 1, received " + shapeStr(t.shape));
    const int64_t c = t.size(-3);
    if (l == 0) p.classes = c;
    else if (c != p.classes)
      fail(ErrorKind::Shape, op + ": every level must have the same class count, cate[0] has " + std::to_string(p.classes) +
                                 ", " + arg + " has " + std::to_string(c));
    p.n.push_back(t.size(-1));
    p.cap += c * t.size(-1) * t.size(-1);
    p.cellsTotal += t.size(-1) * t.size(-1);
  }
  if (p.cap >= (int64_t(1) << 31)) fail(ErrorKind::Range, op + ": too many (cell, class) pairs for int32 indices");
  if (!call.attrs.has("threshold")) fail(ErrorKind::InvalidArgument, op + ": threshold is required");
  p.threshold = call.attrs.number(op, "threshold", 0);
  if (std::isnan(p.threshold)) fail(ErrorKind::Range, op + ": threshold must be a number, received NaN");
  if (!call.attrs.has("strides")) fail(ErrorKind::InvalidArgument, op + ": strides (one per level) are required");
  const std::vector<double> s = call.attrs.numbers(op, "strides", {});
  if (static_cast<int64_t>(s.size()) != p.levels)
    fail(ErrorKind::Range, op + ": strides must hold one number per level (" + std::to_string(p.levels) + "), received " +
                               std::to_string(s.size()));
  for (double v : s) p.strides.push_back(static_cast<float>(v));
  // Only these classes: the others' pairs are never candidates, as if their logits were -inf (point NMS runs per
  // class, so the kept classes' candidates do not change).
  p.allowed.assign(static_cast<size_t>(p.classes), call.attrs.has("classes") ? 0 : 1);
  if (call.attrs.has("classes")) {
    for (double v : call.attrs.numbers(op, "classes", {})) {
      if (!(v >= 0 && v < static_cast<double>(p.classes)) || v != std::floor(v))
        fail(ErrorKind::Range, op + ": classes must hold class indices in [0, " + std::to_string(p.classes) + "), received " +
                                   (v == std::floor(v) && std::fabs(v) < 1e15 ? std::to_string(static_cast<long long>(v)) : std::to_string(v)));
      p.allowed[static_cast<size_t>(v)] = 1;
    }
  }
  return p;
}

void runCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const Plan p = plan(call);
  int32_t* cells = out[1].data<int32_t>();
  int32_t* labels = out[2].data<int32_t>();
  float* scores = out[3].data<float>();
  float* strides = out[4].data<float>();
  int32_t* rows = out[5].data<int32_t>();
  int32_t* distinctCells = out[6].data<int32_t>();
  const double t = p.threshold;
  // Logits at or below the bound have sigmoid32 <= t: they can neither be candidates nor suppress one (p = 0 is
  // as good as their probability). A margin of 1e-3 keeps float32 rounding on the safe side.
  const double bound = t <= 0 ? -std::numeric_limits<double>::infinity()
                       : t >= 1 ? std::numeric_limits<double>::infinity()
                                : std::log(t / (1 - t)) - 1e-3;
  const bool zeroSelected = 0.0 > t;  // a suppressed pair (kept value 0) is still selected
  ThreadPool* pool = ctx.pool && ctx.pool->size() > 1 ? ctx.pool : nullptr;
  std::vector<float> prob;
  int64_t count = 0, distinct = 0, offset = 0;
  const int64_t C = p.classes;
  for (int64_t l = 0; l < p.levels; ++l) {
    const int64_t n = p.n[l], nn = n * n;
    const float* cate = call.inputs[l].data<float>();
    prob.assign(static_cast<size_t>(C * nn), 0.f);
    float* pr = prob.data();
    auto sig = [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        if (static_cast<double>(cate[i]) > bound) pr[i] = sigmoid32Exact(cate[i]);
    };
    if (pool && C * nn > 8192) pool->parallelFor(C * nn, 4096, sig);
    else sig(0, C * nn);
    // Row-major over (cell, class): point NMS inline (the window's max over the top, top-left and left
    // neighbours, -inf outside), only where the pair can be selected.
    const float stride = p.strides[l];
    for (int64_t cell = 0; cell < nn; ++cell) {
      const int64_t y = cell / n, x = cell % n;
      for (int64_t c = 0; c < C; ++c) {
        if (!p.allowed[static_cast<size_t>(c)]) continue;
        const float* q = pr + c * nn;
        const float v = q[cell];
        if (!(static_cast<double>(v) > t) && !zeroSelected) continue;
        float m = v;
        if (y > 0) {
          const float tp = q[cell - n];
          if (tp > m) m = tp;
          if (x > 0) {
            const float tl = q[cell - n - 1];
            if (tl > m) m = tl;
          }
        }
        if (x > 0) {
          const float lf = q[cell - 1];
          if (lf > m) m = lf;
        }
        const float kept = m == v ? v : 0.f;
        if (static_cast<double>(kept) > t) {
          // Candidates come cell by cell, so a cell's classes are consecutive and the distinct cells ascend.
          const int32_t global = static_cast<int32_t>(offset + cell);
          if (distinct == 0 || distinctCells[distinct - 1] != global) distinctCells[distinct++] = global;
          rows[count] = static_cast<int32_t>(distinct - 1);
          cells[count] = global;
          labels[count] = static_cast<int32_t>(c);
          scores[count] = kept;
          strides[count] = stride;
          ++count;
        }
      }
    }
    offset += nn;
  }
  out[0].data<int32_t>()[0] = static_cast<int32_t>(count);
  out[0].data<int32_t>()[1] = static_cast<int32_t>(distinct);
  const size_t tail = static_cast<size_t>(p.cap - count);
  std::memset(rows + count, 0, tail * sizeof(int32_t));
  std::memset(distinctCells + distinct, 0, static_cast<size_t>(p.cellsTotal - distinct) * sizeof(int32_t));
  std::memset(cells + count, 0, tail * sizeof(int32_t));
  std::memset(labels + count, 0, tail * sizeof(int32_t));
  std::memset(scores + count, 0, tail * sizeof(float));
  std::memset(strides + count, 0, tail * sizeof(float));
}

OpRegistrar reg(OpDef{"selectCandidates", 1, kMaxLevels,
                      [](const OpCall& call) {
                        const Plan p = plan(call);
                        return std::vector<TensorSpec>{{DType::I32, {2}},
                                                       {DType::I32, {p.cap}},
                                                       {DType::I32, {p.cap}},
                                                       {DType::F32, {p.cap}},
                                                       {DType::F32, {p.cap}},
                                                       {DType::I32, {p.cap}},
                                                       {DType::I32, {p.cellsTotal}}};
                      },
                      runCpu, nullptr});

}  // namespace
}  // namespace sotr
