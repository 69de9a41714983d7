// The process-wide runtime shared by every worker_thread environment: one
// context (backend + FIFO queue) per device, created on first use.
#pragma once
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/error.h"
#include "runtime/backend.h"
#include "runtime/device_queue.h"

namespace sotr {

struct DeviceContext {
  Device device;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<DeviceQueue> queue;
  std::atomic<bool> lost{false};
  std::string lostReason;
  std::mutex lostMu;

  void markLost(const std::string& reason);
  // Throws Error(DeviceLost) when a sticky error happened earlier.
  void checkAlive();

  // Deferred ops (submitted without a completion of their own): the first
  // failure is kept here until taken; the next host read of this device, or
  // the submitter's explicit check, reports it.
  void recordDeferredError(ErrorKind kind, const std::string& message);
  // Throws the recorded failure (and clears it); returns when there is none.
  void takeDeferredError();
  bool hasDeferredError() const { return deferredFailed_.load(std::memory_order_acquire); }

 private:
  std::atomic<bool> deferredFailed_{false};
  std::mutex deferredMu_;
  ErrorKind deferredKind_ = ErrorKind::Internal;
  std::string deferredMessage_;
};

class Runtime {
 public:
  static Runtime& get();
  // Throws Error(DeviceUnavailable) when the device cannot be used.
  DeviceContext& context(Device d);
  // Parses 'cpu' | 'cuda' | 'cuda:N' (no 'auto': resolution lives in ts/device.ts).
  static Device parseDevice(const std::string& spec);

 private:
  std::mutex mu_;
  std::map<std::pair<int, int>, std::unique_ptr<DeviceContext>> contexts_;
};

}  // namespace sotr
