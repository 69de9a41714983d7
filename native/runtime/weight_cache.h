// One process-wide cache of data derived from weight tensors: conv2d's packed
// weights, twin attention's concatenated projections (CPU and CUDA), ...
//
// An entry is keyed by its source tensors (the storages' control blocks, not
// their addresses, plus offset and size: a freed storage whose address is
// reused never hits) and a tag naming the op and variant (SIMD level, mode,
// device). When a source storage is destroyed (on any thread: dispose(), the
// GC, a finished job dropping the last reference) its entries are dropped
// there and then: the storage carries a flag the cache sets, so its destructor
// calls storageDestroyed(), and lookups never scan for dead entries. Payloads
// are destroyed outside the cache's lock (a payload's own storages, e.g.
// device copies, return to their pool from whatever thread that is; the CUDA
// pool reuses blocks in stream order, so kernels still queued are safe).
// Host bytes (as reported by the maker) are bounded by SOTR_WEIGHT_CACHE_MB
// (default 2048, or a quarter of a container's memory limit when that is less;
// 0 disables caching: every lookup makes a fresh payload); the old name
// SOTR_CONV_WEIGHT_CACHE_MB is read when the new one is unset. When
// the budget is full, a new payload evicts least-recently-used entries only if
// it was asked for more often lately than each of them (counts halved now and
// then); otherwise it serves its call uncached. So a budget below a model's
// total keeps a fixed part of it instead of evicting every entry before its
// next use (a forward pass asks for each weight once in turn). Payloads are shared_ptrs, so an evicted entry
// stays alive for the calls still using it.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sotr {

struct WeightCacheStats {
  int64_t entries = 0, bytes = 0, hits = 0, misses = 0;
  int64_t evictions = 0;  // entries dropped for the budget (not for a freed source)
  int64_t notKept = 0;    // misses made for their call only: the budget was full of weights asked for as often
};

class WeightCache {
 public:
  // Makes the payload and sets `bytes` to the host memory it holds (0 for
  // device memory, which the budget does not cover).
  using Maker = std::function<std::shared_ptr<void>(int64_t& bytes)>;

  // The payload for these sources and tag, made by `make` on a miss (outside
  // the lock: two threads missing together may both make it; one is kept).
  std::shared_ptr<void> get(const std::vector<const Tensor*>& sources, const std::string& tag, const Maker& make);

  template <class T>
  std::shared_ptr<T> get(const std::vector<const Tensor*>& sources, const std::string& tag,
                         const std::function<std::shared_ptr<T>(int64_t& bytes)>& make) {
    return std::static_pointer_cast<T>(
        get(sources, tag, [&](int64_t& bytes) { return std::static_pointer_cast<void>(make(bytes)); }));
  }

  // Whether an entry for these sources and tag exists (no hit or miss counted).
  bool contains(const std::vector<const Tensor*>& sources, const std::string& tag);

  WeightCacheStats stats();
  void clear();
  // Called by ~Storage for a storage that keys entries: drops them.
  void storageDestroyed(const Storage* s);
  int64_t limitBytes() const { return limit_.load(); }
  // What set the budget at start: "SOTR_WEIGHT_CACHE_MB", "SOTR_CONV_WEIGHT_CACHE_MB", "memory limit" (a quarter of
  // a container's, runtime/cgroup_limits.h) or "default" (2048 MB).
  const std::string& limitFrom() const { return limitFrom_; }
  void setLimitBytes(int64_t bytes);  // tests; evicts down to the new limit

  WeightCache();
  ~WeightCache();
  WeightCache(const WeightCache&) = delete;
  WeightCache& operator=(const WeightCache&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string limitFrom_;
  std::atomic<int64_t> limit_;
};

// The process-wide instance (never destroyed: ops may run during exit).
WeightCache& weightCache();

}  // namespace sotr
