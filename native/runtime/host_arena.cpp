#include "runtime/host_arena.h"

#include <algorithm>
#if defined(__linux__) || defined(__APPLE__)
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#define SOTR_ARENA_MMAP 1
#else
#define SOTR_ARENA_MMAP 0
#endif

namespace sotr {

namespace {

size_t pageSize() {
#if SOTR_ARENA_MMAP
  static const size_t p = [] {
    long v = sysconf(_SC_PAGESIZE);
    return v > 0 ? static_cast<size_t>(v) : size_t(4096);
  }();
  return p;
#else
  return 4096;
#endif
}

size_t roundUp(size_t v, size_t a) { return (v + a - 1) / a * a; }

// Address space is granted in steps of this much (fewer mprotect calls).
constexpr size_t kGrantStep = size_t(64) << 20;

}  // namespace

uint64_t physicalMemoryBytes() {
#if SOTR_ARENA_MMAP
  long pages = sysconf(_SC_PHYS_PAGES);
  return pages > 0 ? static_cast<uint64_t>(pages) * pageSize() : 0;
#else
  return 0;
#endif
}

uint64_t addressSpaceLimitBytes() {
#if SOTR_ARENA_MMAP
  struct rlimit r;
  if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY) return static_cast<uint64_t>(r.rlim_cur);
#endif
  return UINT64_MAX;
}

HostArena::HostArena(size_t reserveBytes) {
#if SOTR_ARENA_MMAP
  size_t want = roundUp(reserveBytes, std::max(pageSize(), kGrantStep));
  for (; want >= (size_t(256) << 20); want /= 2) {
    void* p = mmap(nullptr, want, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) {
      base_ = static_cast<char*>(p);
      size_ = want;
      return;
    }
  }
#else
  (void)reserveBytes;
#endif
}

HostArena::~HostArena() {
#if SOTR_ARENA_MMAP
  if (base_) munmap(base_, size_);
#endif
}

bool HostArena::grantTo(size_t end) {
  if (end <= granted_) return true;
#if SOTR_ARENA_MMAP
  const size_t to = std::min(size_, roundUp(end, kGrantStep));
  // Under strict overcommit accounting this is where memory is committed: a
  // refusal makes allocate() return nullptr and the caller fall back.
  if (mprotect(base_ + granted_, to - granted_, PROT_READ | PROT_WRITE) != 0) return false;
  granted_ = to;
  return true;
#else
  return false;
#endif
}

void* HostArena::allocate(size_t bytes) {
  if (!base_) return nullptr;
  const size_t r = roundUp(bytes ? bytes : 1, kGrain);
  // First fit in address order: low addresses are reused first, so the
  // high-water mark (what is resident) stays near the peak of live bytes.
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second.len < r) continue;
    const size_t off = it->first;
    const Range rg = it->second;
    free_.erase(it);
    dirty_ -= rg.dirty;
    if (rg.len > r) insertFree(off + r, rg.len - r, std::min(rg.dirty, rg.len - r));
    return base_ + off;
  }
  // Nothing fits: grow from the top (absorbing a free range that ends there).
  size_t off = top_;
  if (!free_.empty()) {
    auto last = std::prev(free_.end());
    if (last->first + last->second.len == top_) off = last->first;
  }
  if (r > size_ - off || !grantTo(off + r)) return nullptr;
  if (off != top_) {
    auto last = std::prev(free_.end());
    dirty_ -= last->second.dirty;
    free_.erase(last);
  }
  top_ = off + r;
  return base_ + off;
}

void HostArena::insertFree(size_t off, size_t len, size_t dirty) {
  auto next = free_.lower_bound(off);
  if (next != free_.end() && off + len == next->first) {
    len += next->second.len;
    dirty += next->second.dirty;
    dirty_ -= next->second.dirty;
    next = free_.erase(next);
  }
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.len == off) {
      prev->second.len += len;
      prev->second.dirty += dirty;
      dirty_ += dirty;
      return;
    }
  }
  free_.emplace_hint(next, off, Range{len, dirty});
  dirty_ += dirty;
}

void HostArena::release(void* p, size_t bytes) {
  const size_t off = static_cast<size_t>(static_cast<char*>(p) - base_);
  const size_t r = roundUp(bytes ? bytes : 1, kGrain);
  insertFree(off, r, r);
}

void HostArena::trim(size_t keepBytes) {
  const size_t ps = pageSize();
  for (auto it = free_.end(); dirty_ > keepBytes && it != free_.begin();) {
    --it;
    if (it->second.dirty == 0) continue;
#if SOTR_ARENA_MMAP
    // Whole pages only (a system page may be larger than kGrain).
    const size_t a = roundUp(it->first, ps), b = (it->first + it->second.len) / ps * ps;
    if (b > a) {
#if defined(__APPLE__)
      madvise(base_ + a, b - a, MADV_FREE);
#else
      madvise(base_ + a, b - a, MADV_DONTNEED);
#endif
    }
#endif
    dirty_ -= it->second.dirty;
    it->second.dirty = 0;
    // The topmost free range goes back to the untouched part above top_.
    if (it->first + it->second.len == top_) {
      top_ = it->first;
      it = free_.erase(it);
    }
  }
}

}  // namespace sotr
