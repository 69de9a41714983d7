// packed_masks: see packed_masks.h.
#include "ops/packed_masks.h"

namespace sotr {

PackedMasks readPackedMasks(const OpCall& call) {
  const std::string& op = call.op;
  const Tensor& m = call.inputs[0];
  expectDType(op, "masks", m, DType::I32);
  expectRank(op, "masks", m, 3);
  PackedMasks p;
  p.n = m.size(0);
  p.H = m.size(1);
  p.words = m.size(2);
  if (p.words % 2 != 0)
    fail(ErrorKind::Shape, op + ": masks rows must be whole 64-bit words (an even count of int32), received " + shapeStr(m.shape));
  if (!call.attrs.has("width")) fail(ErrorKind::InvalidArgument, op + ": option 'width' is required");
  const double w = call.attrs.number(op, "width", 0);
  if (!(w >= 0) || w != static_cast<double>(static_cast<int64_t>(w)) || static_cast<int64_t>(w + 63) / 64 * 2 != p.words)
    fail(ErrorKind::Range, op + ": width " + std::to_string(w) + " does not match rows of " + std::to_string(p.words) +
                               " int32 words (2 * ceil(width / 64))");
  p.W = static_cast<int64_t>(w);
  return p;
}

int64_t capacityAttr(const OpCall& call) {
  const double cap = call.attrs.number(call.op, "capacity", 0);
  if (!(cap >= 0) || cap != static_cast<double>(static_cast<int64_t>(cap)) || cap > 2147483647.0)
    fail(ErrorKind::Range, call.op + ": capacity must be an integer in [0, 2^31), received " + std::to_string(cap));
  return static_cast<int64_t>(cap);
}

}  // namespace sotr
