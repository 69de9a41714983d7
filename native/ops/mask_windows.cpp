// cropMasks, placeMasks: see mask_windows.h.
#include "ops/mask_windows.h"

#include <cstring>
#include <string>
#include <vector>

#include "ops/packed_masks.h"

namespace sotr {
namespace {

struct Plan {
  int64_t n = 0, H = 0, W = 0, words32 = 0;
  std::vector<MaskWindow> windows;
  std::vector<int64_t> starts;  // mask i's window bits begin at int32 starts[i]; starts[n] is the total
};

int64_t integerAttr(const OpCall& call, const char* key) {
  if (!call.attrs.has(key)) fail(ErrorKind::InvalidArgument, call.op + ": option '" + key + "' is required");
  const double v = call.attrs.number(call.op, key, 0);
  if (!(v >= 0) || v != static_cast<double>(static_cast<int64_t>(v)) || v > 2147483647.0)
    fail(ErrorKind::Range, call.op + ": " + key + " must be an integer in [0, 2^31), received " + std::to_string(v));
  return static_cast<int64_t>(v);
}

// The windows attribute against H and W; n = windows / 4.
void readWindows(const OpCall& call, Plan& p) {
  const std::string& op = call.op;
  if (!call.attrs.has("windows")) fail(ErrorKind::InvalidArgument, op + ": option 'windows' is required");
  const std::vector<int64_t> w = call.attrs.integers(op, "windows", {});
  if (w.size() % 4 != 0) fail(ErrorKind::Shape, op + ": windows must hold 4 integers a mask, received " + std::to_string(w.size()));
  p.n = static_cast<int64_t>(w.size() / 4);
  const int64_t words64 = p.words32 / 2;
  p.windows.resize(size_t(p.n));
  p.starts.assign(size_t(p.n) + 1, 0);
  for (int64_t i = 0; i < p.n; ++i) {
    MaskWindow& win = p.windows[size_t(i)];
    win = {w[size_t(4 * i)], w[size_t(4 * i + 1)], w[size_t(4 * i + 2)], w[size_t(4 * i + 3)]};
    if (win.y < 0 || win.rows < 0 || win.word < 0 || win.words < 0 || win.y + win.rows > p.H || win.word + win.words > words64)
      fail(ErrorKind::Range, op + ": window " + std::to_string(i) + " (y " + std::to_string(win.y) + ", rows " +
                                 std::to_string(win.rows) + ", word " + std::to_string(win.word) + ", words " +
                                 std::to_string(win.words) + ") is not inside " + std::to_string(p.H) + " rows of " +
                                 std::to_string(words64) + " 64-bit words");
    p.starts[size_t(i) + 1] = p.starts[size_t(i)] + win.int32s();
  }
}

Plan planCrop(const OpCall& call) {
  const PackedMasks m = readPackedMasks(call);
  Plan p;
  p.H = m.H;
  p.W = m.W;
  p.words32 = m.words;
  readWindows(call, p);
  if (p.n != m.n)
    fail(ErrorKind::Shape, call.op + ": " + std::to_string(p.n) + " windows for " + std::to_string(m.n) + " masks");
  return p;
}

Plan planPlace(const OpCall& call) {
  const std::string& op = call.op;
  const Tensor& bits = call.inputs[0];
  expectDType(op, "bits", bits, DType::I32);
  expectRank(op, "bits", bits, 1);
  Plan p;
  p.H = integerAttr(call, "height");
  p.W = integerAttr(call, "width");
  p.words32 = 2 * ((p.W + 63) / 64);
  readWindows(call, p);
  if (bits.size(0) != p.starts.back())
    fail(ErrorKind::Shape, op + ": the windows hold " + std::to_string(p.starts.back()) + " int32 words, bits has " +
                               std::to_string(bits.size(0)));
  return p;
}

void runCrop(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const Plan p = planCrop(call);
  const int32_t* in = call.inputs[0].data<int32_t>();
  int32_t* dst = out[0].data<int32_t>();
  forEachMask(ctx, p.n, [&](int64_t i) {
    const MaskWindow& w = p.windows[size_t(i)];
    const int32_t* src = in + (i * p.H + w.y) * p.words32 + 2 * w.word;
    int32_t* o = dst + p.starts[size_t(i)];
    for (int64_t r = 0; r < w.rows; ++r) std::memcpy(o + r * 2 * w.words, src + r * p.words32, size_t(w.words) * 8);
  });
}

void runPlace(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const Plan p = planPlace(call);
  const int32_t* in = call.inputs[0].data<int32_t>();
  int32_t* dst = out[0].data<int32_t>();
  forEachMask(ctx, p.n, [&](int64_t i) {
    const MaskWindow& w = p.windows[size_t(i)];
    int32_t* mask = dst + i * p.H * p.words32;
    std::memset(mask, 0, size_t(p.H * p.words32) * 4);
    const int32_t* src = in + p.starts[size_t(i)];
    for (int64_t r = 0; r < w.rows; ++r)
      std::memcpy(mask + (w.y + r) * p.words32 + 2 * w.word, src + r * 2 * w.words, size_t(w.words) * 8);
  });
}

OpRegistrar regCrop(OpDef{"cropMasks", 1, 1,
                          [](const OpCall& call) {
                            const Plan p = planCrop(call);
                            return std::vector<TensorSpec>{{DType::I32, {p.starts.back()}}};
                          },
                          runCrop, nullptr});

OpRegistrar regPlace(OpDef{"placeMasks", 1, 1,
                           [](const OpCall& call) {
                             const Plan p = planPlace(call);
                             return std::vector<TensorSpec>{{DType::I32, {p.n, p.H, p.words32}}};
                           },
                           runPlace, nullptr});

}  // namespace
}  // namespace sotr
