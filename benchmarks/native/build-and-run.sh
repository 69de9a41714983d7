#!/usr/bin/env bash
# Builds the CPU GEMM test and benchmark with plain g++ into /tmp/gemm-build
# (override with GEMM_BUILD_DIR) and runs them.
#   benchmarks/native/build-and-run.sh            # test + bench (1 and 2 threads)
#   benchmarks/native/build-and-run.sh test       # test only (every SIMD level)
#   benchmarks/native/build-and-run.sh bench [gemm_bench args...]
# Per-file flags mirror native/gemm/CMakeLists-fragment.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${GEMM_BUILD_DIR:-/tmp/gemm-build}"
CXX="${CXX:-g++}"
mkdir -p "$OUT"
BASE=(-O3 -std=c++17 -fno-math-errno -Wall -Wextra -I"$ROOT/native" -I"$ROOT")
AVX2=(-mavx2 -mfma)
AVX512=(-mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma)

compile() {  # src obj [extra flags...]
  local src="$1" obj="$2"; shift 2
  if [[ ! -f "$OUT/$obj" || "$src" -nt "$OUT/$obj" || "$ROOT/native/gemm/gemm_cpu.h" -nt "$OUT/$obj" ||
        "$ROOT/native/gemm/gemm_avx512_common.h" -nt "$OUT/$obj" ]]; then
    "$CXX" "${BASE[@]}" "$@" -c "$src" -o "$OUT/$obj"
  fi
}
LIB_OBJS=(cpu_features.o thread_pool.o gemm_cpu.o gemm_kernel_scalar.o gemm_kernel_neon.o gemm_kernel_avx2.o gemm_kernel_avx512.o gemm_kernel_avx512_bf16.o)
compile "$ROOT/native/runtime/cpu_features.cpp" cpu_features.o
compile "$ROOT/native/runtime/thread_pool.cpp" thread_pool.o
compile "$ROOT/native/gemm/gemm_cpu.cpp" gemm_cpu.o
compile "$ROOT/native/gemm/gemm_kernel_scalar.cpp" gemm_kernel_scalar.o
compile "$ROOT/native/gemm/gemm_kernel_neon.cpp" gemm_kernel_neon.o  # empty off AArch64
compile "$ROOT/native/gemm/gemm_kernel_avx2.cpp" gemm_kernel_avx2.o "${AVX2[@]}"
compile "$ROOT/native/gemm/gemm_kernel_avx512.cpp" gemm_kernel_avx512.o "${AVX512[@]}"
compile "$ROOT/native/gemm/gemm_kernel_avx512_bf16.cpp" gemm_kernel_avx512_bf16.o "${AVX512[@]}" -mavx512bf16
compile "$ROOT/tests/native/test_gemm_cpu.cpp" test_gemm_cpu.o
compile "$ROOT/benchmarks/native/gemm_bench.cpp" gemm_bench.o
# The ISA objects must not export weak (COMDAT) symbols: the linker could pick
# their AVX copy for baseline callers.
if command -v nm >/dev/null; then
  for o in gemm_kernel_avx2.o gemm_kernel_avx512.o gemm_kernel_avx512_bf16.o; do
    if nm "$OUT/$o" | grep -Eq ' [WVu] '; then
      echo "error: $o exports weak symbols:" >&2
      nm -C "$OUT/$o" | grep -E ' [WVu] ' >&2
      exit 1
    fi
  done
fi
( cd "$OUT" && "$CXX" "${LIB_OBJS[@]}" test_gemm_cpu.o -o test_gemm_cpu -pthread )
( cd "$OUT" && "$CXX" "${LIB_OBJS[@]}" gemm_bench.o -o gemm_bench -pthread -lopenblas )

what="${1:-all}"
[[ $# -gt 0 ]] && shift
if [[ "$what" == all || "$what" == test ]]; then
  "$OUT/test_gemm_cpu"
fi
if [[ "$what" == all || "$what" == bench ]]; then
  if [[ $# -gt 0 ]]; then
    "$OUT/gemm_bench" "$@"
  else
    "$OUT/gemm_bench" --threads 1,2 --json "$OUT/gemm_bench.json"
  fi
fi
