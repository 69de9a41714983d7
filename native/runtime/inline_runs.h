// Which CPU op calls are small enough to run on the calling (JS) thread
// instead of making the round trip through the device queue (a thread wake-up
// each way, ~10-30 us, far more than a tiny kernel takes).
//
// A call is described by a signature (a hash of the op, its input shapes and
// dtypes, attributes and precision). Every CPU run records how long the
// kernel took under its signature; a call may run inline only when the last
// run with the same signature took at most the budget. So a signature's first
// call always goes through the queue, a run that turns out slow (a busy
// machine, a cold cache) sends the next call back to the queue, and the
// caller's thread is never held longer than about the budget by a kernel
// known to be small. The budget is SOTR_INLINE_US (default 30 microseconds;
// 0 turns inline runs off).
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

namespace sotr {

class InlineRuns {
 public:
  static InlineRuns& get();
  int64_t budgetNs() const { return budgetNs_.load(std::memory_order_relaxed); }
  // True when the last recorded run of this signature took at most the budget.
  bool eligible(uint64_t signature);
  void record(uint64_t signature, int64_t ns);
  void setBudgetNs(int64_t ns) { budgetNs_.store(ns < 0 ? 0 : ns, std::memory_order_relaxed); }
  // Counts calls that did run inline (diagnostics and tests).
  void countInline() { inlineRuns_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t inlineRuns() const { return inlineRuns_.load(std::memory_order_relaxed); }

 private:
  InlineRuns();
  std::atomic<int64_t> budgetNs_;
  std::atomic<uint64_t> inlineRuns_{0};
};

// Incremental 64-bit signature (FNV-1a over the bytes of each value).
struct Signature {
  uint64_t h = 1469598103934665603ull;
  void addBytes(const void* p, size_t n) {
    const unsigned char* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  }
  void add(int64_t v) { addBytes(&v, sizeof v); }
  void add(double v) { addBytes(&v, sizeof v); }
  void add(const std::string& s) {
    add(static_cast<int64_t>(s.size()));
    addBytes(s.data(), s.size());
  }
};

}  // namespace sotr
