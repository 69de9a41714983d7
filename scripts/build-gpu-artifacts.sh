#!/usr/bin/env bash
# Builds, HERE (no GPU needed), everything scripts/gpu-check.sh runs on a
# borrowed GPU machine, so nothing compiles there: the addon and the native
# op test for sm_90 (H100/H200), and the standalone CUDA GEMM check.
# Output: gpu-build/ (git-ignored; carried to the device with `carry`).
set -euo pipefail
cd "$(dirname "$0")/.."
ARCHS="${SOTR_CUDA_ARCHS:-90-real}"
BUILD=/tmp/sotr-build-gpu
mkdir -p gpu-build
t0=$(date +%s)
SOTR_CUDA=on SOTR_CUDA_ARCHS="$ARCHS" npx cmake-js compile --out "$BUILD" >/tmp/sotr-build-gpu.log 2>&1 || { tail -40 /tmp/sotr-build-gpu.log; exit 1; }
cp "$BUILD/Release/sotr.node" "$BUILD/sotr_test_ops" gpu-build/
if [ -f tests/native/gemm_cuda_check.cu ]; then
  nvcc -std=c++17 -O3 -cudart static -gencode arch=compute_90,code=sm_90 -I native -I . \
    tests/native/gemm_cuda_check.cu cuda/gemm.cu -o gpu-build/gemm_cuda_check
fi
git rev-parse --short=12 HEAD > gpu-build/COMMIT 2>/dev/null || echo unknown > gpu-build/COMMIT
git status --porcelain | grep -q . && echo "dirty" >> gpu-build/COMMIT || true
echo "archs $ARCHS, built $(date -u +%FT%TZ) in $(( $(date +%s) - t0 )) s" > gpu-build/BUILD_INFO
cat gpu-build/BUILD_INFO
ls -la gpu-build
