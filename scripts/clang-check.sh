#!/usr/bin/env bash
# The native core built with Clang for x86-64 (CPU only, no addon), and its Node-free tests run. Apple clang is
# what an Intel Mac builds from source with, and Clang is common on Linux too; GCC alone let a GCC-only type in the
# AVX-512 GEMM header (`_mm_hint`) through, and every Clang build failed on it. The op test runs at each dispatch
# level (AVX-512 where the CPU has it, AVX2, scalar), as Clang compiles the kernels of each. CI runs it on every
# change (SOTR_TEST_CLANG=1 npm test, .ci/run). (Clang for AArch64, Apple Silicon's: scripts/arm64-check.sh with
# ARM64_CHECK_CLANG=1.)
#
#   bash scripts/clang-check.sh        configure + build (~1.5 min fresh on 2 cores) into build-clang/, then run
#
# Needs clang++ (Debian: clang); as root with apt-get it is installed when missing. Without it the script says
# "skipped" and exits 0. Exit 1 when the build or a test fails; the compiler's warnings are printed (the core is
# built with -Wall, and a warning in it is a failure).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bdir="$root/build-clang"
stage() { printf '\n==== clang: %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
t_all=$(date +%s)
fail=0

if ! command -v clang++ >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get install -y -q clang >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q clang >/dev/null 2>&1; }) || true
fi
if ! command -v clang++ >/dev/null; then
  echo "clang check skipped: no clang++ (apt-get install clang)"
  exit 0
fi
clang++ --version | head -1

targets=(sotr_test_ops sotr_test_gemm_cpu sotr_test_host_arena sotr_test_thread_pool)

stage "build (x86-64, CPU only)"
t0=$(date +%s)
mkdir -p "$bdir"
if ! CC=clang CXX=clang++ cmake -S . -B "$bdir" -DSOTR_CUDA=off -DCMAKE_BUILD_TYPE=Release >"$bdir/configure.log" 2>&1; then
  tail -20 "$bdir/configure.log" | sed 's/^/    /'; echo "FAIL Clang build (configure)"; exit 1
fi
if ! cmake --build "$bdir" -j"$(nproc)" --target "${targets[@]}" >"$bdir/build.log" 2>&1; then
  grep -E -A3 "error" "$bdir/build.log" | head -40 | sed 's/^/    /'; echo "FAIL Clang build"; exit 1
fi
# The core's own files are built with -Wall: a warning there is a defect Clang sees and GCC does not.
warnings=$(grep -E "^$root/native/.*warning:" "$bdir/build.log" | sort -u)
if [ -n "$warnings" ]; then
  echo "$warnings" | head -20 | sed 's/^/    /'; echo "FAIL Clang build: $(echo "$warnings" | wc -l) warning(s) in native/"; fail=1
else
  echo "ok   Clang build (x86-64, no warning in native/)  $(( $(date +%s) - t0 )) s"
fi

# shellcheck source=native-test-lib.sh
source "$root/scripts/native-test-lib.sh"

stage "native tests"
run_native "Clang: GEMM core test" "$bdir/sotr_test_gemm_cpu"
run_native "Clang: host arena test" "$bdir/sotr_test_host_arena"
run_native "Clang: thread pool test" "$bdir/sotr_test_thread_pool"
for simd in "" avx2 scalar; do
  run_native "Clang: native op test${simd:+ (SOTR_CPU_SIMD=$simd)}" env ${simd:+SOTR_CPU_SIMD=$simd} "$bdir/sotr_test_ops" --no-time --skip-timed
done

echo "clang check: $(( $(date +%s) - t_all )) s, $([ $fail = 0 ] && echo passed || echo FAILED)"
exit $fail
