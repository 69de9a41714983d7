#include "runtime/thread_pool.h"
#include "runtime/env.h"
#include "runtime/pool_trace.h"
#include "runtime/scratch.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <system_error>
#include <thread>
#if defined(__linux__)
#include <sched.h>  // sched_getaffinity: Linux only (macOS has no CPU affinity API)
#endif

namespace sotr {

namespace {
thread_local bool t_inside_pool = false;

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

int64_t spinNanoseconds() {
  static const int64_t us = env::integer("SOTR_POOL_SPIN_US", 50, 0, 100000);
  return us * 1000;
}
}  // namespace

ThreadPool::ThreadPool(int threads, size_t stackBytes)
    : nthreads_(threads < 1 ? 1 : threads), spinNs_(spinNanoseconds()) {
  for (int i = 1; i < nthreads_; ++i) {
    try {
      workers_.emplace_back([this, i] { workerLoop(i); }, stackBytes);
    } catch (const std::system_error&) {
      // The system refused a thread (EAGAIN: address space under ulimit -v, a thread limit): run with the ones
      // there are. Thrown out of here, it left the process-wide pool unmade, failing the calls that needed it,
      // and destroying the threads already started would have ended the process.
      break;
    }
  }
  nthreads_ = 1 + static_cast<int>(workers_.size());
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_.store(true);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

template <class Pred>
bool ThreadPool::spinUntil(Pred pred) const {
  if (spinNs_ <= 0) return pred();
  const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(spinNs_);
  for (int i = 0;; ++i) {
    if (pred()) return true;
    cpuRelax();
    // The clock only every 64 rounds (a pause is ~10-140 cycles, a clock read ~20 ns). A yield there too: on a
    // machine busier than its cores (other processes, several pools), a spinning thread lets a runnable one have
    // its core instead of burning the slice it is waiting for.
    if ((i & 63) == 63) {
      if (std::chrono::steady_clock::now() >= until) return pred();
      std::this_thread::yield();
    }
  }
}

void ThreadPool::workerLoop(int) {
  markWorkspaceOwner(this);  // releaseWorkspaces() frees this thread's workspaces between regions
  uint64_t seen = 0;
  for (;;) {
    // Watch for the next region a while before sleeping: waking from the futex costs more than most regions.
    spinUntil([&] { return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen; });
    std::unique_lock<std::mutex> lk(mu_);
    if (!(stop_.load() || generation_.load() != seen)) {
      ++sleepers_;
      cv_.wait(lk, [&] { return stop_.load() || generation_.load() != seen; });
      --sleepers_;
    }
    if (stop_.load()) return;
    seen = generation_.load();
    const auto* job = job_;
    while (next_ < job_count_) {
      runTask(lk, *job, next_++);
      if (remaining_.fetch_sub(1) == 1 && callerSleeping_) done_cv_.notify_all();
    }
  }
}

void ThreadPool::runTask(std::unique_lock<std::mutex>& lk, const std::function<void(int64_t)>& fn, int64_t task) {
  void* const trace = trace_;
  lk.unlock();
  std::exception_ptr thrown;
  t_inside_pool = true;
  try {
    if (trace) {
      const int64_t c0 = pooltrace::threadCpuNs();
      fn(task);
      pooltrace::taskDone(trace, task, pooltrace::threadCpuNs() - c0);
    } else {
      fn(task);
    }
  } catch (...) {
    thrown = std::current_exception();
  }
  t_inside_pool = false;
  lk.lock();
  if (thrown) {
    if (!error_) error_ = thrown;
    // The tasks nobody has taken yet will not run: count them done.
    remaining_.fetch_sub(job_count_ - next_);
    next_ = job_count_;
  }
}

void ThreadPool::parallelTasks(int64_t ntasks, const std::function<void(int64_t)>& fn) {
  if (ntasks <= 0) return;
  if (ntasks == 1 || nthreads_ == 1 || t_inside_pool) {
    for (int64_t i = 0; i < ntasks; ++i) fn(i);
    return;
  }
  std::lock_guard<std::mutex> run(run_mu_);
  void* const trace = pooltrace::beginRegion(ntasks);
  const int64_t traceCpu0 = trace ? pooltrace::threadCpuNs() : 0;
  std::unique_lock<std::mutex> lk(mu_);
  trace_ = trace;
  job_ = &fn;
  job_count_ = ntasks;
  next_ = 0;
  remaining_.store(ntasks);
  generation_.fetch_add(1);
  if (sleepers_ > 0) cv_.notify_all();
  // The calling thread takes tasks too.
  while (next_ < job_count_) {
    runTask(lk, fn, next_++);
    remaining_.fetch_sub(1);
  }
  if (remaining_.load() > 0) {
    // The workers' last tasks: spin (without the lock, which they need to finish) before sleeping.
    lk.unlock();
    spinUntil([&] { return remaining_.load(std::memory_order_acquire) == 0; });
    lk.lock();
    callerSleeping_ = true;
    done_cv_.wait(lk, [&] { return remaining_.load() == 0; });
    callerSleeping_ = false;
  }
  job_ = nullptr;
  trace_ = nullptr;
  if (trace) pooltrace::endRegion(trace, pooltrace::threadCpuNs() - traceCpu0);
  if (error_) {
    // Every task has finished or been skipped: nothing refers to fn any more.
    std::exception_ptr e = std::move(error_);
    error_ = nullptr;
    std::rethrow_exception(e);
  }
}

int64_t ThreadPool::releaseWorkspaces(bool allThreads) {
  if (t_inside_pool) return 0;
  std::lock_guard<std::mutex> run(run_mu_);
  return sotr::releaseWorkspaces(this, allThreads);
}

void ThreadPool::parallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t chunks = (n + grain - 1) / grain;
  if (chunks > nthreads_) chunks = nthreads_;
  if (chunks <= 1 || t_inside_pool) {
    fn(0, n);
    return;
  }
  const int64_t per = n / chunks, extra = n % chunks;
  parallelTasks(chunks, [&](int64_t c) {
    int64_t b = c * per + (c < extra ? c : extra);
    int64_t e = b + per + (c < extra ? 1 : 0);
    fn(b, e);
  });
}

int64_t piecesPerUnit(int64_t units, int threads, int64_t maxPieces) {
  if (units <= 0 || threads <= 1 || maxPieces <= 1) return 1;
  const int64_t lo = (threads + units - 1) / units;
  auto busy = [&](int64_t p) {
    const int64_t tasks = units * p, rounds = (tasks + threads - 1) / threads;
    return static_cast<double>(tasks) / static_cast<double>(rounds * threads);
  };
  int64_t best = std::min(lo, maxPieces);
  for (int64_t p = best + 1; p <= std::min(2 * lo, maxPieces); ++p)
    if (busy(p) > busy(best) + 1e-9) best = p;
  return best;
}

ThreadDefault defaultThreads() {
  ThreadDefault d;
  unsigned hc = std::thread::hardware_concurrency();
  d.cores = hc ? static_cast<int>(hc) : 1;
#if defined(__linux__)
  // The cores this process may use (taskset, cgroups' cpusets), not every core of the machine.
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int c = CPU_COUNT(&set);
    if (c > 0) d.cores = c;
  }
#endif
  d.quota = readCpuQuota();
  d.threads = d.cores;
  if (const int q = quotaThreads(d.quota); q > 0 && q < d.threads) {
    d.threads = q;
    d.fromQuota = true;
  }
  if (const int64_t v = env::integer("SOTR_NUM_THREADS", 0, 1, 1024)) {
    d.threads = static_cast<int>(v);
    d.fromEnv = true;
    d.fromQuota = false;
  }
  return d;
}

int defaultThreadCount() { return defaultThreads().threads; }

namespace {
std::mutex g_pool_mu;
std::unique_ptr<ThreadPool> g_pool;
}  // namespace

ThreadPool& cpuPool() {
  std::lock_guard<std::mutex> lk(g_pool_mu);
  if (!g_pool) g_pool = std::make_unique<ThreadPool>(defaultThreadCount());
  return *g_pool;
}

int64_t releaseIdleWorkspaces() { return cpuPool().releaseWorkspaces(true); }

void setCpuThreads(int n) {
  std::lock_guard<std::mutex> lk(g_pool_mu);
  g_pool = std::make_unique<ThreadPool>(n > 0 ? n : defaultThreadCount());
}

}  // namespace sotr
