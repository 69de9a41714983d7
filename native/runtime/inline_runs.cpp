#include "runtime/inline_runs.h"
#include "runtime/env.h"

#include <cstdlib>
#include <mutex>
#include <unordered_map>

namespace sotr {

namespace {
std::mutex g_mu;
std::unordered_map<uint64_t, int64_t> g_last;  // signature -> ns of its last run
constexpr size_t kMaxSignatures = 4096;        // forgotten wholesale beyond this

int64_t budgetFromEnv() {
  const double us = env::number("SOTR_INLINE_US", 30, 0, 1e9);
  return static_cast<int64_t>(us * 1000);
}
}  // namespace

InlineRuns::InlineRuns() : budgetNs_(budgetFromEnv()) {}

InlineRuns& InlineRuns::get() {
  static InlineRuns* r = new InlineRuns();  // never destroyed (exit order)
  return *r;
}

bool InlineRuns::eligible(uint64_t signature) {
  const int64_t budget = budgetNs();
  if (budget <= 0) return false;
  std::lock_guard<std::mutex> lk(g_mu);
  auto it = g_last.find(signature);
  return it != g_last.end() && it->second <= budget;
}

void InlineRuns::record(uint64_t signature, int64_t ns) {
  std::lock_guard<std::mutex> lk(g_mu);
  if (g_last.size() >= kMaxSignatures && !g_last.count(signature)) g_last.clear();
  g_last[signature] = ns;
}

}  // namespace sotr
