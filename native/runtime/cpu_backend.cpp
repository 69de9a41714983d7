#include <algorithm>
#include <atomic>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <vector>
#if defined(__linux__) || defined(__APPLE__)
#include <sys/mman.h>
#define SOTR_HOST_MMAP 1
#else
#define SOTR_HOST_MMAP 0
#endif
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"
#include "runtime/aligned_memory.h"
#include "runtime/backend.h"
#include "runtime/env.h"
#include "runtime/host_arena.h"
#include "runtime/weight_cache.h"

namespace sotr {

Storage::~Storage() {
  // Derived weights go with their source (device copies included: their
  // storages return to their pool, which any thread may do).
  if (keysWeightCache.load(std::memory_order_acquire)) weightCache().storageDestroyed(this);
  if (ptr && backend) backend->release(ptr, bytes);
}

std::string shapeStr(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

int64_t checkedBytes(DType dtype, const Shape& shape) {
  bool empty = false;
  for (auto d : shape) {
    if (d < 0) fail(ErrorKind::Shape, "negative dimension in shape " + shapeStr(shape));
    empty = empty || d == 0;
  }
  if (empty) return 0;
  int64_t bytes = static_cast<int64_t>(dtypeSize(dtype));
  for (auto d : shape) {
    if (d > std::numeric_limits<int64_t>::max() / bytes)
      fail(ErrorKind::Range, "a tensor of shape " + shapeStr(shape) + " would hold more than 2^63 bytes");
    bytes *= d;
  }
  return bytes;
}

Tensor allocTensor(Backend& backend, DType dtype, const Shape& shape) {
  const int64_t bytes = checkedBytes(dtype, shape);
  Tensor t;
  t.dtype = dtype;
  t.shape = shape;
  t.storage = backend.allocate(static_cast<size_t>(bytes));
  return t;
}

namespace {

// Host memory: 64-byte aligned (AVX-512 loads), counted for memoryInfo().
// Blocks from 8 KiB up come from a first-fit arena (runtime/host_arena.h):
// freed space is reused without page faults (fresh allocations from the C
// library are page-faulted in again on every op, and mid-sized ones come from
// the top of the heap, which it trims on free: measured 0.65 page faults per
// call of a 84x84x32 matmul run inline on the JS thread), and, since free
// ranges are split and merged, what stays resident follows the peak of live
// bytes (an R50 prediction: 1.85 GB peak RSS with the whole-block cache this
// replaced). Free arena bytes that may be resident are bounded by
// SOTR_CPU_CACHE_MB (default 1024): above it, the highest free ranges give
// their pages back. SOTR_CPU_ARENA=0 (or a system that refuses the address
// reservation, or a full arena) falls back to a cache of whole blocks (best
// fit within 2x, the same bound); its blocks from 1 MiB up are mapped and
// unmapped by us, not by malloc, so a block it drops goes back to the system
// at once (through malloc it could stay in the heap: glibc raises its mmap
// threshold after each large free).
class CpuBackend final : public Backend {
 public:
  CpuBackend() {
    cacheLimit_ = static_cast<uint64_t>(env::integer("SOTR_CPU_CACHE_MB", 1024, 0, int64_t(1) << 30)) << 20;
    if (!env::is("SOTR_CPU_ARENA", "0")) {
      // Address space only: twice the physical memory (pages are committed
      // when touched), at least 4 GiB, at most 1 TiB, and a quarter of an
      // address-space limit (ulimit -v) if there is one.
      const uint64_t phys = physicalMemoryBytes();
      uint64_t want = std::min<uint64_t>(std::max<uint64_t>(2 * phys, 4ull << 30), 1ull << 40);
      want = std::min<uint64_t>(want, addressSpaceLimitBytes() / 4);
      arena_ = std::make_unique<HostArena>(static_cast<size_t>(want));
      if (!arena_->ok()) arena_.reset();
    }
  }
  ~CpuBackend() override { releaseCached(); }

  Device device() const override { return Device{DeviceType::CPU, 0}; }

  std::shared_ptr<Storage> allocate(size_t bytes) override {
    size_t rounded = ((bytes ? bytes : 1) + 63) / 64 * 64;
    if (rounded >= kLarge) rounded = (rounded + 4095) / 4096 * 4096;
    void* p = nullptr;
    size_t got = rounded;
    if (rounded >= kLarge) {
      std::lock_guard<std::mutex> lk(mu_);
      if (arena_) p = arena_->allocate(rounded);
      if (p) {
        live_ += got;
        if (live_ > peak_) peak_ = live_;
        return std::make_shared<Storage>(this, device(), p, got);
      }
      auto it = bySize_.lower_bound(rounded);
      if (it != bySize_.end() && it->first <= 2 * rounded) {
        got = it->first;
        p = it->second->ptr;
        lru_.erase(it->second);
        bySize_.erase(it);
        cached_ -= got;
      }
    }
    if (!p) {
      p = rawAlloc(rounded);
      if (!p) {
        releaseCached();
        p = rawAlloc(rounded);
      }
      if (!p) {
        Error e(ErrorKind::OutOfMemory, "out of host memory: requested " + std::to_string(bytes) + " bytes");
        e.requestedBytes = bytes;
        e.device = "cpu";
        throw e;
      }
      got = rounded;
      std::lock_guard<std::mutex> lk(mu_);
      allocCalls_++;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      live_ += got;
      if (live_ > peak_) peak_ = live_;
    }
    return std::make_shared<Storage>(this, device(), p, got);
  }

  // A freed block joins the cache as its most recent entry; the least recently
  // freed blocks leave it (back to the system) while it is over its budget, so
  // it keeps what the last prediction's pattern of sizes reuses.
  void release(void* ptr, size_t bytes) override {
    std::vector<Block> drop;
    {
      std::lock_guard<std::mutex> lk(mu_);
      live_ -= bytes;
      if (arena_ && arena_->owns(ptr)) {
        arena_->release(ptr, bytes);
        if (arena_->freeResidentBytes() > cacheLimit_) arena_->trim(cacheLimit_);
        return;
      }
      if (bytes < kLarge || bytes > cacheLimit_) {
        drop.push_back(Block{bytes, ptr});
      } else {
        lru_.push_front(Block{bytes, ptr});
        bySize_.emplace(bytes, lru_.begin());
        cached_ += bytes;
        while (cached_ > cacheLimit_) {
          const Block old = lru_.back();
          auto range = bySize_.equal_range(old.bytes);
          for (auto it = range.first; it != range.second; ++it)
            if (it->second->ptr == old.ptr) {
              bySize_.erase(it);
              break;
            }
          lru_.pop_back();
          cached_ -= old.bytes;
          drop.push_back(old);
        }
      }
    }
    for (const Block& b : drop) rawFree(b.ptr, b.bytes);
  }

  void resetPeak() override {
    std::lock_guard<std::mutex> lk(mu_);
    peak_ = live_;
  }

  MemoryStats memoryStats() override {
    std::lock_guard<std::mutex> lk(mu_);
    MemoryStats s;
    s.liveBytes = live_;
    s.peakBytes = peak_;
    s.cachedBytes = cached_ + (arena_ ? arena_->freeResidentBytes() : 0);
    s.allocCalls = allocCalls_;
    return s;
  }
  void releaseCached() override {
    std::list<Block> drop;
    {
      std::lock_guard<std::mutex> lk(mu_);
      drop.swap(lru_);
      bySize_.clear();
      cached_ = 0;
      if (arena_) arena_->trim(0);
    }
    for (const Block& b : drop) rawFree(b.ptr, b.bytes);
  }
  void copyFromHost(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copyToHost(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copyWithin(void* dst, const void* src, size_t n) override { std::memmove(dst, src, n); }
  void fillBytes(void* dst, int v, size_t n) override { std::memset(dst, v, n); }
  void synchronize() override {}

 private:
  static constexpr size_t kLarge = 8 << 10;  // cached from this size up (4 KiB multiples)
  // A block's size says how it was made: from kMapped up (a multiple of the page size) mapped, below it malloc'd.
  static constexpr size_t kMapped = 1 << 20;
  static void* rawAlloc(size_t bytes) {
#if SOTR_HOST_MMAP
    if (bytes >= kMapped) {
      void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      return p == MAP_FAILED ? nullptr : p;  // page-aligned, so 64-byte aligned
    }
#endif
    return alignedAlloc(64, bytes);
  }
  static void rawFree(void* p, size_t bytes) {
#if SOTR_HOST_MMAP
    if (bytes >= kMapped) {
      munmap(p, bytes);
      return;
    }
#endif
    alignedFree(p);
  }
  std::mutex mu_;
  struct Block {
    size_t bytes;
    void* ptr;
  };
  std::list<Block> lru_;                                   // cached blocks, most recently freed first
  std::multimap<size_t, std::list<Block>::iterator> bySize_;  // the same blocks by size (best fit)
  uint64_t cacheLimit_ = 1024ull << 20;
  uint64_t live_ = 0, peak_ = 0, cached_ = 0, allocCalls_ = 0;
  std::unique_ptr<HostArena> arena_;  // null: the whole-block cache only
};

}  // namespace

std::unique_ptr<Backend> createCpuBackend() { return std::make_unique<CpuBackend>(); }

}  // namespace sotr
