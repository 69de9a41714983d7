#include "runtime/pool_trace.h"

#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <vector>

namespace sotr {
namespace pooltrace {

namespace {

struct Region {
  std::vector<int64_t> taskNs;
};

struct OpRecord {
  std::string op, shapes;
  int64_t cpu0 = 0;
  int64_t regionCallerNs = 0;
  std::deque<Region> regions;  // stable addresses: workers write into a region while others may be added
};

thread_local OpRecord* t_op = nullptr;

const char* tracePath() {
  static const char* p = [] {
    const char* v = std::getenv("SOTR_POOL_TRACE");
    return v && *v ? v : nullptr;
  }();
  return p;
}

std::mutex g_mu;
std::FILE* g_file = nullptr;

void append(const OpRecord& r, int64_t serialNs) {
  std::string line = "{\"op\":\"" + r.op + "\",\"shapes\":\"" + r.shapes + "\",\"serialNs\":" + std::to_string(serialNs) + ",\"regions\":[";
  for (size_t i = 0; i < r.regions.size(); ++i) {
    line += i ? ",[" : "[";
    const auto& t = r.regions[i].taskNs;
    for (size_t k = 0; k < t.size(); ++k) line += (k ? "," : "") + std::to_string(t[k]);
    line += "]";
  }
  line += "]}\n";
  std::lock_guard<std::mutex> lk(g_mu);
  static bool failed = false;
  if (!g_file && !failed) {
    g_file = std::fopen(tracePath(), "a");
    // Said once: a trace asked for and not written would otherwise look like a run with no parallel regions.
    if (!g_file) std::fprintf(stderr, "sotr: SOTR_POOL_TRACE: cannot open %s for writing\n", tracePath());
    failed = !g_file;
  }
  if (g_file) {
    std::fputs(line.c_str(), g_file);
    std::fflush(g_file);
  }
}

}  // namespace

bool on() { return tracePath() != nullptr; }

int64_t threadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

OpScope::OpScope(const std::string& op, const std::string& shapes) {
  if (!on() || t_op) return;  // an op inside an op (none today) belongs to the outer one
  auto* r = new OpRecord;
  r->op = op;
  r->shapes = shapes;
  r->cpu0 = threadCpuNs();
  t_op = r;
  rec_ = r;
}

OpScope::~OpScope() {
  if (!rec_) return;
  auto* r = static_cast<OpRecord*>(rec_);
  t_op = nullptr;
  append(*r, threadCpuNs() - r->cpu0 - r->regionCallerNs);
  delete r;
}

void* beginRegion(int64_t ntasks) {
  if (!t_op) return nullptr;
  t_op->regions.emplace_back();
  t_op->regions.back().taskNs.assign(static_cast<size_t>(ntasks), 0);
  return &t_op->regions.back();
}

void taskDone(void* region, int64_t task, int64_t cpuNs) {
  static_cast<Region*>(region)->taskNs[static_cast<size_t>(task)] = cpuNs;
}

void endRegion(void* region, int64_t callerCpuNs) {
  if (region && t_op) t_op->regionCallerNs += callerCpuNs;
}

}  // namespace pooltrace
}  // namespace sotr
