#include "runtime/cpu_features.h"

#include <atomic>
#include <cctype>
#include <cstdlib>

namespace sotr {

// Defined by the kernel sources (native/gemm/gemm_kernel_*.cpp): true when the
// file was compiled with its ISA flags on x86-64.
namespace simd_detail {
bool avx2VariantCompiled();
bool avx512VariantCompiled();
}  // namespace simd_detail

namespace {

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  // libgcc's cpu model also checks XCR0, so AVX/AVX-512 is reported only when
  // the OS saves the wider registers.
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512vnni = __builtin_cpu_supports("avx512vnni");
  f.avx512vpopcntdq = __builtin_cpu_supports("avx512vpopcntdq");
  f.avx512bf16 = __builtin_cpu_supports("avx512bf16");
#elif defined(__aarch64__)
  f.neon = true;
#endif
  return f;
}

SimdLevel computeMax() {
  const CpuFeatures& f = cpuFeatures();
  if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.fma &&
      simd_detail::avx512VariantCompiled())
    return SimdLevel::AVX512;
  if (f.avx2 && f.fma && simd_detail::avx2VariantCompiled()) return SimdLevel::AVX2;
  return SimdLevel::Scalar;
}

SimdLevel cap(SimdLevel l) {
  SimdLevel m = maxSimdLevel();
  return static_cast<int>(l) > static_cast<int>(m) ? m : l;
}

SimdLevel fromEnv() {
  SimdLevel l = maxSimdLevel();
  if (const char* s = std::getenv("SOTR_CPU_SIMD")) {
    SimdLevel parsed;
    if (parseSimdLevel(s, &parsed)) l = cap(parsed);
  }
  return l;
}

// -1: not yet resolved. Atomic so concurrent first calls are benign.
std::atomic<int> g_active{-1};

}  // namespace

const CpuFeatures& cpuFeatures() {
  static const CpuFeatures f = detect();
  return f;
}

SimdLevel maxSimdLevel() {
  static const SimdLevel m = computeMax();
  return m;
}

SimdLevel activeSimdLevel() {
  int v = g_active.load(std::memory_order_relaxed);
  if (v < 0) {
    v = static_cast<int>(fromEnv());
    g_active.store(v, std::memory_order_relaxed);
  }
  return static_cast<SimdLevel>(v);
}

SimdLevel setActiveSimdLevel(SimdLevel level) {
  SimdLevel l = cap(level);
  g_active.store(static_cast<int>(l), std::memory_order_relaxed);
  return l;
}

void resetActiveSimdLevel() { g_active.store(static_cast<int>(fromEnv()), std::memory_order_relaxed); }

const char* simdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::AVX512: return "avx512";
    case SimdLevel::AVX2: return "avx2";
    default: return "scalar";
  }
}

bool parseSimdLevel(const char* text, SimdLevel* out) {
  if (!text) return false;
  char buf[16];
  int n = 0;
  for (; text[n] && n < 15; ++n) buf[n] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[n])));
  if (text[n]) return false;
  buf[n] = '\0';
  auto eq = [&](const char* s) {
    int i = 0;
    for (; s[i] && buf[i] == s[i]; ++i) {
    }
    return s[i] == '\0' && buf[i] == '\0';
  };
  if (eq("scalar")) *out = SimdLevel::Scalar;
  else if (eq("avx2")) *out = SimdLevel::AVX2;
  else if (eq("avx512")) *out = SimdLevel::AVX512;
  else return false;
  return true;
}

std::vector<SimdLevel> compiledSimdVariants() {
  std::vector<SimdLevel> v{SimdLevel::Scalar};
  if (simd_detail::avx2VariantCompiled()) v.push_back(SimdLevel::AVX2);
  if (simd_detail::avx512VariantCompiled()) v.push_back(SimdLevel::AVX512);
  return v;
}

}  // namespace sotr
