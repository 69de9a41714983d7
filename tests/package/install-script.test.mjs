// scripts/install.js outside a git checkout, where no prebuild loads: on Windows it stops with a clear
// message instead of handing MSVC code it cannot compile (README "Installing"). Its source build: the SOTR_CUDA /
// SOTR_CUDA_ARCHS it uses (the environment's, else build/'s cached ones), a re-configure when they differ from
// build/'s (cmake-js compile alone would keep the old ones), a mistyped SOTR_CUDA refused before any build.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const { normalizeCuda, buildPlan, nvccPath } = createRequire(import.meta.url)(path.join(root, 'scripts', 'install.js'));

test('on Windows without a prebuild the install script stops with the reason and what to do', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sotr-install-'));
  try {
    // A package folder with only the install script: no .git, no prebuilds, no node-gyp-build.
    cpSync(path.join(root, 'scripts', 'install.js'), path.join(dir, 'scripts', 'install.js'));
    // Preloaded, so that install.js still runs as the main module (required, it only exports its functions).
    writeFileSync(path.join(dir, 'win32.cjs'), "Object.defineProperty(process, 'platform', { value: 'win32' });");
    const r = spawnSync(process.execPath, ['--require', path.join(dir, 'win32.cjs'), path.join(dir, 'scripts', 'install.js')], { encoding: 'utf8' });
    assert.is(r.status, 1);
    assert.match(r.stderr, /Windows is not supported natively/);
    assert.match(r.stderr, /WSL2/);
    assert.match(r.stderr, /SOTR_BUILD_FROM_SOURCE=1/);
    assert.not.match(r.stderr, /building the native addon/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a prebuilt binary that does not load: the install log says why before it builds from source', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sotr-install-'));
  try {
    cpSync(path.join(root, 'scripts', 'install.js'), path.join(dir, 'scripts', 'install.js'));
    mkdirSync(path.join(dir, 'node_modules'));
    symlinkSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(dir, 'node_modules', 'node-gyp-build'));
    const here = `${process.platform}-${process.arch}`;
    mkdirSync(path.join(dir, 'prebuilds', here), { recursive: true });
    writeFileSync(path.join(dir, 'prebuilds', here, 'sotr-node.node'), 'not an ELF file');
    const r = spawnSync(process.execPath, [path.join(dir, 'scripts', 'install.js')], { encoding: 'utf8', env: { ...process.env, SOTR_CUDA: 'off' } });
    assert.match(r.stderr, new RegExp(`the prebuilt binary prebuilds/${here}/sotr-node.node does not load here: .+`));
    // (The build from source that follows fails here: this folder has no cmake-js.)
    assert.is.not(r.status, 0);
    // No prebuild at all: said as such.
    rmSync(path.join(dir, 'prebuilds'), { recursive: true });
    const r2 = spawnSync(process.execPath, [path.join(dir, 'scripts', 'install.js')], { encoding: 'utf8', env: { ...process.env, SOTR_CUDA: 'off' } });
    assert.match(r2.stderr, new RegExp(`no prebuilt binary for ${here} in this package`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SOTR_CUDA: auto and the obvious CMake booleans in any case; nothing else', () => {
  for (const v of ['auto', 'AUTO', 'Auto']) assert.is(normalizeCuda(v), 'auto', v);
  for (const v of ['on', 'ON', 'true', 'True', 'yes', 'YES', '1']) assert.is(normalizeCuda(v), 'on', v);
  for (const v of ['off', 'OFF', 'false', 'FALSE', 'no', 'No', '0']) assert.is(normalizeCuda(v), 'off', v);
  for (const v of ['onn', 'yess', 'y', 'cuda', '2', ' on', 'constructor', '', undefined]) assert.is(normalizeCuda(v), undefined, String(v));
});

const cacheOf = (cuda, archs = '') => `# This is the CMakeCache file.\nCMAKE_GENERATOR:INTERNAL=Ninja\nSOTR_CUDA:STRING=${cuda}\nSOTR_CUDA_ARCHS:STRING=${archs}\n`;

test('buildPlan: the setting the build will use, and a re-configure only when the environment changes it', () => {
  // No build directory: the environment's value, else auto; nothing to re-configure.
  let p = buildPlan({}, undefined);
  assert.equal([p.cuda, p.said, p.reconfigure, p.defines], ['auto', 'SOTR_CUDA=auto, the default', [], []]);
  p = buildPlan({ SOTR_CUDA: 'off' }, undefined);
  assert.equal([p.cuda, p.reconfigure, p.defines], ['off', [], ['--CDSOTR_CUDA=off']]);
  // A configured build/ and no variable: its cached value (not "auto"), unchanged.
  p = buildPlan({}, cacheOf('off'));
  assert.equal([p.cuda, p.reconfigure], ['off', []]);
  assert.match(p.said, /SOTR_CUDA=off kept from build\/CMakeCache\.txt/);
  p = buildPlan({ SOTR_CUDA: '' }, cacheOf('on', '90-real'));
  assert.equal([p.cuda, p.archs, p.reconfigure], ['on', '90-real', []]);
  assert.match(p.said, /SOTR_CUDA_ARCHS=90-real kept/);
  // The same value, spelt otherwise: no re-configure.
  assert.equal(buildPlan({ SOTR_CUDA: 'ON', SOTR_CUDA_ARCHS: '90-real' }, cacheOf('on', '90-real')).reconfigure, []);
  assert.equal(buildPlan({ SOTR_CUDA: 'false' }, cacheOf('OFF')).reconfigure, []);
  // Another value: re-configure, with the value as given (CMakeLists.txt reads it the same way) and build/'s generator.
  p = buildPlan({ SOTR_CUDA: 'on' }, cacheOf('off'));
  assert.equal([p.cuda, p.reconfigure, p.defines, p.generator], ['on', ['SOTR_CUDA off → on'], ['--CDSOTR_CUDA=on'], 'Ninja']);
  p = buildPlan({ SOTR_CUDA_ARCHS: '86-real' }, cacheOf('auto'));
  assert.equal([p.cuda, p.archs, p.reconfigure], ['auto', '86-real', ['SOTR_CUDA_ARCHS (the shipped list) → 86-real']]);
  assert.equal(p.defines, ['--CDSOTR_CUDA_ARCHS=86-real']);
  // A build directory whose cache lacks the entry (configured by an older CMakeLists.txt): given, it is passed on.
  assert.equal(buildPlan({ SOTR_CUDA: 'off' }, 'CMAKE_GENERATOR:INTERNAL=Unix Makefiles\n').reconfigure, ['SOTR_CUDA (none) → off']);
  // Mistyped, in the environment or (from an older build) in the cache: an error naming the variable, value, choices.
  for (const v of ['onn', 'yess']) {
    const e = buildPlan({ SOTR_CUDA: v }, cacheOf('off')).error;
    assert.ok(e && e.includes(`SOTR_CUDA="${v}" is not a valid value`) && /auto, on or off/.test(e) && /YES\/NO/.test(e), e);
  }
  assert.match(buildPlan({}, cacheOf('onn')).error, /build\/CMakeCache\.txt holds SOTR_CUDA="onn", not a valid value: set SOTR_CUDA to auto, on or off/);
  assert.is(buildPlan({ SOTR_CUDA: 'off' }, cacheOf('onn')).error, undefined, 'a valid variable replaces a bad cached value');
});

test('buildPlan: nvcc installed since build/ was configured without one is handed to a re-configure', () => {
  const nvcc = '/opt/cuda-13/bin/nvcc';
  const made = (cuda, built) => `${cacheOf(cuda)}SOTR_BUILT_WITH_CUDA:INTERNAL=${built}\n`;
  let p = buildPlan({}, made('auto', 'OFF'), nvcc);
  assert.equal(p.reconfigure, [`nvcc found at ${nvcc}, build/ was configured without one`]);
  assert.equal(p.defines, [`--CDCMAKE_CUDA_COMPILER=${nvcc}`]);
  // SOTR_CUDA=on over such a build/: CMake would keep the compiler it did not find and stop; it is told where it is.
  p = buildPlan({ SOTR_CUDA: 'on' }, made('auto', 'OFF'), nvcc);
  assert.equal(p.defines, ['--CDSOTR_CUDA=on', `--CDCMAKE_CUDA_COMPILER=${nvcc}`]);
  // Nothing to do: a CUDA build, a CPU build asked for (off), no nvcc, a cache from before the entry, no build/.
  for (const [env, cache, found] of [
    [{}, made('auto', 'ON'), nvcc],
    [{}, made('off', 'OFF'), nvcc],
    [{}, made('auto', 'OFF'), null],
    [{}, cacheOf('auto'), nvcc],
    [{}, undefined, nvcc],
  ]) {
    assert.equal(buildPlan(env, cache, found).reconfigure, [], JSON.stringify([env, cache, found]));
  }
});

test('buildPlan: the nvcc CMake\'s check rejected (SOTR_NVCC_REJECTED) is not forced on a re-configure; another one is', () => {
  // auto with an nvcc CMake cannot use (an unsupported host compiler, say) builds CPU-only: forcing that nvcc as
  // CMAKE_CUDA_COMPILER skipped CMake's check, and the next install's configure failed.
  const nvcc = '/opt/cuda-13/bin/nvcc';
  const rejected = (path) => `${cacheOf('auto')}SOTR_BUILT_WITH_CUDA:INTERNAL=OFF\nSOTR_NVCC_REJECTED:INTERNAL=${path}\n`;
  assert.equal(buildPlan({}, rejected(nvcc), nvcc).reconfigure, []);
  assert.equal(buildPlan({}, rejected(nvcc), nvcc).defines, []);
  assert.equal(buildPlan({}, rejected('/usr/bin/nvcc'), nvcc).defines, [`--CDCMAKE_CUDA_COMPILER=${nvcc}`]);
  assert.equal(buildPlan({}, rejected(''), nvcc).defines, [`--CDCMAKE_CUDA_COMPILER=${nvcc}`]);
});

test('nvccPath: CUDACXX when it is a file (not a folder), else the first nvcc on PATH', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sotr-nvcc-'));
  try {
    const nvcc = path.join(dir, 'nvcc');
    writeFileSync(nvcc, '');
    assert.is(nvccPath({ CUDACXX: nvcc, PATH: '' }), nvcc);
    assert.is(nvccPath({ PATH: `/nonexistent${path.delimiter}${dir}` }), nvcc);
    assert.is.not(nvccPath({ CUDACXX: dir, PATH: '' }), dir, 'a folder is not a compiler');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// A package folder whose cmake-js only writes down how it was called.
function withFakeCmakeJs(cacheText, fn) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sotr-install-'));
  try {
    cpSync(path.join(root, 'scripts', 'install.js'), path.join(dir, 'scripts', 'install.js'));
    mkdirSync(path.join(dir, 'node_modules', 'cmake-js', 'bin'), { recursive: true });
    writeFileSync(
      path.join(dir, 'node_modules', 'cmake-js', 'bin', 'cmake-js'),
      "require('fs').appendFileSync(process.env.FAKE_CMAKE_JS_LOG, JSON.stringify(process.argv.slice(2)) + '\\n');",
    );
    if (cacheText !== undefined) {
      mkdirSync(path.join(dir, 'build'));
      writeFileSync(path.join(dir, 'build', 'CMakeCache.txt'), cacheText);
    }
    const logFile = path.join(dir, 'cmake-js.log');
    const run = (vars) => {
      const env = { ...process.env, FAKE_CMAKE_JS_LOG: logFile, CMAKE_BUILD_PARALLEL_LEVEL: '2', ...vars };
      for (const k of ['SOTR_CUDA', 'SOTR_CUDA_ARCHS']) if (!(k in vars)) delete env[k];
      rmSync(logFile, { force: true });
      const r = spawnSync(process.execPath, [path.join(dir, 'scripts', 'install.js'), '--from-source'], { encoding: 'utf8', env });
      const calls = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l)) : [];
      return { ...r, calls };
    };
    fn(run);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('install: an unchanged or absent setting builds build/ as it is; the log shows the setting it keeps', () => {
  withFakeCmakeJs(cacheOf('off'), (run) => {
    const r = run({});
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, /building the native addon from source \(SOTR_CUDA=off kept from build\/CMakeCache\.txt, 2 jobs\)/);
    assert.not.match(r.stderr, /SOTR_CUDA=auto/);
    assert.not.match(r.stderr, /re-configuring/);
    assert.equal(r.calls, [['compile', '--out', 'build']]);
    const same = run({ SOTR_CUDA: 'OFF' });
    assert.equal(same.calls, [['compile', '--out', 'build', '--CDSOTR_CUDA=OFF']]);
  });
  // A fresh checkout (CI): no build/, no variable: auto, one compile (which configures).
  withFakeCmakeJs(undefined, (run) => {
    const r = run({});
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, /\(SOTR_CUDA=auto, the default, 2 jobs\)/);
    assert.equal(r.calls, [['compile', '--out', 'build']]);
  });
});

