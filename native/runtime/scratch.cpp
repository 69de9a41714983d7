#include "runtime/scratch.h"

#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

namespace sotr {

namespace {
struct Entry {
  Workspace* w;
  const void* pool;  // the pool whose worker owns it (null: any other thread)
  std::thread::id owner;
};

std::mutex& listMu() {
  static std::mutex* mu = new std::mutex;  // never destroyed: thread-local destructors may run during exit
  return *mu;
}
std::vector<Entry>& list() {
  static auto* l = new std::vector<Entry>;
  return *l;
}
thread_local const void* t_pool = nullptr;
}  // namespace

void markWorkspaceOwner(const void* poolTag) { t_pool = poolTag; }

void Workspace::enroll() {
  std::lock_guard<std::mutex> lk(listMu());
  list().push_back({this, t_pool, std::this_thread::get_id()});
  enrolled_ = true;
}

void Workspace::withdrawNow() {
  std::lock_guard<std::mutex> lk(listMu());
  auto& l = list();
  for (size_t i = 0; i < l.size(); ++i) {
    if (l[i].w == this) {
      l[i] = l.back();
      l.pop_back();
      break;
    }
  }
  enrolled_ = false;
}

WorkspaceTotals workspaceTotals() {
  WorkspaceTotals t;
  std::unordered_set<std::thread::id> threads;
  std::lock_guard<std::mutex> lk(listMu());
  for (const Entry& e : list()) {
    const int64_t b = e.w->heldBytes();
    if (b <= 0) continue;
    t.bytes += b;
    t.buffers++;
    threads.insert(e.owner);
  }
  t.threads = static_cast<int>(threads.size());
  return t;
}

int64_t releaseWorkspaces(const void* poolTag, bool allThreads) {
  const auto self = std::this_thread::get_id();
  int64_t freed = 0;
  std::lock_guard<std::mutex> lk(listMu());
  for (const Entry& e : list()) {
    if (!allThreads && e.owner != self && (poolTag == nullptr || e.pool != poolTag)) continue;
    freed += e.w->heldBytes();
    e.w->release();
  }
  return freed;
}

}  // namespace sotr
