#include "runtime/weight_cache.h"
#include "runtime/cgroup_limits.h"
#include "runtime/env.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

namespace sotr {

namespace {

// The budget: SOTR_WEIGHT_CACHE_MB, else SOTR_CONV_WEIGHT_CACHE_MB (the name before the cache was shared), else a
// quarter of a container's memory limit (runtime/cgroup_limits.h) up to 2048 MB. An R101 with Winograd F(4x4)
// weights holds ~1 GB, an R50 ~690 MB; in a 1 GiB container a full cache beside the R50's own ~670 MB would
// leave the kernel's OOM killer to end the process, which no error can report.
int64_t limitFromEnv(std::string& from) {
  constexpr double kDefaultMb = 2048;
  const double unset = -1;
  double mb = env::number("SOTR_WEIGHT_CACHE_MB", unset, 0, 1e12);
  from = "SOTR_WEIGHT_CACHE_MB";
  if (mb == unset) {
    mb = env::number("SOTR_CONV_WEIGHT_CACHE_MB", unset, 0, 1e12);
    from = "SOTR_CONV_WEIGHT_CACHE_MB";
  }
  if (mb == unset) {
    mb = kDefaultMb;
    from = "default";
    const MemoryLimit m = readMemoryLimit();
    if (m.bytes > 0 && m.bytes / 4.0 / 1048576.0 < kDefaultMb) {
      mb = std::floor(m.bytes / 4.0 / 1048576.0);
      from = "memory limit";
    }
  }
  return static_cast<int64_t>(mb * 1048576.0);
}

struct Source {
  std::weak_ptr<Storage> storage;  // identity (control block), never dereferenced
  const Storage* raw = nullptr;    // the index key while the storage lives
  size_t offset = 0;
  int64_t numel = 0;
};

bool sameStorage(const std::weak_ptr<Storage>& a, const std::shared_ptr<Storage>& b) {
  return !a.owner_before(b) && !b.owner_before(a);
}

}  // namespace

// Entries leave the map through erase() only, which keeps `bySource` in step
// and hands the payload to a graveyard the caller destroys after unlocking:
// a payload may hold storages (device copies) whose destructors call back
// into the cache.
struct WeightCache::Impl {
  struct Entry {
    std::vector<Source> sources;
    std::shared_ptr<void> payload;
    int64_t bytes = 0;
    uint64_t lastUse = 0;
  };
  using Map = std::unordered_map<std::string, Entry>;
  using Graveyard = std::vector<std::shared_ptr<void>>;
  std::mutex mu;
  Map map;  // key: tag + source addresses
  // For each live source storage, the keys of the entries it keys (one pair
  // per source slot), so its destructor finds them without a scan.
  std::unordered_multimap<const Storage*, const std::string*> bySource;
  int64_t bytes = 0, hits = 0, misses = 0, evictions = 0, notKept = 0;
  uint64_t clock = 0;
  // How often each key was asked for lately, cached or not (halved now and then, so it follows a change of
  // models): a weight made while the budget is full is kept only if it was asked for clearly more often than the
  // entries it would evict (makeRoom). A forward pass uses every weight once in turn; with a plain LRU, a budget
  // below their total evicted each entry just before its next use and kept none (R50, 2 threads: as slow as no
  // cache).
  std::unordered_map<std::string, uint32_t> demand;
  uint64_t demandAsks = 0;

  // Caller holds mu. Counts an ask for `key`.
  void ask(const std::string& key) {
    if (++demandAsks >= std::max<uint64_t>(1024, 16 * demand.size())) {
      demandAsks = 0;
      for (auto it = demand.begin(); it != demand.end();) {
        it->second /= 2;
        it = it->second ? std::next(it) : demand.erase(it);
      }
    }
    uint32_t& n = demand[key];
    if (n < UINT32_MAX) ++n;
  }
  uint32_t demandOf(const std::string& key) const {
    auto it = demand.find(key);
    return it == demand.end() ? 0 : it->second;
  }

