#include "runtime/weight_cache.h"

#include <cstdlib>
#include <mutex>
#include <unordered_map>

namespace sotr {

namespace {

int64_t limitFromEnv() {
  const char* e = std::getenv("SOTR_WEIGHT_CACHE_MB");
  if (!e || !*e) e = std::getenv("SOTR_CONV_WEIGHT_CACHE_MB");  // the name before the cache was shared
  double mb = 1024;
  if (e && *e) {
    char* end = nullptr;
    const double v = std::strtod(e, &end);
    if (end != e && v >= 0) mb = v;
  }
  return static_cast<int64_t>(mb * 1048576.0);
}

struct Source {
  std::weak_ptr<Storage> storage;
  size_t offset = 0;
  int64_t numel = 0;
};

bool sameStorage(const std::weak_ptr<Storage>& a, const std::shared_ptr<Storage>& b) {
  return !a.owner_before(b) && !b.owner_before(a);
}

}  // namespace

struct WeightCache::Impl {
  struct Entry {
    std::vector<Source> sources;
    std::shared_ptr<void> payload;
    int64_t bytes = 0;
    uint64_t lastUse = 0;
    bool expired() const {
      for (const Source& s : sources)
        if (s.storage.expired()) return true;
      return false;
    }
  };
  std::mutex mu;
  std::unordered_map<std::string, Entry> map;  // key: tag + source addresses
  int64_t bytes = 0, hits = 0, misses = 0;
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
  void purgeDead() {
    for (auto it = map.begin(); it != map.end();) {
      if (it->second.expired()) {
        bytes -= it->second.bytes;
        it = map.erase(it);
      } else {
        ++it;
      }
    }
  }
  void evictTo(int64_t target) {
    while (bytes > target && !map.empty()) {
      auto victim = map.begin();
      for (auto it = map.begin(); it != map.end(); ++it)
        if (it->second.lastUse < victim->second.lastUse) victim = it;
      bytes -= victim->second.bytes;
      map.erase(victim);
    }
  }
};

WeightCache::WeightCache() : impl_(new Impl()), limit_(limitFromEnv()) {}
WeightCache::~WeightCache() = default;

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
    c.purgeDead();
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
  std::lock_guard<std::mutex> lk(c.mu);
  if (bytes > limit) return payload;  // too big to keep
  auto it = c.map.find(key);
  if (it != c.map.end()) {
    if (Impl::matches(it->second, sources)) {  // another thread made it meanwhile: share that one
      it->second.lastUse = ++c.clock;
      return it->second.payload;
    }
    c.bytes -= it->second.bytes;  // a dead storage's address, reused
    c.map.erase(it);
  }
  c.evictTo(limit - bytes);
  Impl::Entry e;
  for (const Tensor* t : sources) e.sources.push_back(Source{t->storage, t->offset, t->numel()});
  e.payload = payload;
  e.bytes = bytes;
  e.lastUse = ++c.clock;
  c.map.emplace(key, std::move(e));
  c.bytes += bytes;
  return payload;
}

WeightCacheStats WeightCache::stats() {
  Impl& c = *impl_;
  std::lock_guard<std::mutex> lk(c.mu);
  c.purgeDead();
  return WeightCacheStats{static_cast<int64_t>(c.map.size()), c.bytes, c.hits, c.misses};
}

void WeightCache::clear() {
  Impl& c = *impl_;
  std::lock_guard<std::mutex> lk(c.mu);
  c.map.clear();
  c.bytes = 0;
}

void WeightCache::setLimitBytes(int64_t bytes) {
  Impl& c = *impl_;
  std::lock_guard<std::mutex> lk(c.mu);
  limit_ = bytes < 0 ? 0 : bytes;
  c.evictTo(limit_.load());
}

WeightCache& weightCache() {
  static WeightCache* c = new WeightCache();  // never destroyed (exit order)
  return *c;
}

}  // namespace sotr
