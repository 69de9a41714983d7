#include "runtime/device_queue.h"

namespace sotr {

DeviceQueue::DeviceQueue() : thread_([this] { loop(); }) {}

DeviceQueue::~DeviceQueue() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void DeviceQueue::submit(std::function<void()> task, std::function<void()> after) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    tasks_.push_back(Item{std::move(task), std::move(after)});
    submitted_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_one();
}

void DeviceQueue::drain() {
  std::unique_lock<std::mutex> lk(mu_);
  idle_cv_.wait(lk, [&] { return tasks_.empty() && !busy_ && !claimed_; });
}

bool DeviceQueue::tryClaim() {
  std::lock_guard<std::mutex> lk(mu_);
  if (busy_ || claimed_ || !tasks_.empty()) return false;
  claimed_ = true;
  return true;
}

void DeviceQueue::release() {
  bool waiting;
  {
    std::lock_guard<std::mutex> lk(mu_);
    claimed_ = false;
    waiting = !tasks_.empty();
  }
  if (waiting) cv_.notify_one();
  else idle_cv_.notify_all();
}

void DeviceQueue::loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return (stop_ && tasks_.empty()) || (!tasks_.empty() && !claimed_); });
    if (tasks_.empty() && stop_) return;
    Item item = std::move(tasks_.front());
    tasks_.pop_front();
    busy_ = true;
    lk.unlock();
    item.task();  // tasks catch their own exceptions
    item.task = nullptr;  // drop captured references before reporting idle
    completed_.fetch_add(1, std::memory_order_release);
    lk.lock();
    busy_ = false;
    if (tasks_.empty()) idle_cv_.notify_all();
    if (item.after) {
      lk.unlock();
      item.after();
      item.after = nullptr;
      lk.lock();
    }
  }
}

}  // namespace sotr
