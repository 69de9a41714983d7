// The CPU backend's host arena (native/runtime/host_arena.h): first fit in
// address order, splitting, merging with both neighbours, growth from the
// top, trim giving pages back (and lowering the high-water mark), a full
// arena refusing, and the bytes surviving reuse. Prints "N checks, M
// failures"; exits 1 on a failure. Run by tests/foundation/host-arena.test.mjs.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "runtime/host_arena.h"

#include "check.h"

using namespace sotr;

constexpr size_t G = HostArena::kGrain;
constexpr size_t MiB = size_t(1) << 20;

static size_t off(const HostArena& a, const void* base, const void* p) {
  (void)a;
  return static_cast<size_t>(static_cast<const char*>(p) - static_cast<const char*>(base));
}

int main() {
  {
    HostArena a(512 * MiB);
    CHECK(a.ok(), "reservation refused");
    if (!a.ok()) {
      return checksSummary();
    }
    CHECK(a.reservedBytes() >= 256 * MiB, "%zu", a.reservedBytes());
    void* p0 = a.allocate(3 * G);
    void* p1 = a.allocate(5 * G - 100);  // rounded up to 5 grains
    void* p2 = a.allocate(2 * G);
    CHECK(p0 && p1 && p2, "allocations");
    CHECK(off(a, p0, p1) == 3 * G && off(a, p0, p2) == 8 * G, "consecutive from the top");
    CHECK(a.highWaterBytes() == 10 * G, "%zu", a.highWaterBytes());
    CHECK(a.owns(p1) && !a.owns(&G), "owns");
    // Writable, and what is written stays.
    std::memset(p1, 0x5a, 5 * G - 100);
    CHECK(static_cast<unsigned char*>(p1)[5 * G - 101] == 0x5a, "bytes");

    // First fit reuses the lowest free range, split from its front.
    a.release(p1, 5 * G - 100);
    CHECK(a.freeRanges() == 1 && a.freeResidentBytes() == 5 * G, "one free range of 5 grains");
    void* q = a.allocate(2 * G);
    CHECK(q == p1, "first fit takes the front of the free range");
    CHECK(a.freeRanges() == 1 && a.freeResidentBytes() == 3 * G, "3 grains left free: %zu",
          a.freeResidentBytes());
    // Too big for the hole: grows from the top, the hole stays.
    void* big = a.allocate(4 * G);
    CHECK(off(a, p0, big) == 10 * G, "from the top");

    // Merging: freeing p0 (before q), q, then the rest of the hole gives one range.
    a.release(p0, 3 * G);
    a.release(q, 2 * G);
    CHECK(a.freeRanges() == 1, "merged with both neighbours: %zu ranges", a.freeRanges());
    void* whole = a.allocate(8 * G);
    CHECK(whole == p0, "the merged range serves a request of its whole size");
    a.release(whole, 8 * G);

    // A free range ending at the top is absorbed when the top grows.
    a.release(big, 4 * G);  // free: [0, 8) and [10, 14) grains; p2 at [8, 10)
    CHECK(a.freeRanges() == 2, "%zu ranges", a.freeRanges());
    void* grow = a.allocate(9 * G);  // fits neither [0, 8) nor [10, 14)
    CHECK(off(a, p0, grow) == 10 * G && a.highWaterBytes() == 19 * G, "grew from the free top range: hw %zu",
          a.highWaterBytes());
    a.release(grow, 9 * G);
    a.release(p2, 2 * G);
    CHECK(a.freeRanges() == 1 && a.freeResidentBytes() == 19 * G, "all free and merged: %zu ranges, %zu bytes",
          a.freeRanges(), a.freeResidentBytes());

    // trim: pages back, the top range returns below the high-water mark.
    a.trim(0);
    CHECK(a.freeResidentBytes() == 0, "%zu", a.freeResidentBytes());
    CHECK(a.highWaterBytes() == 0 && a.freeRanges() == 0, "hw %zu, %zu ranges", a.highWaterBytes(),
          a.freeRanges());
    // Memory given back reads as zeros and is writable again.
    void* again = a.allocate(16 * G);
    CHECK(again == p0, "reused from the bottom");
#if defined(__linux__)
    CHECK(static_cast<unsigned char*>(again)[3 * G + 7] == 0, "zero after trim");
#endif
    std::memset(again, 1, 16 * G);
    a.release(again, 16 * G);
    a.trim(0);

    // trim keeps what it is allowed to keep, highest ranges first.
    void* x0 = a.allocate(4 * G);
    void* x1 = a.allocate(G);
    void* x2 = a.allocate(4 * G);
    void* x3 = a.allocate(G);
    a.release(x0, 4 * G);
    a.release(x2, 4 * G);
    CHECK(a.freeResidentBytes() == 8 * G, "%zu", a.freeResidentBytes());
    a.trim(4 * G);
    CHECK(a.freeResidentBytes() == 4 * G, "kept the lower range: %zu", a.freeResidentBytes());
    CHECK(a.allocate(4 * G) == x0, "first fit still finds the kept range");
    a.release(x0, 4 * G);
    a.release(x1, G);
    a.release(x3, G);
    a.trim(0);
    CHECK(a.highWaterBytes() == 0 && a.freeRanges() == 0, "empty: hw %zu, %zu ranges", a.highWaterBytes(),
          a.freeRanges());

    // Full: refuses, and stays usable.
    void* all = a.allocate(a.reservedBytes());
    CHECK(all != nullptr, "the whole reservation");
    CHECK(a.allocate(G) == nullptr, "full arena refuses");
    a.release(all, a.reservedBytes());
    CHECK(a.allocate(a.reservedBytes() + G) == nullptr, "larger than the reservation");
    a.trim(0);
  }

  {
    // Random churn: blocks never overlap, contents survive, everything merges
    // back to one range, and the high-water mark stays near the live peak.
    HostArena a(1024 * MiB);
    std::mt19937 rng(7);
    struct Blk {
      unsigned char* p;
      size_t n;
      unsigned char v;
    };
    std::vector<Blk> live;
    size_t liveBytes = 0, peak = 0;
    bool overlap = false, corrupt = false;
    for (int step = 0; step < 20000; ++step) {
      const bool alloc = live.empty() || (rng() % 100 < (live.size() < 40 ? 60u : 40u));
      if (alloc) {
        const size_t n = (1 + rng() % 64) * G - rng() % 64;
        auto* p = static_cast<unsigned char*>(a.allocate(n));
        if (!p) {
          CHECK(false, "allocation of %zu failed at step %d", n, step);
          break;
        }
        const size_t r = (n + G - 1) / G * G;
        for (const Blk& b : live)
          if (p < b.p + (b.n + G - 1) / G * G && b.p < p + r) overlap = true;
        const unsigned char v = static_cast<unsigned char>(rng());
        std::memset(p, v, n);
        live.push_back({p, n, v});
        liveBytes += r;
        if (liveBytes > peak) peak = liveBytes;
      } else {
        const size_t i = rng() % live.size();
        const Blk b = live[i];
        if (b.p[0] != b.v || b.p[b.n - 1] != b.v || b.p[b.n / 2] != b.v) corrupt = true;
        a.release(b.p, b.n);
        liveBytes -= (b.n + G - 1) / G * G;
        live[i] = live.back();
        live.pop_back();
      }
      if (step % 5000 == 4999) a.trim(8 * MiB);
    }
    CHECK(!overlap, "blocks overlapped");
    CHECK(!corrupt, "contents changed");
    CHECK(a.highWaterBytes() <= peak * 3 / 2, "high water %zu vs live peak %zu", a.highWaterBytes(), peak);
    for (const Blk& b : live) a.release(b.p, b.n);
    CHECK(a.freeRanges() <= 1, "%zu ranges after freeing everything", a.freeRanges());
    a.trim(0);
    CHECK(a.highWaterBytes() == 0, "%zu", a.highWaterBytes());
  }

  CHECK(physicalMemoryBytes() > 0, "physical memory unknown");
  return checksSummary();
}
