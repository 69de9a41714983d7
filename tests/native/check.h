// Check counting for the standalone native tests: CHECK(cond, fmt, ...) (with
// file and line) or check(ok, what); checksSummary() prints "N checks, M
// failures", the line tests/run.mjs and tests/helpers/native_checks.mjs read,
// and returns the exit code (1 on a failure).
#pragma once
#include <cstdio>
#include <string>

namespace native_test {
inline int& checks() {
  static int n = 0;
  return n;
}
inline int& failures() {
  static int n = 0;
  return n;
}
}  // namespace native_test

inline void check(bool ok, const std::string& what) {
  ++native_test::checks();
  if (!ok) {
    ++native_test::failures();
    std::printf("FAIL %s\n", what.c_str());
  }
}

inline int checksSummary() {
  std::printf("%d checks, %d failures\n", native_test::checks(), native_test::failures());
  return native_test::failures() ? 1 : 0;
}

#define CHECK(cond, ...)                                          \
  do {                                                            \
    ++native_test::checks();                                      \
    if (!(cond)) {                                                \
      ++native_test::failures();                                  \
      std::printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::printf(__VA_ARGS__);                                   \
      std::printf("\n");                                          \
    }                                                             \
  } while (0)
