#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"
#include "runtime/backend.h"

namespace sotr {

Storage::~Storage() {
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
class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device{DeviceType::CPU, 0}; }

  std::shared_ptr<Storage> allocate(size_t bytes) override {
    size_t rounded = ((bytes ? bytes : 1) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) {
      Error e(ErrorKind::OutOfMemory,
              "out of host memory: requested " + std::to_string(bytes) + " bytes");
      e.requestedBytes = bytes;
      e.device = "cpu";
      throw e;
    }
    allocCalls_++;
    uint64_t live = live_ += rounded;
    uint64_t peak = peak_.load();
    while (live > peak && !peak_.compare_exchange_weak(peak, live)) {
    }
    return std::make_shared<Storage>(this, device(), p, rounded);
  }

  void release(void* ptr, size_t bytes) override {
    std::free(ptr);
    live_ -= bytes;
  }

  MemoryStats memoryStats() override {
    MemoryStats s;
    s.liveBytes = live_;
    s.peakBytes = peak_;
    s.allocCalls = allocCalls_;
    return s;
  }
  void releaseCached() override {}
  void copyFromHost(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copyToHost(void* dst, const void* src, size_t n) override { std::memcpy(dst, src, n); }
  void copyWithin(void* dst, const void* src, size_t n) override { std::memmove(dst, src, n); }
  void fillBytes(void* dst, int v, size_t n) override { std::memset(dst, v, n); }
  void synchronize() override {}

 private:
  std::atomic<uint64_t> live_{0}, peak_{0}, allocCalls_{0};
};

}  // namespace

std::unique_ptr<Backend> createCpuBackend() { return std::make_unique<CpuBackend>(); }

}  // namespace sotr
