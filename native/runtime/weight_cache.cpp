#include "runtime/weight_cache.h"
#include "runtime/env.h"

#include <cstdlib>
#include <mutex>
#include <unordered_map>

namespace sotr {

namespace {

int64_t limitFromEnv() {
  // SOTR_CONV_WEIGHT_CACHE_MB: the name before the cache was shared. An R101
  // with Winograd F(4x4) weights holds ~1 GB.
  const double old = env::number("SOTR_CONV_WEIGHT_CACHE_MB", 2048, 0, 1e12);
  const double mb = env::number("SOTR_WEIGHT_CACHE_MB", old, 0, 1e12);
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
  int64_t bytes = 0, hits = 0, misses = 0, evictions = 0;
  uint64_t clock = 0;

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
};

WeightCache::WeightCache() : impl_(new Impl()), limit_(limitFromEnv()) {}
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
  c.evictTo(limit - bytes, dead);
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
  return WeightCacheStats{static_cast<int64_t>(c.map.size()), c.bytes, c.hits, c.misses, c.evictions};
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
