// Run-time CPU feature detection and the SIMD level the CPU kernels dispatch on.
// Plain C++ (no Node headers). Compiled for baseline x86-64: nothing here may
// execute an instruction the CPU might lack.
#pragma once
#include <vector>

namespace sotr {

// Ordered: a higher level implies the lower ones are usable too.
enum class SimdLevel : int { Scalar = 0, AVX2 = 1, AVX512 = 2 };

struct CpuFeatures {
  bool avx2 = false, fma = false;                                  // AVX2 path needs both
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;  // AVX512 path needs all
  bool avx512vnni = false, avx512vpopcntdq = false, avx512bf16 = false;       // informational
  bool neon = false;  // AArch64's Advanced SIMD: baseline there, so no level of its own (the portable GEMM uses it)
};

// What the CPU (and OS, via XSAVE state) supports; detected once.
const CpuFeatures& cpuFeatures();

// Best level the CPU supports AND this binary compiled kernels for.
SimdLevel maxSimdLevel();

// Level the kernels use: env SOTR_CPU_SIMD=scalar|avx2|avx512 (read once, on
// first call) capped at maxSimdLevel(); unset or unrecognised -> maxSimdLevel().
// A setActiveSimdLevel() override wins over the env var.
SimdLevel activeSimdLevel();

// Test hook: forces the active level (capped at maxSimdLevel()); returns the
// level actually in effect. Not meant to be flipped while kernels run.
SimdLevel setActiveSimdLevel(SimdLevel level);
// Drops the override and re-reads SOTR_CPU_SIMD.
void resetActiveSimdLevel();

const char* simdLevelName(SimdLevel level);  // "scalar", "avx2", "avx512"
// Parses "scalar" / "avx2" / "avx512" (case-insensitive); false if unknown.
bool parseSimdLevel(const char* text, SimdLevel* out);

// Kernel variants present in this binary (always includes Scalar). A variant is
// missing when its source was built without its ISA flags or on non-x86.
std::vector<SimdLevel> compiledSimdVariants();

}  // namespace sotr
