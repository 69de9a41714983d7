// What the host ops over resizeMasks' bit-packed masks share (maskRle, maskContours): reading input 0 (int32
// [n, H, words] rows, 2 * ceil(W / 64) words each, with the `width` attribute), running one task a mask on the pool,
// and their output protocol for one variable-length result a mask:
//   output 0 offsets int32 [n + 1] (mask i's result is elements [offsets[i], offsets[i + 1]) of output 1;
//            offsets[n] is the total, also when it exceeds the capacity);
//   output 1 data [capacity] (the `capacity` attribute), written only when the total fits, zeros after it (the
//            caller reruns with capacity = total).
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ops/registry.h"
#include "runtime/thread_pool.h"

namespace sotr {

// A mask's window (mask_windows.h): rows [y, y + rows), 64-bit words [word, word + words) of each row.
struct MaskWindow {
  int64_t y = 0, rows = 0, word = 0, words = 0;
  int64_t int32s() const { return rows * 2 * words; }
};

// The `windows` attribute (4 integers a mask: y, rows, word, words), each checked to lie inside H rows of
// words32 / 2 64-bit words; `starts` gets each window's first int32 in the windows' bits and, last, their total.
std::vector<MaskWindow> readMaskWindows(const OpCall& call, int64_t H, int64_t words32, std::vector<int64_t>& starts);

// One mask as an op reads it: `H` rows of `words32` int32 words from `rows`, `W` pixels wide, at (x0, y0) in the
// image (0, 0 for a whole mask; a window's corner otherwise).
struct MaskView {
  const int32_t* rows = nullptr;
  int64_t H = 0, W = 0, words32 = 0, x0 = 0, y0 = 0;
};

struct PackedMasks {
  int64_t n = 0, H = 0, words = 0, W = 0;
  // With the `windows` attribute (allowed where the op says so): input 0 holds the masks' windows' bits, back to
  // back (cropMasks' output), and the `height` attribute gives H.
  std::vector<MaskWindow> windows;
  std::vector<int64_t> starts;
  // Mask i's first row (whole masks only).
  const int32_t* rows(const OpCall& call, int64_t i) const { return call.inputs[0].data<int32_t>() + i * H * words; }
  MaskView view(const OpCall& call, int64_t i) const;
};

// Input 0 and the `width` attribute (and, with allowWindows, `windows` and `height`), checked.
PackedMasks readPackedMasks(const OpCall& call, bool allowWindows = false);
// Input 0 as whole masks [n, H, words] and the `width` attribute, whatever other attributes say.
PackedMasks readWholePackedMasks(const OpCall& call);

// The `capacity` attribute: an integer in [0, 2^31).
int64_t capacityAttr(const OpCall& call);

// fn(i) for every mask, in parallel on the pool when there is more than one.
template <class Fn>
void forEachMask(ExecContext& ctx, int64_t n, Fn&& fn) {
  if (ctx.pool && ctx.pool->size() > 1 && n > 1) ctx.pool->parallelTasks(n, fn);
  else
    for (int64_t i = 0; i < n; ++i) fn(i);
}

// Writes outputs 0 and 1 from one result a mask (`per[i]`: a std::string or a std::vector of the data's element).
template <class Elem, class Item>
void writeMaskResults(const OpCall& call, const std::vector<Item>& per, int64_t capacity, std::vector<Tensor>& out,
                      Elem* data, const char* what) {
  const int64_t n = static_cast<int64_t>(per.size());
  int32_t* offsets = out[0].data<int32_t>();
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i) {
    offsets[i] = static_cast<int32_t>(total);
    total += static_cast<int64_t>(per[i].size());
    if (total > INT32_MAX) fail(ErrorKind::Range, call.op + ": the " + what + " need more than 2^31 elements");
  }
  offsets[n] = static_cast<int32_t>(total);
  if (total > capacity) return;  // the caller reruns with capacity = total
  for (int64_t i = 0; i < n; ++i)
    if (!per[i].empty()) std::memcpy(data + offsets[i], per[i].data(), per[i].size() * sizeof(Elem));
  std::fill(data + total, data + capacity, Elem(0));
}

}  // namespace sotr
