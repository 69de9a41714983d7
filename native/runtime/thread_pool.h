// Process-wide CPU thread pool. Plain C++ (no Node headers): shared by every
// worker_thread environment, used by all CPU kernels through parallelFor.
//
// Waking a sleeping thread (a futex) took ~25 us here (2-vCPU VM), more than
// many a parallel region's work: a region of 2 x 7 us took 32 us, against 14
// run serially. So a worker that finishes spins a while (SOTR_POOL_SPIN_US,
// default 50; 0: sleep at once) watching for the next region before it
// sleeps, as OpenMP runtimes do (for far longer by default), and the caller
// spins the same while the last tasks finish. Back-to-back regions (an op's
// phases, the next op of a forward pass) then start without a wake-up; an idle
// pool costs one spin per worker after its last region. The spin yields its
// core every few microseconds: with more runnable threads than cores (other
// processes, the test runner's parallel files) a pure spin slowed them, and a
// racy test failed 3 in 30 runs beside a second test process (0 in 30 with
// the yield).
#pragma once
#include <atomic>
#include <condition_variable>
#include <exception>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "runtime/cgroup_limits.h"
#include "runtime/native_thread.h"

namespace sotr {

class ThreadPool {
 public:
  // stackBytes: the workers' stack (runtime/native_thread.h; 0: the C library's default, at least
  // kMinThreadStackBytes). A small one is for tests (tests/native/test_ops.cpp --stack-kib).
  explicit ThreadPool(int threads, size_t stackBytes = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The threads it runs on, the caller's included: fewer than asked when the system refused some.
  int size() const { return nthreads_; }

  // Splits [0, n) into at most size() contiguous chunks of at least `grain`
  // items and runs fn(begin, end) on them; the caller's thread runs one chunk.
  // Nested calls (from inside a chunk) run serially on the calling thread.
  void parallelFor(int64_t n, int64_t grain,
                   const std::function<void(int64_t, int64_t)>& fn);

  // Runs fn(task) for task in [0, ntasks), tasks handed out dynamically.
  // A task that throws (std::bad_alloc from a workspace, say) stops the
  // region: tasks not yet started are skipped, those running finish, and the
  // first exception is rethrown here, on the caller's thread. Thrown on a
  // worker it would otherwise end the process (std::terminate).
  void parallelTasks(int64_t ntasks, const std::function<void(int64_t)>& fn);

  // Frees the kernels' workspaces (runtime/scratch.h) of this pool's workers and of the calling thread (of every
  // thread with allThreads: for a caller that knows no other thread runs a CPU kernel), between two parallel
  // regions (it takes the region lock, so no task runs meanwhile). Returns the bytes freed; 0 from inside a task.
  int64_t releaseWorkspaces(bool allThreads = false);

 private:
  void workerLoop(int index);
  // Runs one task of the current region; a throw is kept in error_ and skips the tasks not yet taken. Called
  // with mu_ held; returns with it held.
  void runTask(std::unique_lock<std::mutex>& lk, const std::function<void(int64_t)>& fn, int64_t task);
  // Spins up to spinNs_ until pred() holds (pred reads atomics only); true if it did.
  template <class Pred>
  bool spinUntil(Pred pred) const;
  int nthreads_;
  int64_t spinNs_;
  std::vector<NativeThread> workers_;
  std::mutex mu_;
  std::mutex run_mu_;  // one parallel region at a time
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t job_count_ = 0;
  int64_t next_ = 0;
  // Written under mu_; atomic so that spinning threads may read them without it.
  std::atomic<int64_t> remaining_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::exception_ptr error_;     // the region's first exception (under mu_)
  void* trace_ = nullptr;        // the region's SOTR_POOL_TRACE record (runtime/pool_trace.h), under mu_
  int sleepers_ = 0;             // workers blocked on cv_ (under mu_): notify only when there are some
  bool callerSleeping_ = false;  // the caller blocked on done_cv_ (under mu_)
};

// How many pieces to cut each of `units` equal units of work into, so that units * pieces tasks keep `threads`
// threads busy: from ceil(threads / units) up to twice that, the fewest whose tasks fill their last round best
// (18 units on 16 threads: 4 pieces, 72 tasks in 5 rounds, 90% busy, rather than 2 pieces, 36 tasks, 75%); at
// most maxPieces, at least 1.
int64_t piecesPerUnit(int64_t units, int threads, int64_t maxPieces);

// The process-wide pool (created on first use with defaultThreadCount()).
ThreadPool& cpuPool();

// cpuPool().releaseWorkspaces(true): every thread's workspaces. Only where no other thread can run a CPU kernel:
// a job of the CPU device's queue, or an inline run on a JavaScript thread (which holds that queue), as
// releaseCached('cpu') and a CPU op's host out-of-memory error do (CUDA ops use no CPU workspace).
int64_t releaseIdleWorkspaces();

// What the default thread count is made of.
struct ThreadDefault {
  int threads = 1;         // the default count
  int cores = 1;           // the cores this process may run on (its affinity mask)
  CpuQuota quota;          // the container's CPU bandwidth, if any
  bool fromQuota = false;  // the quota set the count (fewer than the cores)
  bool fromEnv = false;    // SOTR_NUM_THREADS set it
};
// SOTR_NUM_THREADS if set and valid, else the cores this process may use, at most ceil(its CPU quota).
ThreadDefault defaultThreads();
int defaultThreadCount();
// Re-creates the process-wide pool with n threads (n <= 0: default).
void setCpuThreads(int n);

}  // namespace sotr
