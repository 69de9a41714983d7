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

/** Where nvcc is (CUDACXX, PATH, then the folders CMakeLists.txt tries), or null. */
function nvccPath(env = process.env) {
  const isFile = (f) => fs.statSync(f, { throwIfNoEntry: false })?.isFile() === true;
  if (env.CUDACXX && isFile(env.CUDACXX)) return env.CUDACXX;
  const dirs = (env.PATH || '').split(path.delimiter).concat(['/usr/local/cuda/bin', '/usr/local/cuda-13.0/bin']);
  for (const d of dirs) if (d && isFile(path.join(d, 'nvcc'))) return path.join(d, 'nvcc');
  return null;
}

// SOTR_CUDA: auto, or one of CMake's obvious booleans for on and off, in any case (CMakeLists.txt takes the same
// values). Anything else (a typo like "onn") is refused: it used to build CPU-only, silently.
const CUDA_WORDS = { auto: 'auto', on: 'on', true: 'on', yes: 'on', 1: 'on', off: 'off', false: 'off', no: 'off', 0: 'off' };
const CUDA_ALLOWED = 'auto, on or off (ON/OFF, TRUE/FALSE, YES/NO and 1/0 work too, in any case)';

/** 'auto' | 'on' | 'off', or undefined for a value that is none of them. */
function normalizeCuda(value) {
  const word = String(value).toLowerCase();
  return Object.hasOwn(CUDA_WORDS, word) ? CUDA_WORDS[word] : undefined;
}

/** The entries of a CMakeCache.txt's text that the source build's plan needs. */
function cachedOptions(text) {
  const out = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^(SOTR_CUDA|SOTR_CUDA_ARCHS|SOTR_BUILT_WITH_CUDA|SOTR_NVCC_REJECTED|CMAKE_GENERATOR):[A-Z]+=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/**
 * What the source build will use, from the environment and the text of build/CMakeCache.txt (undefined: no
 * configured build directory) and where nvcc is (null: not found). `cmake-js compile` does not re-run CMake in a
 * configured build directory, so a SOTR_CUDA / SOTR_CUDA_ARCHS that differs from the cached one, or an nvcc installed
 * since a build directory was configured without one, must be handed to an explicit configure first.
 * Returns { error } or { cuda, archs, said, reconfigure, defines, generator }: `said` is the settings as the log
 * shows them; `reconfigure` what changed (empty: none); `defines` the cmake-js arguments for the values the
 * environment gives.
 */
function buildPlan(env, cacheText, nvcc = null) {
  const cache = cacheText === undefined ? undefined : cachedOptions(cacheText);
  const envCuda = env.SOTR_CUDA || undefined; // an empty variable is no value (CMakeLists.txt reads it so too)
  const envArchs = env.SOTR_CUDA_ARCHS || undefined;
  const reconfigure = [];
  const defines = [];
  const said = [];
  let cuda;
  if (envCuda !== undefined) {
    cuda = normalizeCuda(envCuda);
    if (cuda === undefined) return { error: `SOTR_CUDA="${envCuda}" is not a valid value: use ${CUDA_ALLOWED}` };
    defines.push(`--CDSOTR_CUDA=${envCuda}`);
    said.push(`SOTR_CUDA=${cuda}`);
    if (cache && normalizeCuda(cache.SOTR_CUDA) !== cuda) {
      reconfigure.push(`SOTR_CUDA ${cache.SOTR_CUDA ?? '(none)'} → ${cuda}`);
    }
  } else if (cache && cache.SOTR_CUDA !== undefined) {
    cuda = normalizeCuda(cache.SOTR_CUDA);
    if (cuda === undefined) {
      return {
        error:
          `build/CMakeCache.txt holds SOTR_CUDA="${cache.SOTR_CUDA}", not a valid value: ` +
          `set SOTR_CUDA to ${CUDA_ALLOWED} (build/ then keeps it), or delete build/`,
      };
    }
    said.push(`SOTR_CUDA=${cuda} kept from build/CMakeCache.txt`);
  } else {
    cuda = 'auto';
    said.push('SOTR_CUDA=auto, the default');
  }
  let archs = '';
  if (envArchs !== undefined) {
    archs = envArchs;
    defines.push(`--CDSOTR_CUDA_ARCHS=${envArchs}`);
    said.push(`SOTR_CUDA_ARCHS=${archs}`);
    if (cache && cache.SOTR_CUDA_ARCHS !== archs) {
      reconfigure.push(`SOTR_CUDA_ARCHS ${cache.SOTR_CUDA_ARCHS || '(the shipped list)'} → ${archs}`);
    }
  } else if (cache && cache.SOTR_CUDA_ARCHS) {
    archs = cache.SOTR_CUDA_ARCHS;
    if (cuda !== 'off') said.push(`SOTR_CUDA_ARCHS=${archs} kept from build/CMakeCache.txt`);
  }
  // nvcc installed after build/ was configured without it (auto): CMake keeps the compiler it did not find, and
  // cmake-js compile would go on building CPU-only. Re-configure, telling CMake where nvcc is; not with the nvcc
  // CMake's check rejected (SOTR_NVCC_REJECTED): forced on CMake, its configure would fail where auto builds CPU-only.
  if (cache && cuda !== 'off' && nvcc && cache.SOTR_BUILT_WITH_CUDA === 'OFF' && cache.SOTR_NVCC_REJECTED !== nvcc) {
    reconfigure.push(`nvcc found at ${nvcc}, build/ was configured without one`);
    defines.push(`--CDCMAKE_CUDA_COMPILER=${nvcc}`);
  }
  return { cuda, archs, said: said.join(', '), reconfigure, defines, generator: cache && cache.CMAKE_GENERATOR };
}

function readCache() {
  try {
    return fs.readFileSync(path.join(root, 'build', 'CMakeCache.txt'), 'utf8');
  } catch {
    return undefined;
  }
}

function cmakeJsRun(cmakeJs, args, jobs) {
  const r = spawnSync(process.execPath, [cmakeJs, ...args], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: jobs },
  });
  if (r.status !== 0) {
    log('native build failed. You need cmake >= 3.18 and a C++17 compiler (and nvcc for CUDA);');
    log('set SOTR_CUDA=off to build without CUDA. See README "Building from source".');
    process.exit(r.status || 1);
  }
}

