// Reading the SOTR_* environment variables, one way everywhere. Callers keep
// the value in a function-local static (read once: the variables are set
// before the process starts, and a hot path must not call getenv). Plain C++,
// also included by the CUDA sources.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace sotr {
namespace env {

// Set to exactly `value`.
inline bool is(const char* name, const char* value) {
  const char* e = std::getenv(name);
  return e && std::strcmp(e, value) == 0;
}

// 1 + the index of the value among `choices`; 0 when unset or none matches.
inline int choice(const char* name, std::initializer_list<const char*> choices) {
  const char* e = std::getenv(name);
  if (!e) return 0;
  int i = 1;
  for (const char* c : choices) {
    if (std::strcmp(e, c) == 0) return i;
    ++i;
  }
  return 0;
}

// A whole decimal integer in [lo, hi]; `dflt` when unset, empty, not a
// number, followed by anything else, or out of range.
inline int64_t integer(const char* name, int64_t dflt, int64_t lo, int64_t hi) {
  const char* e = std::getenv(name);
  if (!e || !*e) return dflt;
  char* end = nullptr;
  const long long v = std::strtoll(e, &end, 10);
  return (*end == '\0' && v >= lo && v <= hi) ? static_cast<int64_t>(v) : dflt;
}

// A number (decimal, fractions allowed) in [lo, hi]; `dflt` otherwise, as integer().
inline double number(const char* name, double dflt, double lo, double hi) {
  const char* e = std::getenv(name);
  if (!e || !*e) return dflt;
  char* end = nullptr;
  const double v = std::strtod(e, &end);
  return (*end == '\0' && v >= lo && v <= hi) ? v : dflt;
}

}  // namespace env
}  // namespace sotr
