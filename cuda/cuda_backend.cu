// The CUDA backend: device discovery, one stream per device, and a caching
// allocator (no cudaMalloc per op). Memory freed by tensors returns to the
// cache; reuse is safe because each device has one stream and one FIFO queue,
// so later work on the same stream is ordered after earlier readers.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "runtime/backend.h"
#include "runtime/env.h"
#include "runtime/op_profiler.h"

#ifndef SOTR_CUDA_ARCHS_STR
#define SOTR_CUDA_ARCHS_STR ""
#endif

namespace sotr {

namespace {

std::string cudaMsg(const char* what, cudaError_t e) {
  return std::string(what) + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
}

// Errors after which the context is unusable (CUDA reports them forever).
bool isSticky(cudaError_t e) {
  switch (e) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
    case cudaErrorLaunchTimeout:
      return true;
    default:
      return false;
  }
}

size_t roundSize(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes < (1u << 20)) return (bytes + 511) / 512 * 512;  // small: 512-byte steps
  return (bytes + (2u << 20) - 1) / (2u << 20) * (2u << 20);  // large: 2 MiB steps
}

// Timestamps for the op profiler: timing events from a pool (created on first
// use, at most kCapacity), recorded on the device's stream. Recording never
// blocks; only reading an elapsed time waits for the later event.
class CudaTimer final : public DeviceTimer {
 public:
  CudaTimer(int index, cudaStream_t stream) : index_(index), stream_(stream) {}
  ~CudaTimer() override = default;  // events live as long as the process (the runtime is never torn down)

