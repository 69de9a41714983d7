import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backendInfo, resolveDevice, DeviceUnavailableError, setNumThreads, listOps, memoryInfo, resetPeakMemory, releaseCached, synchronize } from '../../dist/index.js';

const entry = new URL('../../dist/index.js', import.meta.url).pathname;
const inChild = (code, env = {}) =>
  execFileSync(process.execPath, ['-e', code], { env: { ...process.env, ...env }, encoding: 'utf8' });

test('backendInfo reports build, CPU and CUDA and never throws', () => {
  const info = backendInfo();
  assert.ok(info.build.loaded);
  assert.match(info.build.version, /^\d+\.\d+\.\d+/);
  assert.type(info.build.commit, 'string');
  assert.is(info.build.version, JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
  // Built from this checkout: the commit is written at build time (scripts/build_info.cmake), so it is HEAD, or an
  // ancestor of it when commits were made since the last build (never a value fixed when CMake first configured).
  const git = (...args) => execFileSync('git', args, { cwd: new URL('../..', import.meta.url), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  let inGit = false;
  try {
    inGit = git('rev-parse', '--is-inside-work-tree') === 'true';
  } catch {
    // not a git checkout (an unpacked package): nothing to compare
  }
  if (inGit && !process.env.SOTR_NATIVE_PATH) {
    assert.match(info.build.commit, /^[0-9a-f]{12}$/);
    let ancestor = true;
    try {
      git('merge-base', '--is-ancestor', info.build.commit, 'HEAD');
    } catch {
      ancestor = false;
    }
    assert.ok(ancestor, `the addon's commit ${info.build.commit} is not HEAD or an ancestor of it`);
  }
  assert.ok(info.build.simdVariants.includes('scalar'));
  assert.ok(info.cpu.threads >= 1);
  assert.ok(['scalar', 'avx2', 'avx512'].includes(info.cpu.simd));
  assert.type(info.cuda.compiled, 'boolean');
  assert.type(info.cuda.available, 'boolean');
  if (!info.cuda.available) assert.type(info.cuda.reason, 'string');
  assert.ok(Array.isArray(info.cuda.devices));
  assert.type(info.defaultDevice.device, 'string');
});

test("'auto' falls back quietly; explicit 'cuda' throws DeviceUnavailableError when unusable", () => {
  const info = backendInfo();
  const r = resolveDevice('auto');
  if (info.cuda.available) {
    assert.is(r.device, 'cuda:0');
  } else {
    assert.is(r.device, 'cpu');
    assert.type(r.fallbackReason, 'string');
    assert.throws(() => resolveDevice('cuda'), (e) => e instanceof DeviceUnavailableError && e.code === 'SOTR_DEVICE_UNAVAILABLE' && e.reason.length > 0);
    assert.throws(() => resolveDevice("cuda:3"), (e) => e instanceof DeviceUnavailableError);
  }
});

test("the memory and queue helpers on an unusable 'cuda' throw DeviceUnavailableError too (were a plain Error)", async () => {
  if (backendInfo().cuda.available) return;
  const typed = (e) => e instanceof DeviceUnavailableError && e.code === 'SOTR_DEVICE_UNAVAILABLE';
  assert.throws(() => memoryInfo('cuda'), typed);
  assert.throws(() => memoryInfo('cuda:0'), typed);
  assert.throws(() => resetPeakMemory('cuda'), typed);
  // The message names the device asked for (was always 'cuda').
  assert.throws(() => memoryInfo('cuda:3'), (e) => typed(e) && /^device 'cuda:3' is not available/.test(e.message));
  for (const f of [releaseCached, synchronize]) {
    try {
      await f('cuda:2');
      assert.unreachable(`${f.name} accepted 'cuda:2'`);
    } catch (e) {
      assert.ok(typed(e) && /^device 'cuda:2'/.test(e.message), `${f.name}: ${e}`);
    }
  }
  assert.is(resolveDevice('cpu').device, 'cpu');
  assert.throws(() => resolveDevice("gpu"), (e) => e instanceof RangeError);
});

test('SOTR_DEVICE wins over code and backendInfo says so', () => {
  const out = inChild(
    `const s=require(${JSON.stringify(entry)});const r=s.resolveDevice('auto');const i=s.backendInfo();console.log(JSON.stringify([r,i.defaultDevice]))`,
    { SOTR_DEVICE: 'cpu' },
  );
  const [r, d] = JSON.parse(out);
  assert.is(r.device, 'cpu');
  assert.ok(r.fromEnvironment);
  assert.ok(d.fromEnvironment);
  assert.is(d.environment, 'cpu');
  // An invalid value: backendInfo (which never throws) says what every resolving call will throw.
  const bad = JSON.parse(inChild(`const s=require(${JSON.stringify(entry)});console.log(JSON.stringify(s.backendInfo().defaultDevice))`, { SOTR_DEVICE: 'gpu' }));
  assert.is(bad.environment, 'gpu');
  assert.match(bad.reason, /SOTR_DEVICE='gpu' is not a device/);
});

test('SOTR_NUM_THREADS and setNumThreads control CPU threads', () => {
  const out = inChild(`const s=require(${JSON.stringify(entry)});const i=s.backendInfo();console.log(i.cpu.threads, i.threadsFrom)`, {
    SOTR_NUM_THREADS: '1',
  });
  assert.is(out.trim(), '1 SOTR_NUM_THREADS');
  // A value the pool ignores is not reported as the source.
  const ignored = inChild(`const s=require(${JSON.stringify(entry)});console.log(s.backendInfo().threadsFrom)`, { SOTR_NUM_THREADS: 'abc' });
  assert.is(ignored.trim(), 'cores');
  const n = setNumThreads(1);
  assert.is(n, 1);
  assert.is(backendInfo().threadsFrom, 'option');
  setNumThreads(0);
  assert.throws(() => setNumThreads(-1), (e) => e instanceof RangeError);
});

test('the addon loads with no CUDA driver present and lists its ops', () => {
  const ops = listOps();
  assert.ok(ops.some((o) => o.name === 'matmul'));
  const info = backendInfo();
  if (info.cuda.compiled) assert.ok(info.cuda.archs.length > 0);
});

test('a missing binary gives an error that lists the paths tried', () => {
  const out = inChild(
    `const s=require(${JSON.stringify(entry)});const i=s.backendInfo();console.log(JSON.stringify(i.build));try{s.Tensor.from(new Float32Array(1),[1])}catch(e){console.log(e.code);console.log(e.message)}`,
    { SOTR_NATIVE_PATH: '/nonexistent/sotr.node' },
  );
  assert.match(out, /"loaded":false/);
  assert.match(out, /SOTR_NATIVE_LOAD/);
  assert.match(out, /\/nonexistent\/sotr\.node \(not found\)/);
  assert.match(out, /To fix/);
});

test('an addon built for another native interface (a stale build) is refused with the reason and the fix', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sotr-stale-'));
  try {
    // A stand-in for an old build: require() loads a .js file at SOTR_NATIVE_PATH like a .node one.
    const stale = path.join(dir, 'stale.js');
    writeFileSync(stale, 'module.exports = { interfaceVersion: 1 };');
    const out = inChild(
      `const s=require(${JSON.stringify(entry)});try{s.Tensor.from(new Float32Array(1),[1])}catch(e){console.log(e.code);console.log(e.message)}`,
      { SOTR_NATIVE_PATH: stale },
    );
    assert.match(out, /SOTR_NATIVE_LOAD/);
    assert.match(out, /built for native interface 1, this JavaScript needs \d+: a stale build; rebuild it/);
    assert.match(out, /npm run build:native/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const addonFile = process.env.SOTR_NATIVE_PATH || new URL('../../build/Release/sotr.node', import.meta.url).pathname;
// readelf reads the addon without loading it, so these checks also work on a cross-built addon
// (scripts/arm64-check.sh), where ldd says "not a dynamic executable". null where binutils are missing.
const readelf = (what) => {
  try {
    return execFileSync('readelf', [what, '-W', addonFile], { encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch (e) {
    if (e.code === 'ENOENT') return null;
    throw e;
  }
};

test('the addon links no CUDA driver, cudart, cuBLAS or cuDNN library', () => {
  if (process.platform !== 'linux') return;
  // readelf -d: the libraries the addon itself names (NEEDED).
  let out = readelf('-d');
  if (out !== null) assert.match(out, /\(NEEDED\)/, 'readelf lists the needed libraries');
  else out = execFileSync('ldd', [addonFile], { encoding: 'utf8' });
  assert.not.match(out, /libcuda|libcudart|libcublas|libcudnn/);
});

test('the addon needs glibc 2.34 at most and no C++ runtime (the prebuild must load on Ubuntu 22.04, RHEL 9)', () => {
  if (process.platform !== 'linux') return;
  const syms = readelf('--dyn-syms');
  const dyn = readelf('-d');
  if (syms === null || dyn === null) return; // no binutils
  if (!/GLIBC_/.test(syms)) return; // musl and other C libraries: nothing to compare
  const newer = [...syms.matchAll(/(\S+)@GLIBC_(\d+)\.(\d+)/g)]
    .filter((m) => Number(m[2]) > 2 || (Number(m[2]) === 2 && Number(m[3]) > 34))
    .map((m) => m[0]);
  assert.equal(newer, [], `symbols newer than glibc 2.34: ${newer.join(', ')} (native/runtime/glibc_compat.cpp)`);
  const needed = [...dyn.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  assert.not.ok(needed.some((n) => /libstdc\+\+/.test(n)), `libstdc++ is linked statically; needed: ${needed.join(', ')}`);
});

test("'auto' falling back gives CUDA's own reason (backendInfo().cuda.reason) as fallbackReason", () => {
  const info = backendInfo();
  if (process.env.SOTR_DEVICE || (info.cuda.available && info.cuda.devices.length > 0)) return;
  assert.type(info.cuda.reason, 'string');
  assert.is(resolveDevice('auto').fallbackReason, info.cuda.reason);
});

test.run();
