// Small element-wise and data-movement ops of the network:
//   unary:  relu, leakyRelu(negativeSlope), sigmoid          x -> y, same shape
//   binary: add (a + alpha*b), sub (a - alpha*b), mul, div   numpy broadcasting,
//           b may be absent with the number attribute `other` (a scalar)
//   concat(tensors, axis), slice(x, axis, start, end)
//   meanWidthHalves(x): (x[..., :W] + x[..., W:]) / 2 over the last axis (2W)
// Plans are shared by the CPU twins and the CUDA kernels.
#pragma once
#include <cstdint>

#include "ops/registry.h"

namespace sotr {

enum class UnaryKind : int { Relu = 0, LeakyRelu = 1, Sigmoid = 2 };
enum class BinaryKind : int { Add = 0, Sub = 1, Mul = 2, Div = 3 };

constexpr int kMaxBroadcastRank = 6;

// Output index -> input offsets, after collapsing contiguous dimensions.
struct BroadcastPlan {
  int rank = 0;                         // collapsed rank (>= 1)
  int64_t dims[kMaxBroadcastRank] = {};  // collapsed output dims
  int64_t sa[kMaxBroadcastRank] = {};    // element strides of a (0 where broadcast)
  int64_t sb[kMaxBroadcastRank] = {};    // element strides of b (0 where broadcast)
  int64_t numel = 0;
  bool sameShape = false;  // a and b both have the output's shape (or b is a scalar)
  bool scalarB = false;    // b is the number attribute `other`
  float other = 0.f;
  float alpha = 1.f;
  BinaryKind kind = BinaryKind::Add;
  Shape outShape;
};

UnaryKind unaryKindOf(const std::string& op);
BinaryKind binaryKindOf(const std::string& op);
BroadcastPlan planBinary(const OpCall& call);

inline float applyUnary(UnaryKind k, float v, float slope) {
  switch (k) {
    case UnaryKind::Relu: return v < 0.f ? 0.f : v;  // NaN and -0 pass, as torch.relu
    case UnaryKind::LeakyRelu: return v > 0.f ? v : v * slope;
    default: return 1.f / (1.f + __builtin_expf(-v));
  }
}

struct ConcatPlan {
  int64_t outer = 1;     // product of dims before the axis
  int64_t inner = 1;     // product of dims after the axis
  int64_t outAxis = 0;   // output extent along the axis
  std::vector<int64_t> axisSizes;
  Shape outShape;
};
ConcatPlan planConcat(const OpCall& call);

struct SlicePlan {
  int64_t outer = 1, inner = 1, inAxis = 0, start = 0, len = 0;
  Shape outShape;
};
SlicePlan planSlice(const OpCall& call);

// meanWidthHalves: rows = numel / (2W), W = half width.
struct HalvesPlan {
  int64_t rows = 0, half = 0;
  Shape outShape;
};
HalvesPlan planHalves(const OpCall& call);

}  // namespace sotr
