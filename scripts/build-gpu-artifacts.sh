#!/usr/bin/env bash
# Builds, HERE (no GPU needed), everything scripts/gpu-check.sh runs on a
# borrowed GPU machine, so nothing compiles there: the addon and the native
# op test for sm_90 (H100/H200), the standalone CUDA GEMM check, and (unless
# SOTR_GPU_NODE_BUNDLE=0) a Node runtime with dist/ and the run-time
# node_modules (scripts/build-gpu-node-bundle.sh).
# Output: gpu-build/ (git-ignored; carried to the device with `carry`), all compressed:
#   native.tar.xz  sotr.node, sotr_test_ops, gemm_cuda_check (stripped)
#   node.xz, app.tar.xz, NODE_BUNDLE   (the Node bundle)
#   COMMIT, BUILD_INFO, MANIFEST
# The CMake build itself stays in build-gpu/ (incremental; not carried).
# SOTR_GEMM_TC_LDMATRIX (default ON here, OFF in the package): the opt-in ldmatrix GEMM mainloop, compiled in
# so that gpu-check.sh can run it with SOTR_GEMM_TC_VARIANT=ldmatrix.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCHS="${SOTR_CUDA_ARCHS:-90-real}"
BUILD="${SOTR_GPU_BUILD_DIR:-$PWD/build-gpu}"
NICE="nice -n 19"
STAGE="$BUILD/stage"
t0=$(date +%s)
TC_LDSM="${SOTR_GEMM_TC_LDMATRIX:-ON}"
mkdir -p "$BUILD"
# cmake-js compile reconfigures only a build folder without a cache: set the option in an existing one.
if [ -f "$BUILD/CMakeCache.txt" ]; then
  SOTR_CUDA=on SOTR_CUDA_ARCHS="$ARCHS" cmake -DSOTR_GEMM_TC_LDMATRIX="$TC_LDSM" "$BUILD" >"$BUILD/reconfigure.log" 2>&1 || { tail -20 "$BUILD/reconfigure.log"; exit 1; }
fi
SOTR_GEMM_TC_LDMATRIX="$TC_LDSM" SOTR_CUDA=on SOTR_CUDA_ARCHS="$ARCHS" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
  $NICE npx cmake-js compile --out "$BUILD" >"$BUILD/cmake-js.log" 2>&1 || { tail -40 "$BUILD/cmake-js.log"; exit 1; }
rm -rf "$STAGE" gpu-build
mkdir -p "$STAGE" gpu-build
cp "$BUILD/Release/sotr.node" "$BUILD/sotr_test_ops" "$STAGE/"
if [ -f tests/native/gemm_cuda_check.cu ]; then
  $NICE nvcc -std=c++17 -O3 -cudart static -gencode arch=compute_90,code=sm_90 -I native -I . \
    $(case "$TC_LDSM" in ON|on|1|TRUE|true) echo -DSOTR_GEMM_TC_LDMATRIX=1 ;; esac) \
    tests/native/gemm_cuda_check.cu cuda/gemm.cu -o "$STAGE/gemm_cuda_check"
fi
# Stripped (as the prebuild is); the CUDA code and its line info stay.
strip --strip-unneeded "$STAGE/sotr.node"
strip "$STAGE"/sotr_test_ops "$STAGE"/gemm_cuda_check 2>/dev/null || true
$NICE tar -cf - --owner=0 --group=0 --numeric-owner -C "$STAGE" . | $NICE xz -9 -T1 > gpu-build/native.tar.xz
git rev-parse --short=12 HEAD > gpu-build/COMMIT 2>/dev/null || echo unknown > gpu-build/COMMIT
git status --porcelain --untracked-files=no | grep -q . && echo "dirty" >> gpu-build/COMMIT || true
[ "${SOTR_GPU_NODE_BUNDLE:-1}" = 1 ] && bash scripts/build-gpu-node-bundle.sh
echo "archs $ARCHS, ldmatrix mainloop $TC_LDSM, built $(date -u +%FT%TZ) in $(( $(date +%s) - t0 )) s" > gpu-build/BUILD_INFO

# What travels: the tracked files plus gpu-build/ (the device tool's limit: 64 MiB, 8 carried paths).
tracked=$(git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s+0}')
carried=$(du -cb gpu-build | tail -1 | cut -f1)
{
  echo "# gpu-build/ as built $(date -u +%FT%TZ) from $(head -1 gpu-build/COMMIT)$(sed -n 2p gpu-build/COMMIT | sed 's/^/ /')"
  ls -l --time-style=+ gpu-build | awk 'NR>1 {printf "%-14s %10d\n", $NF, $5}'
  (cd "$STAGE" && ls -l --time-style=+ . | awk 'NR>1 {printf "  unpacked %-16s %10d\n", $NF, $5}')
  echo "tracked files $tracked + gpu-build $carried = $(( tracked + carried )) bytes ($(( (tracked + carried) >> 20 )) MiB of 64)"
} > gpu-build/MANIFEST
cat gpu-build/BUILD_INFO gpu-build/MANIFEST
[ $(( tracked + carried )) -lt $(( 60 << 20 )) ] || { echo "WARNING: close to or over the 64 MiB the device tool carries"; exit 1; }