function build() {
  // Before anything slow: a mistyped setting stops here, with what is allowed.
  const nvcc = nvccPath();
  const plan = buildPlan(process.env, readCache(), nvcc);
  if (plan.error) {
    log(plan.error);
    process.exit(1);
  }
  let cmakeJs;
  try {
    cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  } catch {
    log('cannot build from source: the cmake-js package is missing (reinstall sotr-node with its dependencies)');
    process.exit(1);
  }
  const jobs = process.env.CMAKE_BUILD_PARALLEL_LEVEL || String(require('node:os').availableParallelism?.() ?? 2);
  log(`building the native addon from source (${plan.said}, ${jobs} jobs)`);
  // npm shows an install script's output only when it fails: say how long this may take, and how to shorten it.
  if (plan.cuda !== 'off' && nvcc) {
    if (plan.archs) {
      log(`nvcc found: the CUDA kernels are compiled too, for ${plan.archs}`);
      log('(SOTR_CUDA=off builds the CPU path only, in 2-4 minutes)');
    } else {
      log('nvcc found: the CUDA kernels are compiled too, for several GPU generations (10-20 minutes on 2 cores;');
      log('SOTR_CUDA_ARCHS=90-real, say, compiles for one; SOTR_CUDA=off builds the CPU path only, in 2-4 minutes)');
    }
  }
  const t0 = Date.now();
  // The defines also reach the configure of cmake-js's fallback (a clean rebuild when the build fails).
  const common = ['--out', 'build', ...plan.defines];
  if (plan.reconfigure.length) {
    log(`build/ was configured otherwise (${plan.reconfigure.join(', ')}): re-configuring it (then what changed is recompiled)`);
    // The generator build/ was made with: CMake refuses another one in a configured directory.
    cmakeJsRun(cmakeJs, ['configure', ...common, ...(plan.generator ? ['--generator', plan.generator] : [])], jobs);
  }
  cmakeJsRun(cmakeJs, ['compile', ...common], jobs);
  log(`native addon built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

function main() {
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
}

// `node scripts/install.js` runs it; a test may require() the file for its pure functions.
if (require.main === module) main();

module.exports = { normalizeCuda, cachedOptions, buildPlan, nvccPath, CUDA_ALLOWED };
