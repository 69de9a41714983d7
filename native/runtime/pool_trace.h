// SOTR_POOL_TRACE=<file>: a record of every op's parallel regions, for estimating how the CPU kernels would scale
// on more cores than this machine has (benchmarks/pool_scaling.mjs). Each op call becomes one JSON line: the op,
// its inputs' shapes, its serial CPU time (the calling thread's, outside regions) and each region's tasks' CPU times (thread CPU
// clocks, so an oversubscribed run, SOTR_NUM_THREADS above the cores, still measures each task's own work).
// Off (the default) it costs one relaxed load per region and per op.
#pragma once
#include <cstdint>
#include <string>

namespace sotr {
namespace pooltrace {

bool on();
int64_t threadCpuNs();

// Opens an op's record on this thread for its lifetime (nothing when tracing is off).
class OpScope {
 public:
  OpScope(const std::string& op, const std::string& shapes);
  ~OpScope();
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  void* rec_ = nullptr;
};

// The pool's side: a region started on this thread (null when not traced), each task's CPU time, the end.
void* beginRegion(int64_t ntasks);
void taskDone(void* region, int64_t task, int64_t cpuNs);
void endRegion(void* region, int64_t callerCpuNs);

}  // namespace pooltrace
}  // namespace sotr
