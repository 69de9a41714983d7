#include <atomic>
#include <map>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"
#include "runtime/backend.h"
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

Tensor allocTensor(Backend& backend, DType dtype, const Shape& shape) {
  for (auto d : shape)
    if (d < 0) fail(ErrorKind::Shape, "negative dimension in shape " + shapeStr(shape));
  Tensor t;
  t.dtype = dtype;
  t.shape = shape;
  t.storage = backend.allocate(static_cast<size_t>(numel(shape)) * dtypeSize(dtype));
  return t;
}

namespace {

// Host memory: 64-byte aligned (AVX-512 loads), counted for memoryInfo().
// Blocks from 8 KiB up are cached for reuse: fresh large allocations are
// mmap'd by the C library and page-faulted in again on every op, which costs
// time and lets RSS swing, and mid-sized ones (a small op's output) come from
// the top of the heap, which the C library trims on free, so they fault in
// again too (measured: 0.65 page faults per call of a 84x84x32 matmul run
// inline on the JS thread); a best-fit cache (a block at most twice the
// request, bounded by SOTR_CPU_CACHE_MB, default 1024) avoids both.
class CpuBackend final : public Backend {
 public:
  CpuBackend() {
    if (const char* s = std::getenv("SOTR_CPU_CACHE_MB")) {
      char* end = nullptr;
      long v = std::strtol(s, &end, 10);
      if (end != s && v >= 0) cacheLimit_ = static_cast<uint64_t>(v) << 20;
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
      auto it = free_.lower_bound(rounded);
      if (it != free_.end() && it->first <= 2 * rounded) {
        got = it->first;
        p = it->second;
        free_.erase(it);
        cached_ -= got;
      }
    }
    if (!p) {
      p = std::aligned_alloc(64, rounded);
      if (!p) {
        releaseCached();
        p = std::aligned_alloc(64, rounded);
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

  void release(void* ptr, size_t bytes) override {
    std::lock_guard<std::mutex> lk(mu_);
    live_ -= bytes;
    if (bytes >= kLarge && cached_ + bytes <= cacheLimit_) {
      free_.emplace(bytes, ptr);
      cached_ += bytes;
      return;
    }
    std::free(ptr);
  }

  MemoryStats memoryStats() override {
    std::lock_guard<std::mutex> lk(mu_);
    MemoryStats s;
    s.liveBytes = live_;
    s.peakBytes = peak_;
    s.cachedBytes = cached_;
    s.allocCalls = allocCalls_;
    return s;
  }
  void releaseCached() override {
    std::multimap<size_t, void*> drop;
    {
      std::lock_guard<std::mutex> lk(mu_);
      drop.swap(free_);
      cached_ = 0;
    }
    for (auto& kv : drop) std::free(kv.second);
  }
  void copyFromHost(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copyToHost(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copyWithin(void* dst, const void* src, size_t n) override { std::memmove(dst, src, n); }
  void fillBytes(void* dst, int v, size_t n) override { std::memset(dst, v, n); }
  void synchronize() override {}

 private:
  static constexpr size_t kLarge = 8 << 10;  // cached from this size up (4 KiB multiples)
  std::mutex mu_;
  std::multimap<size_t, void*> free_;
  uint64_t cacheLimit_ = 1024ull << 20;
  uint64_t live_ = 0, peak_ = 0, cached_ = 0, allocCalls_ = 0;
};

}  // namespace

std::unique_ptr<Backend> createCpuBackend() { return std::make_unique<CpuBackend>(); }

}  // namespace sotr
