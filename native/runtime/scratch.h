// Grow-only, 64-byte aligned float scratch buffers, one per thread
// (thread_local), so the CPU kernels reuse packing and workspace memory across
// calls without locking and without page faults per call.
//
// Each buffer enrolls in a process-wide list the first time it holds memory,
// so that memory can be handed back while its thread is idle: a pool worker's
// between two parallel regions, the calling thread's own at any time, every
// thread's where no CPU op can run (releaseIdleWorkspaces in
// runtime/thread_pool.h: releaseCached('cpu') and a host out-of-memory
// error). Otherwise a burst of large images would pin its workspaces for the
// life of the threads. The hot path (get() with enough capacity) is
// unchanged: one compare.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <new>

#include "core/error.h"
#include "runtime/aligned_memory.h"

namespace sotr {

inline float* alignedFloats(int64_t n) {
  size_t bytes = (static_cast<size_t>(std::max<int64_t>(n, 16)) * sizeof(float) + 63) & ~size_t(63);
  void* p = alignedAlloc(64, bytes);
  if (!p) throw hostOutOfMemory("a kernel's workspace", bytes);
  return static_cast<float*>(p);
}

// The enrolment of one thread-local workspace (defined in scratch.cpp).
class Workspace {
 public:
  // Frees the memory. Called by the owning thread, or by another while the owner is known idle.
  virtual void release() = 0;
  // Bytes held now (any thread may read it).
  int64_t heldBytes() const { return held_.load(std::memory_order_relaxed); }

 protected:
  Workspace() = default;
  ~Workspace() { withdraw(); }
  // Leaves the list (a derived destructor calls it first, so no other thread releases a half-destroyed object).
  void withdraw() {
    if (enrolled_) withdrawNow();
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  // Records the bytes now held; enrolls on first use (from the owning thread).
  void hold(int64_t bytes) {
    held_.store(bytes, std::memory_order_relaxed);
    if (bytes > 0 && !enrolled_) enroll();  // a releasing thread passes 0: never enrolls
  }

 private:
  void enroll();
  void withdrawNow();
  std::atomic<int64_t> held_{0};
  bool enrolled_ = false;
};

struct Scratch final : Workspace {
  float* p = nullptr;
  int64_t cap = 0;
  float* get(int64_t n) {
    if (n > cap) {
      release();
      p = alignedFloats(n);
      cap = n;
      hold(n * static_cast<int64_t>(sizeof(float)));
    }
    return p;
  }
  void release() override {
    alignedFree(p);
    p = nullptr;
    cap = 0;
    hold(0);
  }
  // Frees the buffer when it grew beyond `keepFloats` (one huge call should
  // not pin its memory for the life of the thread).
  void trim(int64_t keepFloats) {
    if (cap > keepFloats) release();
  }
  Scratch() = default;
  ~Scratch() {
    withdraw();
    alignedFree(p);
  }
};

// Every enrolled workspace's bytes, all threads together.
struct WorkspaceTotals {
  int64_t bytes = 0;
  int64_t buffers = 0;  // those holding memory
  int threads = 0;      // threads with at least one
};
WorkspaceTotals workspaceTotals();

// Frees the workspaces of the calling thread, those of the threads markWorkspaceOwner(poolTag) tagged (a pool's
// workers) when `poolTag` is not null, and every other thread's too when `allThreads`. The caller must know those
// threads idle (ThreadPool::releaseWorkspaces holds the region lock). Returns the bytes freed.
int64_t releaseWorkspaces(const void* poolTag, bool allThreads = false);

// Tags the calling thread's workspaces (made from now on) as belonging to `poolTag`'s workers.
void markWorkspaceOwner(const void* poolTag);

}  // namespace sotr
