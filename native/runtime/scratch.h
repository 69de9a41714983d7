// Grow-only, 64-byte aligned float scratch buffers, one per thread
// (thread_local), so the CPU kernels reuse packing and workspace memory across
// calls without locking and without page faults per call.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "core/error.h"

namespace sotr {

inline float* alignedFloats(int64_t n) {
  size_t bytes = (static_cast<size_t>(std::max<int64_t>(n, 16)) * sizeof(float) + 63) & ~size_t(63);
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw hostOutOfMemory("a kernel's workspace", bytes);
  return static_cast<float*>(p);
}

struct Scratch {
  float* p = nullptr;
  int64_t cap = 0;
  float* get(int64_t n) {
    if (n > cap) {
      release();
      p = alignedFloats(n);
      cap = n;
    }
    return p;
  }
  void release() {
    std::free(p);
    p = nullptr;
    cap = 0;
  }
  // Frees the buffer when it grew beyond `keepFloats` (one huge call should
  // not pin its memory for the life of the thread).
  void trim(int64_t keepFloats) {
    if (cap > keepFloats) release();
  }
  ~Scratch() { std::free(p); }
};

}  // namespace sotr
