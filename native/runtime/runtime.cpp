#include "runtime/runtime.h"

#include <cstdlib>

#include "core/error.h"

namespace sotr {

void DeviceContext::markLost(const std::string& reason) {
  std::lock_guard<std::mutex> lk(lostMu);
  if (!lost) lostReason = reason;
  lost = true;
}

void DeviceContext::checkAlive() {
  if (!lost) return;
  std::lock_guard<std::mutex> lk(lostMu);
  fail(ErrorKind::DeviceLost, "device " + device.str() + " is lost after a fatal error (" + lostReason +
                                  "); restart the process");
}

void DeviceContext::recordDeferredError(ErrorKind kind, const std::string& message) {
  std::lock_guard<std::mutex> lk(deferredMu_);
  if (deferredFailed_.load(std::memory_order_relaxed)) return;  // the first failure is the one to report
  deferredKind_ = kind;
  deferredMessage_ = message;
  deferredFailed_.store(true, std::memory_order_release);
}

void DeviceContext::takeDeferredError() {
  if (!deferredFailed_.load(std::memory_order_acquire)) return;
  ErrorKind kind;
  std::string message;
  {
    std::lock_guard<std::mutex> lk(deferredMu_);
    if (!deferredFailed_.load(std::memory_order_relaxed)) return;
    kind = deferredKind_;
    message = std::move(deferredMessage_);
    deferredFailed_.store(false, std::memory_order_release);
  }
  fail(kind, message);
}

Runtime& Runtime::get() {
  // Never destroyed: worker threads may still hold tensors at process exit.
  static Runtime* rt = new Runtime();
  return *rt;
}

Device Runtime::parseDevice(const std::string& spec) {
  if (spec == "cpu") return Device{DeviceType::CPU, 0};
  if (spec == "cuda") return Device{DeviceType::CUDA, 0};
  if (spec.rfind("cuda:", 0) == 0) {
    const std::string n = spec.substr(5);
    char* end = nullptr;
    long v = std::strtol(n.c_str(), &end, 10);
    if (!n.empty() && *end == '\0' && v >= 0 && v < 1024) return Device{DeviceType::CUDA, static_cast<int>(v)};
  }
  fail(ErrorKind::Range, "invalid device '" + spec + "': expected 'cpu', 'cuda' or 'cuda:N'");
}

DeviceContext& Runtime::context(Device d) {
  std::lock_guard<std::mutex> lk(mu_);
  auto key = std::make_pair(static_cast<int>(d.type), d.index);
  auto it = contexts_.find(key);
  if (it != contexts_.end()) return *it->second;
  auto ctx = std::make_unique<DeviceContext>();
  ctx->device = d;
  ctx->backend = d.type == DeviceType::CPU ? createCpuBackend() : createCudaBackend(d.index);
  ctx->queue = std::make_unique<DeviceQueue>();
  auto& ref = *ctx;
  contexts_[key] = std::move(ctx);
  return ref;
}

}  // namespace sotr
