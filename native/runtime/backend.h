// Device backends. The CPU backend is always present; the CUDA backend is
// created by cuda/cuda_backend.cu when CUDA is compiled in (otherwise the stub
// in runtime/cuda_stub.cpp reports why it is missing), so callers never need
// #ifdefs.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sotr {

class DeviceTimer;  // runtime/op_profiler.h

struct MemoryStats {
  uint64_t liveBytes = 0;    // held by tensors
  uint64_t peakBytes = 0;    // max of liveBytes since start / reset
  uint64_t cachedBytes = 0;  // held by the pool for reuse (CUDA)
  uint64_t allocCalls = 0;   // underlying allocator calls (cudaMalloc / alignedAlloc)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;
  // Throws Error(OutOfMemory) after releasing the cache and retrying once.
  virtual std::shared_ptr<Storage> allocate(size_t bytes) = 0;
  virtual void release(void* ptr, size_t bytes) = 0;  // called by ~Storage
  virtual MemoryStats memoryStats() = 0;
  virtual void resetPeak() = 0;  // peakBytes := liveBytes
  virtual void releaseCached() = 0;
  // Copies between host memory and this device, ordered with the device's
  // queued work (CUDA: on its stream, waiting for completion).
  virtual void copyFromHost(void* dst, const void* src, size_t bytes) = 0;
  virtual void copyToHost(void* dst, const void* src, size_t bytes) = 0;
  virtual void copyWithin(void* dst, const void* src, size_t bytes) = 0;
  virtual void fillBytes(void* dst, int value, size_t bytes) = 0;
  // Waits for all queued device work; throws Error(DeviceLost) on a sticky error.
  virtual void synchronize() = 0;
  // The CUDA stream (cudaStream_t) of this device, nullptr on the CPU.
  virtual void* stream() const { return nullptr; }
  // Device-side timestamps on that stream for the op profiler (CUDA events);
  // nullptr where the host clock is the device's clock (the CPU).
  virtual DeviceTimer* timer() { return nullptr; }
  // Makes this device current on the calling thread (CUDA: cudaSetDevice) before
  // its kernels launch there: a launch into another device's stream fails, and
  // the ops' scratch allocations key by the current device. No-op on the CPU.
  virtual void makeCurrent() {}
};

Tensor allocTensor(Backend& backend, DType dtype, const Shape& shape);

// ---- CUDA discovery (implemented in cuda/ or by the stub) ----
struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;
  uint64_t totalMemory = 0;
  int multiprocessors = 0;
};

struct CudaInfo {
  bool compiled = false;
  bool available = false;
  std::string reason;  // why not available
  int driverVersion = 0;   // e.g. 13000
  int runtimeVersion = 0;  // cudart linked in
  std::vector<std::string> archs;  // compiled architectures
  std::vector<CudaDeviceInfo> devices;
};

CudaInfo cudaInfo();
// Creates the backend of CUDA device `index`; throws Error(DeviceUnavailable).
std::unique_ptr<Backend> createCudaBackend(int index);

std::unique_ptr<Backend> createCpuBackend();

}  // namespace sotr
