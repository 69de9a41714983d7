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

  // Deferred ops (submitted without a completion of their own) belong to a
  // scope (a nonzero id chosen by the submitter, e.g. one prediction): the
  // scope's first failure is kept here until taken, by the scope's next host
  // read from this device or its explicit check; other scopes and ordinary
  // calls never see it.
  // The error whole: an OutOfMemory keeps its device and byte counts.
  void recordDeferredError(uint32_t scope, const Error& error);
  // Throws the scope's recorded failure (and clears it); returns when there is none (or scope is 0).
  void takeDeferredError(uint32_t scope);
  bool hasDeferredError(uint32_t scope);

 private:
  std::atomic<int> deferredFailures_{0};  // entries in deferredErrors_: the common case (none) takes no lock
  std::mutex deferredMu_;
  std::map<uint32_t, Error> deferredErrors_;
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
