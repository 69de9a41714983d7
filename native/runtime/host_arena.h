// A first-fit arena for the CPU backend's large host blocks.
//
// Why: a prediction allocates hundreds of activation blocks of many sizes.
// A cache of whole freed blocks (reuse a block of at least the size asked,
// at most twice it) kept ~250 MB more resident than the peak of live bytes
// on an R50 prediction (802 vs 558 MiB in a replayed allocation trace): a
// request often found no free block near its size although enough free
// bytes sat in blocks of other sizes. Here free space is split and merged:
// ranges of one reserved address range, handed out first fit in address
// order, merged with free neighbours when freed. The same trace replayed
// peaks at 552 MiB and stays there over 40 replays.
//
// The address range is reserved without access (no memory, no commit
// charge); the arena grants access as its high-water mark rises, so pages
// become resident only when touched. Freed ranges stay resident for reuse
// (no page faults per op) until trim() gives their pages back.
//
// Not thread safe: the owner serialises calls.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>

namespace sotr {

class HostArena {
 public:
  static constexpr size_t kGrain = 4096;  // offsets and sizes are multiples of this

  // Reserves `reserveBytes` of address space (less where the system refuses:
  // halved down to 256 MiB, then ok() is false).
  explicit HostArena(size_t reserveBytes);
  ~HostArena();
  HostArena(const HostArena&) = delete;
  HostArena& operator=(const HostArena&) = delete;

  bool ok() const { return base_ != nullptr; }
  bool owns(const void* p) const {
    auto* c = static_cast<const char*>(p);
    return base_ && c >= base_ && c < base_ + size_;
  }

  // `bytes` rounded up to kGrain; nullptr when the arena is full (or absent).
  void* allocate(size_t bytes);
  // A block from allocate() with the size given there.
  void release(void* p, size_t bytes);

  // Gives back the pages of free ranges, highest addresses first, until at
  // most `keepBytes` of free bytes may still be resident.
  void trim(size_t keepBytes);

  size_t freeResidentBytes() const { return dirty_; }  // an upper bound
  size_t highWaterBytes() const { return top_; }        // addresses handed out so far (or since a trim lowered it)
  size_t reservedBytes() const { return size_; }
  size_t freeRanges() const { return free_.size(); }

 private:
  struct Range {
    size_t len;
    size_t dirty;  // bytes that may be resident (an upper bound)
  };
  bool grantTo(size_t end);  // makes [0, end) accessible
  void insertFree(size_t off, size_t len, size_t dirty);

  char* base_ = nullptr;
  size_t size_ = 0;
  size_t top_ = 0;      // [top_, size_) never handed out (or given back)
  size_t granted_ = 0;  // [0, granted_) readable and writable
  size_t dirty_ = 0;
  std::map<size_t, Range> free_;  // offset -> range, address order, never adjacent
};

// Bytes of physical memory (0 when unknown).
uint64_t physicalMemoryBytes();
// The process's address-space limit (RLIMIT_AS; UINT64_MAX when none).
uint64_t addressSpaceLimitBytes();

}  // namespace sotr
