#!/usr/bin/env bash
# The one command for a borrowed GPU machine (nvcc, CMake, PyTorch; maybe no
# Node). Stages, each with its own timeout, all within about 5 minutes:
#   0 probe   1 binaries (carried gpu-build/, else a CMake build for sm_90)
#   2 native op test (every op, CUDA vs CPU twin, timed)   3 GEMM check
#   4 Node suite (only if node is present)   5 PyTorch side of the benchmarks
# Writes at most 8 files under $OUT (default ./gpu-out).
#   usage: bash scripts/gpu-check.sh [--skip-node] [--skip-bench]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
SKIP_NODE=0; SKIP_BENCH=0
for a in "$@"; do
  case "$a" in --skip-node) SKIP_NODE=1 ;; --skip-bench) SKIP_BENCH=1 ;; esac
done
say() { echo "$*" | tee -a "$SUMMARY"; }
stage() { say ""; say "== stage $1 ($(date -u +%T))"; }
T0=$(date +%s)

stage "0 probe"
{
  date -u +%FT%TZ
  echo "commit: $(cat gpu-build/COMMIT 2>/dev/null | tr '\n' ' ' || git rev-parse --short=12 HEAD 2>/dev/null)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | head -2
  nvcc --version 2>&1 | tail -1
  echo "node: $(command -v node >/dev/null && node --version || echo absent)"
  timeout 60 python3 -c "import torch;print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" 2>&1 | tail -1
} | tee -a "$SUMMARY"

stage "1 binaries"
BIN=gpu-build
if [ -x "$BIN/sotr_test_ops" ] && "$BIN/sotr_test_ops" --list >/dev/null 2>&1; then
  say "using carried binaries: $(cat $BIN/BUILD_INFO 2>/dev/null)"
else
  say "no usable carried binaries: building the native op test for sm_90 with CMake"
  BIN=/tmp/sotr-gpu-build
  timeout 240 cmake -S . -B "$BIN" -G Ninja -DSOTR_CUDA=on -DSOTR_CUDA_ARCHS=90-real >/dev/null 2>&1 &&
    timeout 240 cmake --build "$BIN" --target sotr_test_ops -j 16 > "$OUT/build.log" 2>&1 || say "BUILD FAILED (see build.log)"
fi

stage "2 native op test (CUDA vs CPU twin)"
timeout 120 "$BIN/sotr_test_ops" --json "$OUT/ops.json" > "$OUT/ops.log" 2>&1
rc=$?
say "exit $rc; $(tail -1 "$OUT/ops.log")"
grep -E "FAIL" "$OUT/ops.log" | head -40 | tee -a "$SUMMARY"
grep -E "cuda .* ms" "$OUT/ops.log" | head -40 | tee -a "$SUMMARY" >/dev/null

stage "3 GEMM check"
if [ -x "$BIN/gemm_cuda_check" ] || [ -x gpu-build/gemm_cuda_check ]; then
  G=$([ -x "$BIN/gemm_cuda_check" ] && echo "$BIN/gemm_cuda_check" || echo gpu-build/gemm_cuda_check)
  timeout 90 "$G" > "$OUT/gemm.log" 2>&1
  say "exit $?; $(grep -cE 'FAIL' "$OUT/gemm.log") failing lines"
  grep -E "FAIL|TFLOP|GFLOP" "$OUT/gemm.log" | head -30 | tee -a "$SUMMARY" >/dev/null
else
  say "gemm_cuda_check not built"
fi

stage "4 Node suite"
if [ $SKIP_NODE = 0 ] && command -v node >/dev/null && [ -f gpu-build/sotr.node ] && [ -d node_modules ] && [ -d dist ]; then
  SOTR_NATIVE_PATH="$PWD/gpu-build/sotr.node" timeout 120 node tests/run.mjs > "$OUT/node.log" 2>&1
  say "exit $?; $(tail -1 "$OUT/node.log")"
else
  say "skipped (node, node_modules or dist missing here: the native op test above covers every op)"
fi

stage "5 PyTorch side of the benchmarks"
if [ $SKIP_BENCH = 0 ]; then
  : > "$OUT/bench.jsonl"
  for py in tests/native/gemm_torch_bench.py benchmarks/torch/*_bench.py; do
    [ $(( $(date +%s) - T0 )) -gt ${GPU_CHECK_BUDGET_S:-280} ] && { say "budget reached, skipping $py"; continue; }
    [ -f "$py" ] || continue
    say "-- $py"
    PYTHONUNBUFFERED=1 timeout 40 python3 "$py" --device cuda < /dev/null >> "$OUT/bench.jsonl" 2>> "$OUT/bench.err" || say "   (exit $?)"
  done
  say "$(wc -l < "$OUT/bench.jsonl") benchmark lines"
fi
say ""
say "total $(( $(date +%s) - T0 )) s"
