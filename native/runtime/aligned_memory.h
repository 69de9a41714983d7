// Aligned host memory without std::aligned_alloc: macOS's C library has it only from 10.15 (a build for an older
// Intel deployment target does not compile), and Windows' CRT not at all. Memory from alignedAlloc goes back
// through alignedFree only (_aligned_malloc's blocks cannot go to free()).
#pragma once
#include <cstddef>
#include <cstdlib>
#if defined(_WIN32)
#include <malloc.h>
#else
#include <stdlib.h>  // posix_memalign
#endif

namespace sotr {

// `alignment`: a power of two, at least sizeof(void*). Null when out of memory. Unlike std::aligned_alloc, any
// size will do (not only multiples of the alignment).
inline void* alignedAlloc(size_t alignment, size_t bytes) {
#if defined(_WIN32)
  return _aligned_malloc(bytes, alignment);
#else
  void* p = nullptr;
  return posix_memalign(&p, alignment, bytes) == 0 ? p : nullptr;
#endif
}

inline void alignedFree(void* p) {
#if defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

}  // namespace sotr
