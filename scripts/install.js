#!/usr/bin/env node
// `npm install` hook. In a git checkout: always build the addon from source
// (never a stale prebuilt binary). Outside one (installed from the registry):
// use a prebuilt binary that loads, else build from source (CPU-only without
// nvcc). Never downloads anything.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const fromSource = process.argv.includes('--from-source') || process.env.SOTR_BUILD_FROM_SOURCE === '1';
const inGit = fs.existsSync(path.join(root, '.git'));

function log(msg) {
  process.stderr.write(`sotr-node: ${msg}\n`);
}

// The addon interface the shipped JavaScript needs (dist/native.js), when it is there to ask.
function neededInterface() {
  try {
    return require(path.join(root, 'dist', 'native.js')).NATIVE_INTERFACE;
  } catch {
    return undefined;
  }
}

function prebuildLoads() {
  try {
    const load = require('node-gyp-build');
    const file = load.resolve(root);
    if (!file.includes(`${path.sep}prebuilds${path.sep}`)) return false;
    const addon = require(file);
    const need = neededInterface();
    if (need !== undefined && addon.interfaceVersion !== need) {
      log(`the prebuilt binary speaks native interface ${addon.interfaceVersion ?? '1 or older'}, this package needs ${need}`);
      return false;
    }
    return true;
  } catch {
    return false;
  }
}

function build() {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const args = [cmakeJs, 'compile', '--out', 'build'];
  const jobs = process.env.CMAKE_BUILD_PARALLEL_LEVEL || String(require('node:os').availableParallelism?.() ?? 2);
  log(`building the native addon from source (SOTR_CUDA=${process.env.SOTR_CUDA || 'auto'}, ${jobs} jobs)`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: jobs },
  });
  if (r.status !== 0) {
    log('native build failed. You need cmake >= 3.18 and a C++17 compiler (and nvcc for CUDA);');
    log('set SOTR_CUDA=off to build without CUDA. See README "Building from source".');
    process.exit(r.status || 1);
  }
  log(`native addon built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

if (!fromSource && !inGit && prebuildLoads()) {
  log('using the prebuilt binary');
} else if (process.platform === 'win32' && !fromSource) {
  // MSVC cannot compile the native code (GCC/Clang vector types and builtins, POSIX mmap): say so, instead of
  // pages of compiler errors. SOTR_BUILD_FROM_SOURCE=1 still tries (a GCC/Clang toolchain that can is welcome).
  log('Windows is not supported natively: the native code needs GCC or Clang and POSIX (README "Installing").');
  log('Use WSL2 (the package then runs as on Linux x64), or set SOTR_BUILD_FROM_SOURCE=1 to try a build anyway.');
  process.exit(1);
} else {
  build();
}
