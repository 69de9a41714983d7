#!/usr/bin/env bash
# Unpacks the carried gpu-build/ archives on the GPU machine (made here by scripts/build-gpu-artifacts.sh):
#   native.tar.xz -> $RT/  sotr.node, sotr_test_ops, gemm_cuda_check (sm_90)
#   node.xz       -> $RT/bin/node
#   app.tar.xz    -> ./dist and ./node_modules, only where the checkout has none that works (the checkout's
#                    node_modules is a link to another folder that does not travel)
# RT defaults to /tmp/sotr-gpu-rt. Prints `export` lines for PATH and SOTR_NATIVE_PATH; source-able:
#   eval "$(bash scripts/gpu-unpack.sh)"
# Decompresses with xz, else Python's lzma. Idempotent for one bundle; a different bundle (its COMMIT and BUILD_INFO
# differ from the stamp left in $RT) replaces the binaries and dist/ that an earlier call left (a warm GPU machine
# keeps /tmp and the checkout's ignored files between calls: a rerun after a fix must not test the old build).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC="${GPU_BUILD_DIR:-gpu-build}"
RT="${SOTR_GPU_RT:-/tmp/sotr-gpu-rt}"
mkdir -p "$RT/bin"
unxz_() {
  if command -v xz >/dev/null 2>&1; then xz -dc "$1"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer, 1 << 20)' "$1"; fi
}
log() { echo "$*" >&2; }
STAMP="$(cat "$SRC/COMMIT" 2>/dev/null || true) $(cat "$SRC/BUILD_INFO" 2>/dev/null || true)"
fresh=0
[ "$STAMP" != "$(cat "$RT/STAMP" 2>/dev/null || true)" ] && fresh=1

if [ -f "$SRC/native.tar.xz" ] && { [ $fresh = 1 ] || [ ! -x "$RT/sotr_test_ops" ]; }; then
  unxz_ "$SRC/native.tar.xz" | tar -xf - -C "$RT"
  log "unpacked native binaries into $RT"
fi
if [ -f "$SRC/node.xz" ] && [ ! -x "$RT/bin/node" ]; then
  unxz_ "$SRC/node.xz" > "$RT/bin/node.tmp" && chmod +x "$RT/bin/node.tmp" && mv "$RT/bin/node.tmp" "$RT/bin/node"
  log "unpacked node into $RT/bin ($("$RT/bin/node" --version 2>&1 | head -1))"
fi
if [ -f "$SRC/app.tar.xz" ]; then
  need_dist=0; need_mods=0
  [ -f dist/index.js ] || need_dist=1
  if [ $fresh = 1 ] && [ -f "$RT/STAMP" ]; then need_dist=1; rm -rf dist; fi  # an earlier bundle's dist/
  [ -f node_modules/uvu/package.json ] || need_mods=1
  if [ $need_dist = 1 ] || [ $need_mods = 1 ]; then
    # A dangling link (the checkout's node_modules points to a folder that did not travel) is replaced.
    if [ $need_mods = 1 ] && [ -L node_modules ] && [ ! -e node_modules ]; then rm node_modules; fi
    what=""; [ $need_dist = 1 ] && what="dist"; [ $need_mods = 1 ] && what="$what node_modules"
    unxz_ "$SRC/app.tar.xz" | tar -xf - --skip-old-files $what
    log "unpacked$( [ $need_dist = 1 ] && echo ' dist/')$( [ $need_mods = 1 ] && echo ' node_modules/') from $SRC/app.tar.xz"
  fi
fi
echo "$STAMP" > "$RT/STAMP"
[ -x "$RT/bin/node" ] && echo "export PATH=\"$RT/bin:\$PATH\""
[ -f "$RT/sotr.node" ] && echo "export SOTR_NATIVE_PATH=\"$RT/sotr.node\""
exit 0