  int mark() override {
    // Copies to the device record from the CPU queue's thread: make this device current there too.
    cudaSetDevice(index_);
    std::lock_guard<std::mutex> lk(mu_);
    int id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
    } else if (events_.size() < kCapacity) {
      cudaEvent_t ev;
      if (cudaEventCreate(&ev) != cudaSuccess) {
        cudaGetLastError();
        return -1;
      }
      events_.push_back(ev);
      id = static_cast<int>(events_.size()) - 1;
    } else {
      return -1;
    }
    if (cudaEventRecord(events_[id], stream_) != cudaSuccess) {
      cudaGetLastError();
      free_.push_back(id);
      return -1;
    }
    return id;
  }

  double elapsedMs(int from, int to) override {
    cudaEvent_t a, b;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (from < 0 || to < 0 || from >= static_cast<int>(events_.size()) || to >= static_cast<int>(events_.size())) return -1;
      a = events_[from];
      b = events_[to];
    }
    cudaSetDevice(index_);
    float ms = 0;
    if (cudaEventSynchronize(b) != cudaSuccess || cudaEventElapsedTime(&ms, a, b) != cudaSuccess) {
      cudaGetLastError();
      return -1;
    }
    return ms < 0 ? 0 : ms;  // timestamps have ~0.5 us resolution
  }

  void release(int id) override {
    if (id < 0) return;
    std::lock_guard<std::mutex> lk(mu_);
    free_.push_back(id);
  }

 private:
  static constexpr size_t kCapacity = 4096;
  int index_;
  cudaStream_t stream_;
  std::mutex mu_;
  std::vector<cudaEvent_t> events_;
  std::vector<int> free_;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int index) : index_(index) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) fail(ErrorKind::DeviceUnavailable, cudaMsg("cudaGetDeviceCount", e));
    if (index < 0 || index >= count)
      fail(ErrorKind::DeviceUnavailable, "cuda:" + std::to_string(index) + " does not exist (" +
                                             std::to_string(count) + " CUDA device(s))");
    use();
    e = cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking);
    if (e != cudaSuccess) fail(ErrorKind::DeviceUnavailable, cudaMsg("cudaStreamCreate", e));
    timer_ = std::make_unique<CudaTimer>(index_, stream_);
    // SOTR_CUDA_ALLOCATOR=async (opt-in until a GPU run has measured it): the
    // driver's stream-ordered pool (cudaMallocAsync), which splits and merges
    // blocks, instead of our exact-size cache, which reserved 2.5-2.8 GB for a
    // warm batch-1 peak of 0.8-1.3 GB on an R50 (H100, 2026-11-26).
    int pools = 0;
    if (env::is("SOTR_CUDA_ALLOCATOR", "async") &&
        cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, index_) == cudaSuccess && pools &&
        cudaDeviceGetDefaultMemPool(&pool_, index_) == cudaSuccess) {
      uint64_t keep = UINT64_MAX;  // keep freed memory for reuse (else it returns to the driver at each sync)
      asyncPool_ = cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &keep) == cudaSuccess;
    }
    cudaGetLastError();
  }

  Device device() const override { return Device{DeviceType::CUDA, index_}; }
  void* stream() const override { return stream_; }
  DeviceTimer* timer() override { return timer_.get(); }

  std::shared_ptr<Storage> allocate(size_t bytes) override {
    const size_t size = roundSize(bytes);
    void* p = nullptr;
    if (asyncPool_) return allocateAsync(bytes, size);
    {
      std::lock_guard<std::mutex> lk(mu_);
      // Exact size classes only. A best fit (a cached block up to a quarter
      // bigger) was tried on an H100: it did not lower the reserved memory of
      // an R50 predict and let it creep (+14 MiB over 25 warm predictions),
      // where exact classes stayed flat.
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        cached_ -= size;
      }
    }
    if (!p) {
      use();
      cudaError_t e = cudaMalloc(&p, size);
      if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();  // clear the non-sticky error
        releaseCached();
        e = cudaMalloc(&p, size);
      }
      if (e != cudaSuccess) {
        cudaGetLastError();
        allocationFailed(e, bytes);
      }
      std::lock_guard<std::mutex> lk(mu_);
      allocCalls_++;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      live_ += size;
      if (live_ > peak_) peak_ = live_;
    }
    return std::make_shared<Storage>(this, device(), p, size);
  }

  void release(void* ptr, size_t bytes) override {
    if (asyncPool_) {
      // Stream-ordered: the block is reused only by work queued after this.
      int cur = -1;
      cudaGetDevice(&cur);
      if (cur != index_) cudaSetDevice(index_);
      if (cudaFreeAsync(ptr, stream_) != cudaSuccess) cudaGetLastError();  // a destructor cannot throw
      if (cur != index_ && cur >= 0) cudaSetDevice(cur);
      std::lock_guard<std::mutex> lk(mu_);
      live_ -= bytes;
      return;
    }
    std::lock_guard<std::mutex> lk(mu_);
    live_ -= bytes;
    cached_ += bytes;
    free_[bytes].push_back(ptr);
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
    s.cachedBytes = cached_;
    s.allocCalls = allocCalls_;
    if (asyncPool_) {
      uint64_t reserved = 0;
      if (cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &reserved) == cudaSuccess)
        s.cachedBytes = reserved > live_ ? reserved - live_ : 0;
      cudaGetLastError();
    }
    return s;
  }

  void releaseCached() override {
    if (asyncPool_) {
      use();
      cudaStreamSynchronize(stream_);
      cudaMemPoolTrimTo(pool_, 0);
      cudaGetLastError();
      return;
    }
    std::map<size_t, std::vector<void*>> drop;
    {
      std::lock_guard<std::mutex> lk(mu_);
      drop.swap(free_);
      cached_ = 0;
    }
    use();
    cudaStreamSynchronize(stream_);
    for (auto& kv : drop)
      for (void* p : kv.second) cudaFree(p);
  }

  void copyFromHost(void* dst, const void* src, size_t n) override {
    use();
    if (n >= kStagedMin && staging()) {
      std::lock_guard<std::mutex> lk(stageMu_);
      const char* s = static_cast<const char*>(src);
      char* d = static_cast<char*>(dst);
      for (size_t off = 0, i = 0; off < n; off += kStageChunk, ++i) {
        const size_t len = std::min(kStageChunk, n - off);
        const int b = static_cast<int>(i & 1);
        check("cudaEventSynchronize", cudaEventSynchronize(stageEv_[b]));  // its last DMA has read it
        std::memcpy(stage_[b], s + off, len);
        check("cudaMemcpyAsync(H2D)", cudaMemcpyAsync(d + off, stage_[b], len, cudaMemcpyHostToDevice, stream_));
        check("cudaEventRecord", cudaEventRecord(stageEv_[b], stream_));
      }
      synchronize();
      return;
    }
    check("cudaMemcpyAsync(H2D)", cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, stream_));
    synchronize();  // the host buffer may be freed right after
  }
  void copyToHost(void* dst, const void* src, size_t n) override {
    use();
    if (n >= kStagedMin && staging()) {
      std::lock_guard<std::mutex> lk(stageMu_);
      const char* s = static_cast<const char*>(src);
      char* d = static_cast<char*>(dst);
      size_t prevOff = 0, prevLen = 0;
      int prev = -1;
      // Chunk i's DMA runs while the host copies chunk i - 1 out of the other buffer.
      for (size_t off = 0, i = 0; off < n; off += kStageChunk, ++i) {
        const size_t len = std::min(kStageChunk, n - off);
        const int b = static_cast<int>(i & 1);
        check("cudaMemcpyAsync(D2H)", cudaMemcpyAsync(stage_[b], s + off, len, cudaMemcpyDeviceToHost, stream_));
        check("cudaEventRecord", cudaEventRecord(stageEv_[b], stream_));
        if (prev >= 0) {
          check("cudaEventSynchronize", cudaEventSynchronize(stageEv_[prev]));
          std::memcpy(d + prevOff, stage_[prev], prevLen);
        }
        prev = b;
        prevOff = off;
        prevLen = len;
      }
      check("cudaEventSynchronize", cudaEventSynchronize(stageEv_[prev]));
      std::memcpy(d + prevOff, stage_[prev], prevLen);
      return;
    }
    check("cudaMemcpyAsync(D2H)", cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, stream_));
    synchronize();
  }
  void copyWithin(void* dst, const void* src, size_t n) override {
    use();
    check("cudaMemcpyAsync(D2D)", cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, stream_));
  }
  void fillBytes(void* dst, int v, size_t n) override {
    use();
    check("cudaMemsetAsync", cudaMemsetAsync(dst, v, n, stream_));
  }
  void synchronize() override {
    use();
    check("cudaStreamSynchronize", cudaStreamSynchronize(stream_));
  }

  void makeCurrent() override { use(); }

 private:
  [[noreturn]] void allocationFailed(cudaError_t e, size_t bytes) {
    size_t freeB = 0, totalB = 0;
    cudaMemGetInfo(&freeB, &totalB);
    Error err(e == cudaErrorMemoryAllocation ? ErrorKind::OutOfMemory : ErrorKind::Internal,
              "out of memory on cuda:" + std::to_string(index_) + ": requested " + std::to_string(bytes) +
                  " bytes, " + std::to_string(freeB) + " bytes free");
    err.requestedBytes = bytes;
    err.freeBytes = freeB;
    err.device = "cuda:" + std::to_string(index_);
    throw err;
  }

  std::shared_ptr<Storage> allocateAsync(size_t bytes, size_t size) {
    use();
    void* p = nullptr;
    cudaError_t e = cudaMallocAsync(&p, size, stream_);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      releaseCached();
      e = cudaMallocAsync(&p, size, stream_);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();
      allocationFailed(e, bytes);
    }
    std::lock_guard<std::mutex> lk(mu_);
    allocCalls_++;
    live_ += size;
    if (live_ > peak_) peak_ = live_;
    return std::make_shared<Storage>(this, device(), p, size);
  }

  // Copies of at least kStagedMin bytes go through two pinned bounce buffers
  // of kStageChunk: the H100 moved a 13 MB pageable D2H (an R50's final masks)
  // at ~1.1 GB/s. Allocated on first use; without them (pinned memory refused)
  // copies stay pageable.
  static constexpr size_t kStagedMin = size_t(1) << 20, kStageChunk = size_t(4) << 20;
  bool staging() {
    std::lock_guard<std::mutex> lk(stageMu_);
    if (!stageTried_) {
      stageTried_ = true;
      void* p = nullptr;
      if (cudaHostAlloc(&p, 2 * kStageChunk, cudaHostAllocDefault) == cudaSuccess) {
        if (cudaEventCreateWithFlags(&stageEv_[0], cudaEventDisableTiming) == cudaSuccess &&
            cudaEventCreateWithFlags(&stageEv_[1], cudaEventDisableTiming) == cudaSuccess) {
          stage_[0] = p;
          stage_[1] = static_cast<char*>(p) + kStageChunk;
          stageOk_ = true;
        } else {
          cudaFreeHost(p);
        }
      }
      cudaGetLastError();  // a refusal is not an error of the next call
    }
    return stageOk_;
  }
  void use() { cudaSetDevice(index_); }
  void check(const char* what, cudaError_t e) {
    if (e == cudaSuccess) return;
    if (isSticky(e)) fail(ErrorKind::DeviceLost, cudaMsg(what, e));
    cudaGetLastError();
    fail(ErrorKind::Internal, cudaMsg(what, e));
  }

  int index_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<CudaTimer> timer_;
  std::mutex mu_;
  std::mutex stageMu_;
  bool asyncPool_ = false;  // SOTR_CUDA_ALLOCATOR=async
  cudaMemPool_t pool_ = nullptr;
  bool stageTried_ = false, stageOk_ = false;
  void* stage_[2] = {nullptr, nullptr};        // pinned, kept for the process
  cudaEvent_t stageEv_[2] = {nullptr, nullptr};
  std::map<size_t, std::vector<void*>> free_;
  uint64_t live_ = 0, peak_ = 0, cached_ = 0, allocCalls_ = 0;
};

}  // namespace

