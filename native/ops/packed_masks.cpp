// packed_masks: see packed_masks.h.
#include "ops/packed_masks.h"

namespace sotr {

std::vector<MaskWindow> readMaskWindows(const OpCall& call, int64_t H, int64_t words32, std::vector<int64_t>& starts) {
  const std::string& op = call.op;
  if (!call.attrs.has("windows")) fail(ErrorKind::InvalidArgument, op + ": option 'windows' is required");
  const std::vector<int64_t> w = call.attrs.integers(op, "windows", {});
  if (w.size() % 4 != 0) fail(ErrorKind::Shape, op + ": windows must hold 4 integers a mask, received " + std::to_string(w.size()));
  const size_t n = w.size() / 4;
  const int64_t words64 = words32 / 2;
  std::vector<MaskWindow> out(n);
  starts.assign(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    MaskWindow& win = out[i];
    win = {w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3]};
    if (win.y < 0 || win.rows < 0 || win.word < 0 || win.words < 0 || win.y + win.rows > H || win.word + win.words > words64)
      fail(ErrorKind::Range, op + ": window " + std::to_string(i) + " (y " + std::to_string(win.y) + ", rows " +
                                 std::to_string(win.rows) + ", word " + std::to_string(win.word) + ", words " +
                                 std::to_string(win.words) + ") is not inside " + std::to_string(H) + " rows of " +
                                 std::to_string(words64) + " 64-bit words");
    starts[i + 1] = starts[i] + win.int32s();
  }
  return out;
}

MaskView PackedMasks::view(const OpCall& call, int64_t i) const {
  const int32_t* base = call.inputs[0].data<int32_t>();
  if (windows.empty()) return {base + i * H * words, H, W, words, 0, 0};
  const MaskWindow& w = windows[size_t(i)];
  if (w.rows == 0 || w.words == 0) return {base, 0, 0, 0, 0, 0};
  return {base + starts[size_t(i)], w.rows, std::min(64 * w.words, W - 64 * w.word), 2 * w.words, 64 * w.word, w.y};
}

namespace {

int64_t integerAttr(const OpCall& call, const char* key) {
  if (!call.attrs.has(key)) fail(ErrorKind::InvalidArgument, call.op + ": option '" + key + "' is required");
  const double v = call.attrs.number(call.op, key, 0);
  if (!(v >= 0) || v != static_cast<double>(static_cast<int64_t>(v)) || v > 2147483647.0)
    fail(ErrorKind::Range, call.op + ": " + key + " must be an integer in [0, 2^31), received " + std::to_string(v));
  return static_cast<int64_t>(v);
}

}  // namespace

PackedMasks readPackedMasks(const OpCall& call, bool allowWindows) {
  const std::string& op = call.op;
  const Tensor& m = call.inputs[0];
  expectDType(op, "masks", m, DType::I32);
  if (call.attrs.has("windows")) {
    if (!allowWindows) fail(ErrorKind::InvalidArgument, op + ": masks given as windows are not supported");
    expectRank(op, "masks", m, 1);
    PackedMasks p;
    p.H = integerAttr(call, "height");
    p.W = integerAttr(call, "width");
    p.words = 2 * ((p.W + 63) / 64);
    p.windows = readMaskWindows(call, p.H, p.words, p.starts);
    p.n = static_cast<int64_t>(p.windows.size());
    if (m.size(0) != p.starts.back())
      fail(ErrorKind::Shape, op + ": the windows hold " + std::to_string(p.starts.back()) + " int32 words, masks has " +
                                 std::to_string(m.size(0)));
    return p;
  }
  return readWholePackedMasks(call);
}

PackedMasks readWholePackedMasks(const OpCall& call) {
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

int64_t capacityAttr(const OpCall& call) { return call.attrs.has("capacity") ? integerAttr(call, "capacity") : 0; }

}  // namespace sotr
