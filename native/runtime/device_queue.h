// A FIFO of work items for one device, run in order on one dedicated thread.
// Ops are submitted from the JS thread and complete off it; CUDA work is
// launched on the device's stream from this thread.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace sotr {

class DeviceQueue {
 public:
  DeviceQueue();
  ~DeviceQueue();
  void submit(std::function<void()> task);
  // Blocks until every task submitted so far has run.
  void drain();

 private:
  void loop();
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<std::function<void()>> tasks_;
  bool busy_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sotr
