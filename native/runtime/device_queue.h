// A FIFO of work items for one device, run in order on one dedicated thread.
// Ops are submitted from the JS thread and complete off it; CUDA work is
// launched on the device's stream from this thread.
//
// A caller may instead claim the idle queue and run one item itself
// (tryClaim/release): the item still runs alone and in submission order, as
// items submitted meanwhile (by other threads) wait for the claim to end.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

#include "runtime/native_thread.h"

namespace sotr {

class DeviceQueue {
 public:
  DeviceQueue();
  ~DeviceQueue();
  // `after` (optional) runs on the queue thread once `task` has run and the
  // device is marked idle, before the next task starts: completions posted
  // there find the queue claimable (an inline run need not wait for them).
  void submit(std::function<void()> task, std::function<void()> after = nullptr);
  // Blocks until every task submitted so far has run.
  void drain();
  // True when nothing is queued or running: the caller then owns the device
  // (the queue thread runs nothing) until release().
  bool tryClaim();
  void release();
  // Items submitted so far, and items run so far (in submission order): once
  // completed() reaches a value submitted() had, every item submitted before
  // that point has run. Deferred scopes check it without a round trip.
  uint64_t submitted() const { return submitted_.load(std::memory_order_acquire); }
  uint64_t completed() const { return completed_.load(std::memory_order_acquire); }

 private:
  void loop();
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  struct Item {
    std::function<void()> task, after;
  };
  std::deque<Item> tasks_;
  bool busy_ = false;
  bool claimed_ = false;
  bool stop_ = false;
  std::atomic<uint64_t> submitted_{0}, completed_{0};
  NativeThread thread_;  // a stack of our size, not the C library's (runtime/native_thread.h)
};

}  // namespace sotr
