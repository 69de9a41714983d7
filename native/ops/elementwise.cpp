#include "ops/elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "runtime/thread_pool.h"

namespace sotr {

namespace {

constexpr int64_t kGrain = 1 << 15;  // elements per parallel chunk

void parallelRange(ThreadPool* pool, int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (pool && pool->size() > 1 && n > grain) pool->parallelFor(n, grain, fn);
  else if (n > 0) fn(0, n);
}

int64_t normAxis(const std::string& op, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    fail(ErrorKind::Range, op + ": axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

}  // namespace

// ---------------------------------------------------------------------------
// Unary
// ---------------------------------------------------------------------------

UnaryKind unaryKindOf(const std::string& op) {
  if (op == "relu") return UnaryKind::Relu;
  if (op == "leakyRelu") return UnaryKind::LeakyRelu;
  return UnaryKind::Sigmoid;
}

namespace {

std::vector<TensorSpec> inferUnary(const OpCall& call) {
  expectDType(call.op, "x", call.inputs[0], DType::F32);
  if (call.op == "leakyRelu") (void)call.attrs.number(call.op, "negativeSlope", 0.01);
  return {{DType::F32, call.inputs[0].shape}};
}

void runUnaryCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const UnaryKind k = unaryKindOf(call.op);
  const float slope = static_cast<float>(call.attrs.number(call.op, "negativeSlope", 0.01));
  const float* x = call.inputs[0].data<float>();
  float* y = out[0].data<float>();
  parallelRange(ctx.pool, out[0].numel(), kGrain, [&](int64_t b, int64_t e) {
    switch (k) {
      case UnaryKind::Relu:
        for (int64_t i = b; i < e; ++i) y[i] = x[i] < 0.f ? 0.f : x[i];
        break;
      case UnaryKind::LeakyRelu:
        for (int64_t i = b; i < e; ++i) y[i] = x[i] > 0.f ? x[i] : x[i] * slope;
        break;
      default:
        for (int64_t i = b; i < e; ++i) y[i] = 1.f / (1.f + std::exp(-x[i]));
    }
  });
}

OpRegistrar regRelu(OpDef{"relu", 1, 1, inferUnary, runUnaryCpu, nullptr});
OpRegistrar regLeaky(OpDef{"leakyRelu", 1, 1, inferUnary, runUnaryCpu, nullptr});
OpRegistrar regSigmoid(OpDef{"sigmoid", 1, 1, inferUnary, runUnaryCpu, nullptr});

}  // namespace

// ---------------------------------------------------------------------------
// Binary with broadcasting
// ---------------------------------------------------------------------------

BinaryKind binaryKindOf(const std::string& op) {
  if (op == "add") return BinaryKind::Add;
  if (op == "sub") return BinaryKind::Sub;
  if (op == "mul") return BinaryKind::Mul;
  return BinaryKind::Div;
}

BroadcastPlan planBinary(const OpCall& call) {
  const std::string& op = call.op;
  BroadcastPlan p;
  p.kind = binaryKindOf(op);
  const Tensor& a = call.inputs[0];
  expectDType(op, "a", a, DType::F32);
  const bool hasB = call.inputs.size() > 1 && call.inputs[1].defined();
  if (p.kind == BinaryKind::Add || p.kind == BinaryKind::Sub)
    p.alpha = static_cast<float>(call.attrs.number(op, "alpha", 1.0));
  if (!hasB) {
    if (!call.attrs.has("other")) fail(ErrorKind::InvalidArgument, op + ": b is required (a Tensor or a number)");
    p.scalarB = true;
    p.other = static_cast<float>(call.attrs.number(op, "other", 0.0));
    p.outShape = a.shape;
    p.numel = a.numel();
    p.sameShape = true;
    p.rank = 1;
    p.dims[0] = p.numel;
    p.sa[0] = 1;
    return p;
  }
  const Tensor& b = call.inputs[1];
  expectDType(op, "b", b, DType::F32);
  const int64_t rank = std::max(a.dim(), b.dim());
  if (rank > kMaxBroadcastRank)
    fail(ErrorKind::Shape, op + ": at most " + std::to_string(kMaxBroadcastRank) + " dimensions are supported, received " +
                               shapeStr(a.shape) + " and " + shapeStr(b.shape));
  Shape out(rank), da(rank, 1), db(rank, 1);
  for (int64_t i = 0; i < a.dim(); ++i) da[rank - a.dim() + i] = a.shape[i];
  for (int64_t i = 0; i < b.dim(); ++i) db[rank - b.dim() + i] = b.shape[i];
  for (int64_t i = 0; i < rank; ++i) {
    if (da[i] != db[i] && da[i] != 1 && db[i] != 1)
      fail(ErrorKind::Shape, op + ": shapes " + shapeStr(a.shape) + " and " + shapeStr(b.shape) +
                                 " cannot be broadcast together");
    out[i] = da[i] == 1 ? db[i] : da[i];
  }
  p.outShape = out;
  p.numel = numel(out);
  p.sameShape = a.shape == out && b.shape == out;
  // Strides (0 where broadcast), then collapse mergeable neighbours.
  std::vector<int64_t> sa(rank), sb(rank);
  int64_t ra = 1, rb = 1;
  for (int64_t i = rank - 1; i >= 0; --i) {
    sa[i] = da[i] == 1 ? 0 : ra;
    sb[i] = db[i] == 1 ? 0 : rb;
    ra *= da[i];
    rb *= db[i];
  }
  std::vector<int64_t> cd, ca, cb;
  for (int64_t i = 0; i < rank; ++i) {
    if (out[i] == 1) continue;
    if (!cd.empty() && ca.back() == sa[i] * out[i] && cb.back() == sb[i] * out[i]) {
      cd.back() *= out[i];
      ca.back() = sa[i];
      cb.back() = sb[i];
    } else {
      cd.push_back(out[i]);
      ca.push_back(sa[i]);
      cb.push_back(sb[i]);
    }
  }
  if (cd.empty()) {
    cd = {1};
    ca = {0};
    cb = {0};
  }
  p.rank = static_cast<int>(cd.size());
  for (int i = 0; i < p.rank; ++i) {
    p.dims[i] = cd[i];
    p.sa[i] = ca[i];
    p.sb[i] = cb[i];
  }
  return p;
}

namespace {

inline float binaryOp(BinaryKind k, float a, float b, float alpha) {
  switch (k) {
    case BinaryKind::Add: return alpha == 1.f ? a + b : a + alpha * b;
    case BinaryKind::Sub: return alpha == 1.f ? a - b : a - alpha * b;
    case BinaryKind::Mul: return a * b;
    default: return a / b;
  }
}

void runBinaryCpu(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const BroadcastPlan p = planBinary(call);
  const float* a = call.inputs[0].data<float>();
  const float* b = p.scalarB ? nullptr : call.inputs[1].data<float>();
  float* y = out[0].data<float>();
  if (p.numel == 0) return;
  if (p.scalarB || p.sameShape) {
    parallelRange(ctx.pool, p.numel, kGrain, [&](int64_t s, int64_t e) {
      if (p.scalarB)
        for (int64_t i = s; i < e; ++i) y[i] = binaryOp(p.kind, a[i], p.other, p.alpha);
      else
        for (int64_t i = s; i < e; ++i) y[i] = binaryOp(p.kind, a[i], b[i], p.alpha);
    });
    return;
  }
  // Rows of the innermost collapsed dimension.
  const int r = p.rank;
  const int64_t inner = p.dims[r - 1], rows = p.numel / inner;
  const int64_t ia = p.sa[r - 1], ib = p.sb[r - 1];
  parallelRange(ctx.pool, rows, std::max<int64_t>(1, kGrain / inner), [&](int64_t s, int64_t e) {
    for (int64_t row = s; row < e; ++row) {
      int64_t rem = row, oa = 0, ob = 0;
      for (int d = r - 2; d >= 0; --d) {
        const int64_t idx = rem % p.dims[d];
        rem /= p.dims[d];
        oa += idx * p.sa[d];
        ob += idx * p.sb[d];
      }
      float* yr = y + row * inner;
      const float* ar = a + oa;
      const float* br = b + ob;
      for (int64_t j = 0; j < inner; ++j) yr[j] = binaryOp(p.kind, ar[j * ia], br[j * ib], p.alpha);
    }
  });
}

std::vector<TensorSpec> inferBinary(const OpCall& call) { return {{DType::F32, planBinary(call).outShape}}; }

OpRegistrar regAdd(OpDef{"add", 1, 2, inferBinary, runBinaryCpu, nullptr});
OpRegistrar regSub(OpDef{"sub", 1, 2, inferBinary, runBinaryCpu, nullptr});
OpRegistrar regMul(OpDef{"mul", 1, 2, inferBinary, runBinaryCpu, nullptr});
OpRegistrar regDiv(OpDef{"div", 1, 2, inferBinary, runBinaryCpu, nullptr});

}  // namespace

// ---------------------------------------------------------------------------
// concat / slice / meanWidthHalves
// ---------------------------------------------------------------------------

ConcatPlan planConcat(const OpCall& call) {
  const std::string& op = call.op;
  ConcatPlan p;
  if (call.inputs.empty()) fail(ErrorKind::InvalidArgument, op + ": needs at least one tensor");
  for (size_t i = 0; i < call.inputs.size(); ++i)
    expectDType(op, "tensors[" + std::to_string(i) + "]", call.inputs[i], DType::F32);
  const Shape& s0 = call.inputs[0].shape;
  const int64_t rank = static_cast<int64_t>(s0.size());
  if (rank == 0) fail(ErrorKind::Shape, op + ": tensors must have at least one dimension");
  const int64_t axis = normAxis(op, call.attrs.integer(op, "axis", -1), rank);
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    const Shape& s = call.inputs[i].shape;
    bool ok = static_cast<int64_t>(s.size()) == rank;
    for (int64_t d = 0; ok && d < rank; ++d) ok = d == axis || s[d] == s0[d];
    if (!ok)
      fail(ErrorKind::Shape, op + ": tensors[" + std::to_string(i) + "] has shape " + shapeStr(s) +
                                 ", which does not match " + shapeStr(s0) + " outside axis " + std::to_string(axis));
    p.axisSizes.push_back(s[axis]);
    p.outAxis += s[axis];
  }
  for (int64_t d = 0; d < axis; ++d) p.outer *= s0[d];
  for (int64_t d = axis + 1; d < rank; ++d) p.inner *= s0[d];
  p.outShape = s0;
  p.outShape[axis] = p.outAxis;
  return p;
}

SlicePlan planSlice(const OpCall& call) {
  const std::string& op = call.op;
  SlicePlan p;
  const Tensor& x = call.inputs[0];
  expectDType(op, "x", x, DType::F32);
  const int64_t rank = x.dim();
  if (rank == 0) fail(ErrorKind::Shape, op + ": x must have at least one dimension");
  const int64_t axis = normAxis(op, call.attrs.integer(op, "axis", -1), rank);
  const int64_t n = x.shape[axis];
  int64_t start = call.attrs.integer(op, "start", 0);
  int64_t end = call.attrs.integer(op, "end", n);
  // Python slice semantics (step 1): negative counts from the end, clamped.
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::min(std::max<int64_t>(start, 0), n);
  end = std::min(std::max<int64_t>(end, start), n);
  p.start = start;
  p.len = end - start;
  p.inAxis = n;
  for (int64_t d = 0; d < axis; ++d) p.outer *= x.shape[d];
  for (int64_t d = axis + 1; d < rank; ++d) p.inner *= x.shape[d];
  p.outShape = x.shape;
  p.outShape[axis] = p.len;
  return p;
}

HalvesPlan planHalves(const OpCall& call) {
  const std::string& op = call.op;
  HalvesPlan p;
  const Tensor& x = call.inputs[0];
  expectDType(op, "x", x, DType::F32);
  if (x.dim() < 1 || x.shape.back() % 2 != 0)
    fail(ErrorKind::Shape, op + ": x must have an even last dimension, received " + shapeStr(x.shape));
  p.half = x.shape.back() / 2;
  p.rows = p.half ? x.numel() / (2 * p.half) : 0;
  p.outShape = x.shape;
  p.outShape.back() = p.half;
  return p;
}

namespace {

OpRegistrar regConcat(OpDef{
    "concat", 1, 64, [](const OpCall& call) { return std::vector<TensorSpec>{{DType::F32, planConcat(call).outShape}}; },
    [](const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
      const ConcatPlan p = planConcat(call);
      float* y = out[0].data<float>();
      const int64_t rowOut = p.outAxis * p.inner;
      parallelRange(ctx.pool, p.outer, std::max<int64_t>(1, kGrain / std::max<int64_t>(rowOut, 1)),
                    [&](int64_t s, int64_t e) {
                      for (int64_t o = s; o < e; ++o) {
                        int64_t off = 0;
                        for (size_t i = 0; i < call.inputs.size(); ++i) {
                          const int64_t len = p.axisSizes[i] * p.inner;
                          if (len)
                            std::memcpy(y + o * rowOut + off, call.inputs[i].data<float>() + o * len,
                                        sizeof(float) * len);
                          off += len;
                        }
                      }
                    });
    },
    nullptr});

OpRegistrar regSlice(OpDef{
    "slice", 1, 1, [](const OpCall& call) { return std::vector<TensorSpec>{{DType::F32, planSlice(call).outShape}}; },
    [](const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
      const SlicePlan p = planSlice(call);
      const float* x = call.inputs[0].data<float>();
      float* y = out[0].data<float>();
      const int64_t len = p.len * p.inner;
      if (len == 0) return;
      parallelRange(ctx.pool, p.outer, std::max<int64_t>(1, kGrain / len), [&](int64_t s, int64_t e) {
        for (int64_t o = s; o < e; ++o)
          std::memcpy(y + o * len, x + (o * p.inAxis + p.start) * p.inner, sizeof(float) * len);
      });
    },
    nullptr});

OpRegistrar regHalves(OpDef{
    "meanWidthHalves", 1, 1,
    [](const OpCall& call) { return std::vector<TensorSpec>{{DType::F32, planHalves(call).outShape}}; },
    [](const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
      const HalvesPlan p = planHalves(call);
      const float* x = call.inputs[0].data<float>();
      float* y = out[0].data<float>();
      const int64_t W = p.half;
      parallelRange(ctx.pool, p.rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(W, 1)), [&](int64_t s, int64_t e) {
        for (int64_t r = s; r < e; ++r) {
          const float* a = x + r * 2 * W;
          for (int64_t j = 0; j < W; ++j) y[r * W + j] = (a[j] + a[W + j]) * 0.5f;
        }
      });
    },
    nullptr});

}  // namespace
}  // namespace sotr
