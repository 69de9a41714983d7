#include "runtime/host_heap.h"

#include <chrono>
#include <cstdint>  // defines __GLIBC__ (through features.h) on glibc systems
#include <cstdio>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <unistd.h>
#endif

namespace sotr {

int64_t residentBytes() {
#if defined(__linux__)
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return -1;
  long long size = 0, resident = 0;
  const int got = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  if (got != 2) return -1;
  return static_cast<int64_t>(resident) * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
#else
  return -1;
#endif
}

HostHeapTrim trimHostHeap() {
  HostHeapTrim r;
#if defined(__GLIBC__)
  r.supported = true;
  r.rssBefore = residentBytes();
  const auto t0 = std::chrono::steady_clock::now();
  malloc_trim(0);
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  r.rssAfter = residentBytes();
#endif
  return r;
}

}  // namespace sotr