  static std::string keyOf(const std::vector<const Tensor*>& sources, const std::string& tag) {
    std::string k = tag;
    for (const Tensor* t : sources) {
      k += '|';
      k += std::to_string(reinterpret_cast<uintptr_t>(t->storage.get()));
      k += ':';
      k += std::to_string(t->offset);
      k += ':';
      k += std::to_string(t->numel());
    }
    return k;
  }
  static bool matches(const Entry& e, const std::vector<const Tensor*>& sources) {
    if (e.sources.size() != sources.size()) return false;
    for (size_t i = 0; i < sources.size(); ++i)
      if (!sameStorage(e.sources[i].storage, sources[i]->storage)) return false;
    return true;
  }
  // Caller holds mu.
  void insert(std::string key, Entry e) {
    bytes += e.bytes;
    auto it = map.emplace(std::move(key), std::move(e)).first;
    for (const Source& s : it->second.sources) bySource.emplace(s.raw, &it->first);
  }
  // Caller holds mu; destroys `dead` after unlocking.
  Map::iterator erase(Map::iterator it, Graveyard& dead) {
    for (const Source& s : it->second.sources) {
      auto range = bySource.equal_range(s.raw);
      for (auto j = range.first; j != range.second; ++j)
        if (j->second == &it->first) {
          bySource.erase(j);
          break;
        }
    }
    bytes -= it->second.bytes;
    dead.push_back(std::move(it->second.payload));
    return map.erase(it);
  }
  void evictTo(int64_t target, Graveyard& dead) {
    while (bytes > target && !map.empty()) {
      auto victim = map.begin();
      for (auto it = map.begin(); it != map.end(); ++it)
        if (it->second.lastUse < victim->second.lastUse) victim = it;
      erase(victim, dead);
      evictions++;
    }
  }
  // Caller holds mu. Makes room for `need` bytes under `limit` by evicting least recently used entries, only if
  // each was asked for at least two fewer times than the newcomer (`want`, its count). In a cycle over more
  // weights than fit, the newcomer has been asked once more than the entry next in line, which has not come round
  // yet: that must not evict it. False (nothing evicted) if that would not make room.
  bool makeRoom(int64_t limit, int64_t need, uint32_t want, Graveyard& dead) {
    if (bytes + need <= limit) return true;
    std::vector<Map::iterator> lru;
    lru.reserve(map.size());
    for (auto it = map.begin(); it != map.end(); ++it) lru.push_back(it);
    std::sort(lru.begin(), lru.end(),
              [](Map::iterator a, Map::iterator b) { return a->second.lastUse < b->second.lastUse; });
    int64_t freed = 0;
    size_t n = 0;
    while (n < lru.size() && bytes - freed + need > limit) {
      if (demandOf(lru[n]->first) + 2 > want) return false;
      freed += lru[n]->second.bytes;
      ++n;
    }
    if (bytes - freed + need > limit) return false;
    for (size_t i = 0; i < n; ++i) {
      erase(lru[i], dead);
      evictions++;
    }
    return true;
  }
};

WeightCache::WeightCache() : impl_(new Impl()), limit_(limitFromEnv(limitFrom_)) {}
WeightCache::~WeightCache() = default;

bool WeightCache::contains(const std::vector<const Tensor*>& sources, const std::string& tag) {
  for (const Tensor* t : sources)
    if (!t || !t->defined()) return false;
  const std::string key = Impl::keyOf(sources, tag);
  Impl& c = *impl_;
  std::lock_guard<std::mutex> lk(c.mu);
  auto it = c.map.find(key);
  return it != c.map.end() && Impl::matches(it->second, sources);
}

std::shared_ptr<void> WeightCache::get(const std::vector<const Tensor*>& sources, const std::string& tag,
                                       const Maker& make) {
  for (const Tensor* t : sources)
    if (!t || !t->defined()) {  // nothing to key on: no caching
      int64_t b = 0;
      return make(b);
    }
  const int64_t limit = limit_.load();
  if (limit == 0) {
    int64_t b = 0;
    return make(b);
  }
  const std::string key = Impl::keyOf(sources, tag);
  Impl& c = *impl_;
  {
    std::lock_guard<std::mutex> lk(c.mu);
    auto it = c.map.find(key);
    c.ask(key);
    if (it != c.map.end() && Impl::matches(it->second, sources)) {
      c.hits++;
      it->second.lastUse = ++c.clock;
      return it->second.payload;
    }
    c.misses++;
  }
  int64_t bytes = 0;
  std::shared_ptr<void> payload = make(bytes);
  Impl::Graveyard dead;  // destroyed after the lock is released
  std::lock_guard<std::mutex> lk(c.mu);
  if (bytes > limit) return payload;  // too big to keep
  auto it = c.map.find(key);
  if (it != c.map.end()) {
    if (Impl::matches(it->second, sources)) {  // another thread made it meanwhile: share that one
      it->second.lastUse = ++c.clock;
      return it->second.payload;
    }
    // Unreachable while storages drop their entries as they die (the key
    // names live storages only); kept as a guard.
    c.erase(it, dead);
  }
  if (!c.makeRoom(limit, bytes, c.demandOf(key), dead)) {
    c.notKept++;
    return payload;  // for this call only: the budget holds weights asked for as often
  }
  Impl::Entry e;
  for (const Tensor* t : sources) {
    e.sources.push_back(Source{t->storage, t->storage.get(), t->offset, t->numel()});
    t->storage->keysWeightCache.store(true, std::memory_order_release);
  }
  e.payload = payload;
  e.bytes = bytes;
  e.lastUse = ++c.clock;
  c.insert(key, std::move(e));
  return payload;
}

void WeightCache::storageDestroyed(const Storage* s) {
  Impl& c = *impl_;
  Impl::Graveyard dead;  // destroyed after the lock is released
  std::lock_guard<std::mutex> lk(c.mu);
  for (;;) {
    auto j = c.bySource.find(s);
    if (j == c.bySource.end()) break;
    auto it = c.map.find(*j->second);
    if (it == c.map.end()) {  // cannot happen (erase() keeps the index in step)
      c.bySource.erase(j);
      continue;
    }
    c.erase(it, dead);
  }
}

WeightCacheStats WeightCache::stats() {
  Impl& c = *impl_;
  std::lock_guard<std::mutex> lk(c.mu);
  return WeightCacheStats{static_cast<int64_t>(c.map.size()), c.bytes, c.hits, c.misses, c.evictions, c.notKept};
}

void WeightCache::clear() {
  Impl& c = *impl_;
  Impl::Graveyard dead;  // destroyed after the lock is released
  std::lock_guard<std::mutex> lk(c.mu);
  for (auto it = c.map.begin(); it != c.map.end();) it = c.erase(it, dead);
}

void WeightCache::setLimitBytes(int64_t bytes) {
  Impl& c = *impl_;
  Impl::Graveyard dead;  // destroyed after the lock is released
  std::lock_guard<std::mutex> lk(c.mu);
  limit_ = bytes < 0 ? 0 : bytes;
  c.evictTo(limit_.load(), dead);
}

WeightCache& weightCache() {
  static WeightCache* c = new WeightCache();  // never destroyed (exit order)
  return *c;
}

}  // namespace sotr
