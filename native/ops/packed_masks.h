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

struct PackedMasks {
  int64_t n = 0, H = 0, words = 0, W = 0;
  // Mask i's first row.
  const int32_t* rows(const OpCall& call, int64_t i) const { return call.inputs[0].data<int32_t>() + i * H * words; }
};

// Input 0 and the `width` attribute, checked.
PackedMasks readPackedMasks(const OpCall& call);

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
