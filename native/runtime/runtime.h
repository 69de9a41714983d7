// The process-wide runtime shared by every worker_thread environment: one
// context (backend + FIFO queue) per device, created on first use.
#pragma once
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

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