CudaInfo cudaInfo() {
  // Probed once: the answer does not change during the process.
  static CudaInfo info = [] {
    CudaInfo ci;
    ci.compiled = true;
    cudaRuntimeGetVersion(&ci.runtimeVersion);
    cudaDriverGetVersion(&ci.driverVersion);
    std::stringstream ss(SOTR_CUDA_ARCHS_STR);
    std::string a;
    while (std::getline(ss, a, ','))
      if (!a.empty()) ci.archs.push_back(a);
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      ci.reason = cudaMsg("cudaGetDeviceCount", e);
      if (e == cudaErrorInsufficientDriver || e == cudaErrorNoDevice)
        ci.reason += ci.driverVersion == 0 ? "; no NVIDIA driver found (CUDA 13 needs driver >= 580)"
                                           : "; the NVIDIA driver is too old for CUDA 13 (needs >= 580)";
      cudaGetLastError();
      return ci;
    }
    if (count == 0) {
      ci.reason = "no CUDA device found";
      return ci;
    }
    for (int i = 0; i < count; ++i) {
      cudaDeviceProp p;
      if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
      CudaDeviceInfo d;
      d.index = i;
      d.name = p.name;
      d.major = p.major;
      d.minor = p.minor;
      d.totalMemory = p.totalGlobalMem;
      d.multiprocessors = p.multiProcessorCount;
      ci.devices.push_back(d);
    }
    ci.available = !ci.devices.empty();
    if (!ci.available) ci.reason = "no usable CUDA device (device properties could not be read)";
    return ci;
  }();
  return info;
}

std::unique_ptr<Backend> createCudaBackend(int index) {
  CudaInfo ci = cudaInfo();
  if (!ci.available) fail(ErrorKind::DeviceUnavailable, ci.reason);
  return std::make_unique<CudaBackend>(index);
}

}  // namespace sotr
