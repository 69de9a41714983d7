#!/usr/bin/env bash
# Packs, HERE, what a borrowed GPU machine needs to run Node (it has none):
#   gpu-build/node.xz      a Node runtime (this machine's node, stripped, xz; cached in build-gpu/node-cache/)
#   gpu-build/app.tar.xz   dist/ (compiled TypeScript, rebuilt now) and the node_modules loaded at run time
#                          by the tests, the CLI and scripts/gpu-e2e.mjs: uvu and, unless SOTR_BUNDLE_SHARP=0,
#                          sharp with its libvips (image decoding: CLI, preprocess tests); never the build tools
# scripts/gpu-unpack.sh unpacks both there (scripts/gpu-check.sh calls it). Called by
# scripts/build-gpu-artifacts.sh; runs alone too. Needs only node, npm's tsc, tar, xz, strip.
#   SOTR_BUNDLE_NODE=/path/to/node (default: node on PATH), SOTR_BUNDLE_SHARP=0|1 (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
OUTDIR=gpu-build
CACHE=build-gpu/node-cache
NODE_BIN="$(readlink -f "${SOTR_BUNDLE_NODE:-$(command -v node)}")"
NICE="nice -n 19"
mkdir -p "$OUTDIR" "$CACHE"

# ---- the Node runtime ----
ver=$("$NODE_BIN" -p 'process.versions.node')
"$NODE_BIN" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=17)?0:1)' ||
  { echo "node $ver is older than 20.17 (package.json engines)"; exit 1; }
[ "$("$NODE_BIN" -p 'process.platform+"-"+process.arch')" = linux-x64 ] || { echo "the device is linux-x64: $NODE_BIN is not"; exit 1; }
# Shared libraries: only glibc's and the GCC runtime, present on every CUDA + PyTorch image. Anything else would
# have to travel too: stop and say so.
libs=$(ldd "$NODE_BIN" | awk '{print $1}' | sed 's,.*/,,' | sort -u)
odd=$(echo "$libs" | grep -vE '^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|lib(c|m|dl|pthread|rt)\.so\.[0-9]+|libstdc\+\+\.so\.6|libgcc_s\.so\.1)$' || true)
[ -z "$odd" ] || { echo "node needs libraries a CUDA image may lack: $odd (bundle them, or use an official node build)"; exit 1; }
glibc=$(objdump -T "$NODE_BIN" 2>/dev/null | grep -oE 'GLIBC_[0-9.]+' | sort -uV | tail -1 || true)
glibcxx=$(objdump -T "$NODE_BIN" 2>/dev/null | grep -oE 'GLIBCXX_[0-9.]+' | sort -uV | tail -1 || true)
key="node-v$ver-$(stat -c %s-%Y "$NODE_BIN")"
if [ ! -s "$CACHE/$key.xz" ]; then
  echo "compressing node v$ver (strip + xz -9, a few minutes on two cores; cached in $CACHE)"
  cp "$NODE_BIN" "$CACHE/node.tmp"
  strip "$CACHE/node.tmp"
  $NICE xz -9 -T1 -c "$CACHE/node.tmp" > "$CACHE/$key.xz.tmp"
  rm "$CACHE/node.tmp"
  mv "$CACHE/$key.xz.tmp" "$CACHE/$key.xz"
fi
cp "$CACHE/$key.xz" "$OUTDIR/node.xz"

# ---- dist/ and the run-time node_modules ----
$NICE npm run --silent build >/dev/null
roots="uvu"
[ "${SOTR_BUNDLE_SHARP:-1}" = 1 ] && roots="$roots sharp"
# The dependency closure of the roots (dependencies + optional dependencies installed here).
mods=$(node -e '
  const fs = require("fs"), path = require("path");
  const seen = new Set(), todo = process.argv.slice(1);
  while (todo.length) {
    const n = todo.pop();
    if (seen.has(n)) continue;
    const pj = path.join("node_modules", n, "package.json");
    if (!fs.existsSync(pj)) { if (!seen.size) throw new Error("missing " + n); continue; }
    seen.add(n);
    const p = JSON.parse(fs.readFileSync(pj, "utf8"));
    for (const d of Object.keys({ ...p.dependencies, ...p.optionalDependencies })) todo.push(d);
  }
  console.log([...seen].sort().map((n) => "node_modules/" + n).join("\n"));
' $roots)
for m in $mods; do [ -d "$m" ] || { echo "missing $m: run npm install"; exit 1; }; done
$NICE tar -cf - --owner=0 --group=0 --numeric-owner --sort=name dist $mods | $NICE xz -9 -T1 > "$OUTDIR/app.tar.xz"

{
  echo "node v$ver from $NODE_BIN ($(stat -c %s "$NODE_BIN") bytes; stripped + xz: $(stat -c %s "$OUTDIR/node.xz"))"
  echo "node needs: $(echo $libs | tr '\n' ' '); newest symbol versions $glibc $glibcxx"
  echo "app.tar.xz: dist/ + $(echo "$mods" | wc -l) packages: $(echo $mods | sed 's,node_modules/,,g')"
} > "$OUTDIR/NODE_BUNDLE"
cat "$OUTDIR/NODE_BUNDLE"
