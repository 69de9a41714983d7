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

void DeviceContext::recordDeferredError(uint32_t scope, const Error& error) {
  if (!scope) return;
  std::lock_guard<std::mutex> lk(deferredMu_);
  if (deferredErrors_.emplace(scope, error).second)  // the first failure is the one to report
    deferredFailures_.fetch_add(1, std::memory_order_release);
}

bool DeviceContext::hasDeferredError(uint32_t scope) {
  if (!scope || deferredFailures_.load(std::memory_order_acquire) == 0) return false;
  std::lock_guard<std::mutex> lk(deferredMu_);
  return deferredErrors_.count(scope) != 0;
}

void DeviceContext::takeDeferredError(uint32_t scope) {
  if (!scope || deferredFailures_.load(std::memory_order_acquire) == 0) return;
  std::unique_ptr<Error> e;
  {
    std::lock_guard<std::mutex> lk(deferredMu_);
    auto it = deferredErrors_.find(scope);
    if (it == deferredErrors_.end()) return;
    e = std::make_unique<Error>(std::move(it->second));
    deferredErrors_.erase(it);
    deferredFailures_.fetch_sub(1, std::memory_order_release);
  }
  throw *e;
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
