#!/usr/bin/env bash
# The native core under the sanitizers: builds the Node-free native tests (CPU only, no addon) with
# -fsanitize=address,undefined into build-sanitize/ and runs them; then with -fsanitize=thread into
# build-sanitize-thread/ and runs the tests that use the CPU pool's threads. Any out-of-bounds access, use after
# free, leak, misaligned access, signed overflow or bad shift in a kernel, the thread pool, the host arena or the op
# registry, and any data race between the pool's threads, fails the test that reached it. CI runs it on every
# change (SOTR_TEST_SANITIZE=1 npm test, .ci/run).
#
#   bash scripts/sanitize-check.sh                  build (~8 min fresh on 2 cores, incremental after) and run
#   SANITIZE_CHECK_OPS=conv2d,maskContours          only these ops in the native op test (default: all)
#   SANITIZE_CHECK_THREAD=0                         skip the ThreadSanitizer build
#   SANITIZE_CHECK_NODE=1                           also the addon under ASan + UBSan and the JavaScript suite on it
#                                                   (libasan preloaded into node; ~2 min build, ~15 min suite on 2
#                                                   cores; not in CI: run it when bindings/ or the runtime change;
#                                                   SANITIZE_CHECK_NODE_FILTER=masks: only those test files)
#
# The AVX2 and AVX-512 kernels run as the CPU allows (this machine: AVX-512), and the op test runs once more with
# SOTR_CPU_SIMD=avx2 and once with scalar, so each dispatch level is checked. Exit 1 when a test fails.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bdir="$root/build-sanitize"
stage() { printf '\n==== sanitize: %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
t_all=$(date +%s)
fail=0

targets=(sotr_test_ops sotr_test_gemm_cpu sotr_test_conv2d_winograd_cuda sotr_test_gemm_tc_ldmatrix_emu
  sotr_test_op_profiler sotr_test_host_arena sotr_test_thread_pool)

# build DIR SANITIZERS TARGETS...: configure and build the CPU-only tree with -fsanitize=SANITIZERS (extra cmake -D
# arguments in the array cmake_extra); its logs stay in DIR.
cmake_extra=()
build() {
  local dir=$1 san=$2; shift 2
  local t0 flags
  t0=$(date +%s)
  flags="-fsanitize=$san -fno-omit-frame-pointer"
  [ "$san" = thread ] || flags="$flags -fno-sanitize-recover=undefined"
  mkdir -p "$dir"
  if ! cmake -S . -B "$dir" -DSOTR_CUDA=off -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS=$flags" \
      "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=$san" "-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=$san" "${cmake_extra[@]}" \
      >"$dir/configure.log" 2>&1; then
    tail -20 "$dir/configure.log" | sed 's/^/    /'; echo "FAIL sanitize build, $san (configure)"; return 1
  fi
  if ! cmake --build "$dir" -j"$(nproc)" --target "$@" >"$dir/build.log" 2>&1; then
    grep -E "error" "$dir/build.log" | head -20 | sed 's/^/    /'; echo "FAIL sanitize build, $san"; return 1
  fi
  echo "stage build ($san): $(( $(date +%s) - t0 )) s"
}

stage "build (CPU only, -fsanitize=address,undefined)"
build "$bdir" address,undefined "${targets[@]}" || exit 1

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"

# shellcheck source=native-test-lib.sh
source "$root/scripts/native-test-lib.sh"
# A sanitizer report is a failure whatever the exit code says: run_native calls this on each test's output.
san_re="ERROR: (Address|Leak)Sanitizer|runtime error:|WARNING: ThreadSanitizer"
run_native_check() {
  grep -qE "$san_re" <<<"$1" || return 0  # (not a pipe: with pipefail, grep -q quitting early could hide a match)
  grep -E -A12 "$san_re" <<<"$1" | head -40 | sed 's/^/    /'
  return 1
}

stage "native tests"
run_native "sanitize: GEMM core test" "$bdir/sotr_test_gemm_cpu"
run_native "sanitize: Winograd CUDA-emulation test" "$bdir/sotr_test_conv2d_winograd_cuda"
run_native "sanitize: ldmatrix emulation test" "$bdir/sotr_test_gemm_tc_ldmatrix_emu"
run_native "sanitize: op profiler test" "$bdir/sotr_test_op_profiler"
run_native "sanitize: host arena test" "$bdir/sotr_test_host_arena"
run_native "sanitize: thread pool test" "$bdir/sotr_test_thread_pool"
ops=()
if [ -n "${SANITIZE_CHECK_OPS:-}" ]; then IFS=, read -ra ops <<<"$SANITIZE_CHECK_OPS"; fi
for simd in "" avx2 scalar; do
  label="native op test${simd:+ (SOTR_CPU_SIMD=$simd)}"
  if [ ${#ops[@]} -gt 0 ]; then
    for op in "${ops[@]}"; do run_native "sanitize: $label: $op" env ${simd:+SOTR_CPU_SIMD=$simd} "$bdir/sotr_test_ops" --no-time --skip-timed --op "$op"; done
  else
    run_native "sanitize: $label" env ${simd:+SOTR_CPU_SIMD=$simd} "$bdir/sotr_test_ops" --no-time --skip-timed
  fi
done
# The paths kernels take on many cores (Winograd's split over channels, dynamic_conv_masks' candidate groups).
for op in conv2d dynamic_conv_masks; do
  run_native "sanitize: native op test, 40 threads: $op" env SOTR_NUM_THREADS=40 "$bdir/sotr_test_ops" --no-time --skip-timed --op "$op"
done

if [ "${SANITIZE_CHECK_THREAD:-1}" != 0 ]; then
  stage "ThreadSanitizer: build (CPU only, -fsanitize=thread) and the tests that use the pool's threads"
  tdir="$root/build-sanitize-thread"
  if build "$tdir" thread sotr_test_ops sotr_test_host_arena sotr_test_op_profiler sotr_test_thread_pool; then
    run_native "sanitize (threads): host arena test" "$tdir/sotr_test_host_arena"
    run_native "sanitize (threads): thread pool test" "$tdir/sotr_test_thread_pool"
    run_native "sanitize (threads): thread pool test, no spin" env SOTR_POOL_SPIN_US=0 "$tdir/sotr_test_thread_pool"
    run_native "sanitize (threads): op profiler test" "$tdir/sotr_test_op_profiler"
    if [ ${#ops[@]} -gt 0 ]; then
      for op in "${ops[@]}"; do run_native "sanitize (threads): native op test: $op" "$tdir/sotr_test_ops" --no-time --skip-timed --op "$op"; done
    else
      run_native "sanitize (threads): native op test" "$tdir/sotr_test_ops" --no-time --skip-timed
    fi
    for op in conv2d dynamic_conv_masks; do
      run_native "sanitize (threads): native op test, 40 threads: $op" env SOTR_NUM_THREADS=40 "$tdir/sotr_test_ops" --no-time --skip-timed --op "$op"
    done
  else
    fail=1
  fi
fi

if [ "${SANITIZE_CHECK_NODE:-0}" = 1 ]; then
  stage "the addon under ASan + UBSan, and the JavaScript suite on it"
  ndir="$root/build-sanitize-node"
  # What cmake-js passes, by hand (as scripts/arm64-check.sh does): this tree adds the sanitizer flags.
  cmake_extra=(-DCMAKE_JS_VERSION=8.0.0 "-DCMAKE_JS_INC=$root/node_modules/node-api-headers/include;$root/node_modules/node-addon-api"
    -DCMAKE_JS_SRC= -DCMAKE_JS_LIB=)
  if build "$ndir" address,undefined sotr; then
    # node itself is not instrumented: the runtime is preloaded; V8 keeps memory to the end (no leak check) and
    # handles its own signals. The pack test is left out: it checks that no addon loads, and SOTR_NATIVE_PATH loads this one.
    run_native "sanitize (node): the JavaScript suite on the ASan addon" env \
      LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
      ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:handle_segv=0:allow_user_segv_handler=1" \
      SOTR_NATIVE_PATH="$ndir/sotr.node" SOTR_TEST_NO_BINARIES=1 SOTR_TEST_EXCLUDE=pack.test SOTR_TEST_TIMEOUT_S=900 \
      node tests/run.mjs "${SANITIZE_CHECK_NODE_FILTER:-}"
  else
    fail=1
  fi
fi

echo "sanitize check: $(( $(date +%s) - t_all )) s, $([ $fail = 0 ] && echo passed || echo FAILED)"
exit $fail
