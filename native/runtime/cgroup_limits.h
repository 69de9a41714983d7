// The limits a container sets (Linux cgroups v2 and v1), which defaults follow:
// its CPU bandwidth (v2 cpu.max, v1 cpu.cfs_quota_us) the CPU pool's thread
// count, its memory limit (v2 memory.max, v1 memory.limit_in_bytes) the
// derived-weight cache's budget (runtime/weight_cache.h). Each is the smallest
// along the process's cgroup and its ancestors. Linux only.
//
// A container limited to 2 CPUs on a 64-core host still sees 64 cores
// (sched_getaffinity, os.availableParallelism): a pool of 64 threads there
// runs them all in turn within 2 CPUs' time, and its threads' spinning burns
// that time. Measured here (2 cores, cgroup v1): the R50 at 1333x800 with 16
// threads on 2 CPUs took 3.45 s against 3.01 s with 2.
#pragma once
#include <cstdint>
#include <string>

namespace sotr {

struct CpuQuota {
  double cpus = 0;     // quota / period, the smallest along the cgroup's ancestors; 0 = no limit found
  std::string source;  // the file that set it, e.g. "/sys/fs/cgroup/cpu.max"
};

// Reads the calling process's limit. `root` prefixes every path read (tests point it at a fake tree).
CpuQuota readCpuQuota(const std::string& root = "");

// The thread count a CPU quota allows: ceil(cpus), at least 1; 0 when there is no quota.
int quotaThreads(const CpuQuota& q);

struct MemoryLimit {
  int64_t bytes = 0;   // the smallest limit along the cgroup's ancestors; 0 = no limit found
  std::string source;  // the file that set it, e.g. "/sys/fs/cgroup/memory.max"
};

// Reads the calling process's memory limit. `root` prefixes every path read (tests point it at a fake tree).
MemoryLimit readMemoryLimit(const std::string& root = "");

}  // namespace sotr
