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

// Linux with musl libc (Alpine): Node's report names the glibc it runs on, and none on musl.
function isMusl() {
  if (process.platform !== 'linux') return false;
  try {
    return !process.report.getReport().header.glibcVersionRuntime;
  } catch {
    return false;
  }
}

// Whether a prebuilt binary for this platform loads here; when none does, says why (the build from source that
// follows may fail for reasons of its own: the user must still learn why the prebuilt binary was not used).
function prebuildLoads() {
  const here = `${process.platform}-${process.arch}`;
  // The Linux prebuilds are glibc binaries, and their file names carry no libc tag, so node-gyp-build offers them
  // on musl (Alpine) too; with gcompat installed one may even load there, then fail later. Build from source.
  if (isMusl()) {
    log(`musl libc: the prebuilt binaries in prebuilds/${here} are for glibc`);
    return false;
  }
  const folder = path.join(root, 'prebuilds', here);
  let file;
  try {
    file = require('node-gyp-build').resolve(root);
  } catch {
    file = undefined;
  }
  if (!file || !file.includes(`${path.sep}prebuilds${path.sep}`)) {
    log(fs.existsSync(folder) ? `no prebuilt binary in prebuilds/${here} fits this Node.js` : `no prebuilt binary for ${here} in this package`);
    return false;
  }
  try {
    const addon = require(file);
    const need = neededInterface();
    if (need !== undefined && addon.interfaceVersion !== need) {
      log(`the prebuilt binary speaks native interface ${addon.interfaceVersion ?? '1 or older'}, this package needs ${need}`);
      return false;
    }
    return true;
  } catch (e) {
    const msg = String((e && e.message) || e).split('\n')[0];
    const glibc = /GLIBC_[0-9.]+/.exec(msg);
    log(`the prebuilt binary ${path.relative(root, file)} does not load here: ${msg}`);
    if (glibc) log(`(it needs ${glibc[0].replace('_', ' ')} or newer: README "Installing" lists the supported systems)`);
    return false;
  }
}

// Whether nvcc would be found by the CMake build (SOTR_CUDA=auto builds the CUDA path when it is).
function nvccFound() {
  if (process.env.CUDACXX && fs.existsSync(process.env.CUDACXX)) return true;
  const dirs = (process.env.PATH || '').split(path.delimiter).concat(['/usr/local/cuda/bin']);
  return dirs.some((d) => d && fs.existsSync(path.join(d, 'nvcc')));
}

function build() {
  let cmakeJs;
  try {
    cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  } catch {
    log('cannot build from source: the cmake-js package is missing (reinstall sotr-node with its dependencies)');
    process.exit(1);
  }
  const args = [cmakeJs, 'compile', '--out', 'build'];
  const jobs = process.env.CMAKE_BUILD_PARALLEL_LEVEL || String(require('node:os').availableParallelism?.() ?? 2);
  const cuda = process.env.SOTR_CUDA || 'auto';
  log(`building the native addon from source (SOTR_CUDA=${cuda}, ${jobs} jobs)`);
  // npm shows an install script's output only when it fails: say how long this may take, and how to shorten it.
  if (cuda !== 'off' && nvccFound()) {
    log('nvcc found: the CUDA kernels are compiled too, for several GPU generations (10-20 minutes on 2 cores;');
    log('SOTR_CUDA_ARCHS=90-real, say, compiles for one; SOTR_CUDA=off builds the CPU path only, in 2-4 minutes)');
  }
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
