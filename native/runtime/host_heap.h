// Returning the C heap's free memory to the system.
//
// glibc's malloc keeps what is freed: allocations under its (dynamic, up to
// 32 MiB) mmap threshold come from heaps that shrink only from the top, and a
// burst of large images (decoded pixels, mask read-backs freed by JavaScript's
// collector in any order) leaves gigabytes resident after every byte of it is
// free (30 concurrent 2400x1800 JPEGs: 2.3 GB resident after, 1.7 GB of it
// free heap pages).
// malloc_trim(0) hands the free pages of every arena back (madvise), so a
// server's resident size falls back after a burst. Other C libraries return
// memory on their own (musl) or have nothing comparable: there it is a no-op.
#pragma once
#include <cstdint>

namespace sotr {

struct HostHeapTrim {
  bool supported = false;  // glibc: malloc_trim ran
  int64_t rssBefore = -1;  // resident bytes before and after (/proc/self/statm; -1 where unknown)
  int64_t rssAfter = -1;
  double ms = 0;           // time the trim took
};

// Thread-safe (malloc_trim takes each arena's lock in turn); may take tens of
// milliseconds on a large heap, so callers run it off the JavaScript thread.
HostHeapTrim trimHostHeap();

// Resident bytes of this process now, or -1 where unknown.
int64_t residentBytes();

}  // namespace sotr
