// Small integer helpers shared by the CPU engines. static: each translation
// unit keeps its own copy (safe to include from ISA-specific files too).
#pragma once
#include <cstdint>

namespace sotr {

static constexpr int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static constexpr int64_t roundUp(int64_t a, int64_t b) { return ceilDiv(a, b) * b; }

}  // namespace sotr
