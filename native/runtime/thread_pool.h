// Process-wide CPU thread pool. Plain C++ (no Node headers): shared by every
// worker_thread environment, used by all CPU kernels through parallelFor.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sotr {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return nthreads_; }

  // Splits [0, n) into at most size() contiguous chunks of at least `grain`
  // items and runs fn(begin, end) on them; the caller's thread runs one chunk.
  // Nested calls (from inside a chunk) run serially on the calling thread.
  void parallelFor(int64_t n, int64_t grain,
                   const std::function<void(int64_t, int64_t)>& fn);

  // Runs fn(task) for task in [0, ntasks), tasks handed out dynamically.
  void parallelTasks(int64_t ntasks, const std::function<void(int64_t)>& fn);

 private:
  void workerLoop(int index);
  int nthreads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::mutex run_mu_;  // one parallel region at a time
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t job_count_ = 0;
  int64_t next_ = 0;
  int64_t remaining_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

// The process-wide pool (created on first use with defaultThreadCount()).
ThreadPool& cpuPool();
// SOTR_NUM_THREADS if set and valid, else the cores this process may use.
int defaultThreadCount();
// Re-creates the process-wide pool with n threads (n <= 0: default).
void setCpuThreads(int n);

}  // namespace sotr