test('install: SOTR_CUDA / SOTR_CUDA_ARCHS other than build/ holds re-configure build/ first, and say so', () => {
  withFakeCmakeJs(cacheOf('off'), (run) => {
    const r = run({ SOTR_CUDA: 'on', SOTR_CUDA_ARCHS: '90-real' });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, /\(SOTR_CUDA=on, SOTR_CUDA_ARCHS=90-real, 2 jobs\)/);
    assert.match(r.stderr, /build\/ was configured otherwise \(SOTR_CUDA off → on, SOTR_CUDA_ARCHS \(the shipped list\) → 90-real\): re-configuring it/);
    const d = ['--CDSOTR_CUDA=on', '--CDSOTR_CUDA_ARCHS=90-real'];
    assert.equal(r.calls, [['configure', '--out', 'build', ...d, '--generator', 'Ninja'], ['compile', '--out', 'build', ...d]]);
  });
});

test('install: a mistyped SOTR_CUDA stops before any build, naming the variable, the value and the choices', () => {
  withFakeCmakeJs(undefined, (run) => {
    for (const v of ['onn', 'yess']) {
      const r = run({ SOTR_CUDA: v });
      assert.is(r.status, 1);
      assert.match(r.stderr, new RegExp(`SOTR_CUDA="${v}" is not a valid value: use auto, on or off \\(ON/OFF, TRUE/FALSE, YES/NO and 1/0`));
      assert.not.match(r.stderr, /building the native addon/);
      assert.equal(r.calls, []);
    }
  });
});

test.run();
