// cropMasks, placeMasks: see mask_windows.h.
#include "ops/mask_windows.h"

#include <cstring>
#include <string>
#include <vector>

#include "ops/packed_masks.h"

namespace sotr {
namespace {

// Both plans are PackedMasks with their windows (starts[i]: mask i's first int32 in the windows' bits).
PackedMasks planCrop(const OpCall& call) {
  PackedMasks p = readWholePackedMasks(call);
  p.windows = readMaskWindows(call, p.H, p.words, p.starts);
  if (int64_t(p.windows.size()) != p.n)
    fail(ErrorKind::Shape, call.op + ": " + std::to_string(p.windows.size()) + " windows for " + std::to_string(p.n) + " masks");
  return p;
}

// Input 0 is the windows' bits: readPackedMasks' windows form, checked there.
PackedMasks planPlace(const OpCall& call) {
  if (!call.attrs.has("windows")) fail(ErrorKind::InvalidArgument, call.op + ": option 'windows' is required");
  return readPackedMasks(call, true);
}

void runCrop(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const PackedMasks p = planCrop(call);
  const int32_t* in = call.inputs[0].data<int32_t>();
  int32_t* dst = out[0].data<int32_t>();
  forEachMask(ctx, p.n, [&](int64_t i) {
    const MaskWindow& w = p.windows[size_t(i)];
    const int32_t* src = in + (i * p.H + w.y) * p.words + 2 * w.word;
    int32_t* o = dst + p.starts[size_t(i)];
    for (int64_t r = 0; r < w.rows; ++r) std::memcpy(o + r * 2 * w.words, src + r * p.words, size_t(w.words) * 8);
  });
}

void runPlace(const OpCall& call, std::vector<Tensor>& out, ExecContext& ctx) {
  const PackedMasks p = planPlace(call);
  const int32_t* in = call.inputs[0].data<int32_t>();
  int32_t* dst = out[0].data<int32_t>();
  forEachMask(ctx, p.n, [&](int64_t i) {
    const MaskWindow& w = p.windows[size_t(i)];
    int32_t* mask = dst + i * p.H * p.words;
    std::memset(mask, 0, size_t(p.H * p.words) * 4);
    const int32_t* src = in + p.starts[size_t(i)];
    for (int64_t r = 0; r < w.rows; ++r)
      std::memcpy(mask + (w.y + r) * p.words + 2 * w.word, src + r * 2 * w.words, size_t(w.words) * 8);
  });
}

OpRegistrar regCrop(OpDef{"cropMasks", 1, 1,
                          [](const OpCall& call) {
                            const PackedMasks p = planCrop(call);
                            return std::vector<TensorSpec>{{DType::I32, {p.starts.back()}}};
                          },
                          runCrop, nullptr});

OpRegistrar regPlace(OpDef{"placeMasks", 1, 1,
                           [](const OpCall& call) {
                             const PackedMasks p = planPlace(call);
                             return std::vector<TensorSpec>{{DType::I32, {p.n, p.H, p.words}}};
                           },
                           runPlace, nullptr});

}  // namespace
}  // namespace sotr
