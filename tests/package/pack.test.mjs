// The published package: `npm pack` of a staging copy whose prebuilds/linux-x64/ holds this checkout's addon
// (build/Release/sotr.node: no second compile), checked for what it holds and its size, then installed into an
// empty folder with compilers hidden from PATH (dependencies from the local npm cache where it can serve them: see
// the install test), and used from CommonJS, ESM and the `sotr` command. Also: the error when no binary loads, and that the
// packed sources configure for the build-from-source fallback.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const addon = path.join(root, 'build', 'Release', 'sotr.node');
const plat = `${process.platform}-${process.arch}`;
const tmp = mkdtempSync(path.join(tmpdir(), 'sotr-pack-'));
const MB = 1e6;

/** npm's own script, run with this node (so PATH need not hold npm). */
function npmCli() {
  const fromEnv = process.env.npm_execpath;
  if (fromEnv && /npm-cli\.js$/.test(fromEnv)) return fromEnv;
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const p = path.join(dir, 'npm');
    if (!existsSync(p)) continue;
    const real = realpathSync(p);
    if (real.endsWith('.js')) return real;
    const guess = path.join(path.dirname(real), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
    if (existsSync(guess)) return guess;
  }
  throw new Error('npm not found');
}
const NPM = npmCli();

// The child environment: no npm_* variables from an outer `npm test`, and a PATH with node (and sh) only.
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
const cache = spawnSync(process.execPath, [NPM, 'config', 'get', 'cache'], { encoding: 'utf8', env: cleanEnv }).stdout.trim();
const bin = path.join(tmp, 'bin');
mkdirSync(bin);
symlinkSync(process.execPath, path.join(bin, 'node'));
symlinkSync('/bin/sh', path.join(bin, 'sh'));
const bareEnv = { ...cleanEnv, PATH: bin, npm_config_cache: cache, npm_config_update_notifier: 'false', CC: '/nonexistent/cc', CXX: '/nonexistent/c++' };

const npm = (args, cwd, env = cleanEnv) => spawnSync(process.execPath, [NPM, ...args], { cwd, env, encoding: 'utf8' });

let pack; // npm pack --json result
let tarball;
let consumer;

test('npm pack: the tarball holds what it needs and nothing else, under 20 MB', () => {
  assert.ok(existsSync(addon), `${addon} missing: run npm install first`);
  // Staging copy: the files npm would publish from this checkout, and the addon as the linux-x64 prebuild.
  const list = npm(['pack', '--dry-run', '--json', '--ignore-scripts'], root);
  assert.is(list.status, 0, list.stderr);
  const stage = path.join(tmp, 'stage');
  for (const f of JSON.parse(list.stdout)[0].files) {
    if (f.path.startsWith('prebuilds/')) continue;
    mkdirSync(path.dirname(path.join(stage, f.path)), { recursive: true });
    cpSync(path.join(root, f.path), path.join(stage, f.path));
  }
  mkdirSync(path.join(stage, 'prebuilds', plat), { recursive: true });
  cpSync(addon, path.join(stage, 'prebuilds', plat, 'sotr-node.node'));
  const r = npm(['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], stage);
  assert.is(r.status, 0, r.stderr);
  pack = JSON.parse(r.stdout)[0];
  tarball = path.join(tmp, pack.filename);
  const files = pack.files.map((f) => f.path);
  for (const need of [
    'package.json',
    'README.md',
    'dist/index.js',
    'dist/index.mjs',
    'dist/index.d.mts',
    'dist/index.d.ts',
    'dist/cli/main.js',
    'dist/cli/worker.js',
    `prebuilds/${plat}/sotr-node.node`,
    'scripts/install.js',
    'scripts/build_info.cmake',
    'CMakeLists.txt',
    'bindings/addon.cc',
    'LICENSE',
    'examples/images/street.jpg',
  ]) {
    assert.ok(files.includes(need), `the tarball lacks ${need}`);
  }
  assert.ok(files.some((f) => /^native\/.*\.cpp$/.test(f)), 'native sources for the source-build fallback');
  // The README's relative links (docs, results, plots) and the example scripts it names resolve in the package.
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const linked = [...readme.matchAll(/\]\(((?:docs|benchmarks|examples)\/[^)#\s]+)\)/g)].map((m) => m[1]);
  const named = [...readme.matchAll(/`(examples\/[\w-]+\.mjs)`/g)].map((m) => m[1]).filter((f) => f !== 'examples/make-images.mjs');
  assert.ok(linked.length >= 8 && named.length >= 3, `${linked.length} links, ${named.length} example scripts`);
  for (const f of [...linked, ...named]) assert.ok(files.includes(f), `the README links ${f}, which the tarball lacks`);
  const unwanted = files.filter(
    (f) =>
      /^(build|build-[^/]*|tests|ts|\.ci|\.github|gpu-build|gpu-out|out|node_modules|\.git)\//.test(f) ||
      // The README's links work in node_modules: the docs, the benchmark results and plots (not the benchmarks).
      (/^benchmarks\//.test(f) && !/^benchmarks\/(RESULTS\.md|plots\/[^/]+\.svg)$/.test(f)) ||
      (/^docs\//.test(f) && !/^docs\/[^/]+\.md$/.test(f)) ||
      // The example images (the README's first run from a project: a few small files) and the three example
      // scripts the README names (they import 'sotr-node'), not the script that made the images.
      (/^examples\//.test(f) && !/^examples\/(images\/[^/]+\.(jpg|png|md)|(cutout|http-server|segment-and-export)\.mjs)$/.test(f)) ||
      /^scripts\/(?!install\.js$|build_info\.cmake$)/.test(f) ||
      /\.(pth|safetensors|tgz|log|map|o|a)$/.test(f) ||
      /\.test\.m?js$/.test(f) ||
      (/\.node$/.test(f) && f !== `prebuilds/${plat}/sotr-node.node`),
  );
  assert.equal(unwanted, [], 'nothing the package does not need');
  assert.ok(pack.size < 20 * MB, `tarball ${pack.size} bytes`);
  console.log(`  tarball: ${(pack.size / MB).toFixed(2)} MB packed, ${(pack.unpackedSize / MB).toFixed(2)} MB unpacked, ${pack.entryCount} files`);
});

test('install into an empty folder with no compilers on PATH uses the prebuild', () => {
  consumer = path.join(tmp, 'consumer');
  mkdirSync(consumer);
  writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  for (const tool of ['cc', 'gcc', 'c++', 'g++', 'clang', 'cmake', 'make', 'ninja', 'nvcc']) {
    assert.is(spawnSync('sh', ['-c', `command -v ${tool}`], { env: bareEnv }).status === 0, false, `${tool} is hidden`);
  }
  const t0 = Date.now();
  const install = (mode) => npm(['install', mode, '--no-audit', '--no-fund', '--foreground-scripts', tarball], consumer, bareEnv);
  // Offline first: the dependencies from the cache that this checkout's `npm install` filled. npm 11.19 resolves a
  // tarball's dependencies from full registry documents, which a lockfile install does not cache (ENOTCACHED on a
  // fresh machine): then the same install may ask the registry for those documents. Our install script itself never
  // downloads: it finds the prebuild (asserted below) with no compiler on PATH.
  let r = install('--offline');
  let mode = 'offline';
  if (r.status !== 0 && /ENOTCACHED/.test(r.stdout + r.stderr)) {
    r = install('--prefer-offline');
    mode = 'prefer-offline: the cache lacked registry documents';
  }
  const s = (Date.now() - t0) / 1000;
  assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const log = r.stdout + r.stderr;
  assert.not.match(log, /building the native addon from source/);
  // The install script, when npm runs it, says it found a prebuild that loads.
  if (/sotr-node: /.test(log)) assert.match(log, /sotr-node: using the prebuilt binary/);
  const pkgDir = path.join(consumer, 'node_modules', 'sotr-node');
  assert.ok(existsSync(path.join(pkgDir, 'prebuilds', plat, 'sotr-node.node')));
  assert.not.ok(existsSync(path.join(pkgDir, 'build')), 'nothing was built');
  console.log(`  install (${mode}): ${s.toFixed(1)} s (install script ${/sotr-node: /.test(log) ? 'ran' : 'not run by npm'})`);
});

const hasModel = typeof (await import('../../dist/index.js')).Sotr === 'function';
const infer = () =>
  hasModel
    ? `const sd = randomSotrCheckpoint({ preset: 'tiny', seed: 1 });
       const model = await Sotr.load(sd, { device: 'cpu', minSize: 256 });
       const p = await model.predict(${JSON.stringify(path.join(root, 'examples', 'images', 'table.jpg'))});
       await model.dispose();
       out.instances = p.instances.length; out.size = [p.width, p.height];`
    : `out.instances = -1;`;
const script = (kind) => {
  const head =
    kind === 'esm'
      ? `import { Tensor, matmul, backendInfo, Sotr, randomSotrCheckpoint } from 'sotr-node';`
      : `const { Tensor, matmul, backendInfo, Sotr, randomSotrCheckpoint } = require('sotr-node');`;
  return `${head}
    (async () => {
      const out = { resolved: ${kind === 'esm' ? `import.meta.resolve('sotr-node')` : `require.resolve('sotr-node')`} };
      const a = Tensor.from(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], { device: 'cpu' });
      const b = Tensor.from(new Float32Array([1, 0, 0, 1, 1, 1]), [3, 2], { device: 'cpu' });
      const c = await matmul(a, b);
      out.matmul = Array.from(await c.data());
      out.loaded = backendInfo().build.loaded;
      ${infer()}
      console.log(JSON.stringify(out));
    })().catch((e) => { console.error(e); process.exit(1); });`;
};

for (const kind of ['cjs', 'esm']) {
  test(`the installed package runs from ${kind === 'esm' ? 'ESM (import)' : 'CommonJS (require)'} on the CPU`, () => {
    const file = path.join(consumer, kind === 'esm' ? 'use.mjs' : 'use.cjs');
    writeFileSync(file, script(kind));
    const r = spawnSync(process.execPath, [file], { cwd: consumer, env: { ...bareEnv, SOTR_DEVICE: 'cpu' }, encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    assert.ok(out.resolved.includes(path.join('consumer', 'node_modules', 'sotr-node')), out.resolved);
    assert.ok(out.loaded);
    assert.equal(out.matmul, [4, 5, 10, 11]);
    if (hasModel) {
      assert.equal(out.size, [400, 300]);
      assert.ok(out.instances >= 0);
    }
  });
}

test('the installed `sotr` command: info and predict --model tiny', () => {
  const sotrBin = path.join(consumer, 'node_modules', '.bin', 'sotr');
  assert.ok(existsSync(sotrBin), 'bin linked');
  let r = spawnSync(sotrBin, ['info', '--json'], { cwd: consumer, env: bareEnv, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).build.loaded);
  if (!hasModel) return;
  const t0 = Date.now();
  r = spawnSync(sotrBin, ['predict', '--model', 'tiny', '--input', path.join(root, 'examples', 'images'), '--out', 'out/r.jsonl', '--min-size', '256', '--device', 'cpu'], {
    cwd: consumer,
    env: bareEnv,
    encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stderr);
  const lines = readFileSync(path.join(consumer, 'out', 'r.jsonl'), 'utf8').trim().split('\n');
  assert.is(lines.length, 4);
  const rate = /([\d.]+) images\/s/.exec(r.stderr)?.[1];
  console.log(`  installed CLI, tiny model, 4 images at short side 256: ${((Date.now() - t0) / 1000).toFixed(1)} s (${rate} images/s in the loop)`);
});

test('no binary that loads: the error lists every path tried and how to fix it', () => {
  const pkgDir = path.join(consumer, 'node_modules', 'sotr-node');
  const pre = path.join(pkgDir, 'prebuilds');
  renameSync(pre, pre + '.off');
  try {
    const code = `const s=require('sotr-node');const b=s.backendInfo().build;console.log(JSON.stringify(b));try{s.Tensor.from(new Float32Array(1),[1])}catch(e){console.log(JSON.stringify({name:e.name,code:e.code}))}`;
    const r = spawnSync(process.execPath, ['-e', code], { cwd: consumer, env: bareEnv, encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const [build, err] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.is(build.loaded, false);
    assert.match(build.loadError, /Tried:/);
    assert.ok(build.loadError.includes(path.join(pkgDir, 'build', 'Release', 'sotr.node')), build.loadError);
    assert.ok(build.loadError.includes(path.join(pkgDir, 'prebuilds', plat)), build.loadError);
    assert.match(build.loadError, /To fix/);
    assert.is(err.code, 'SOTR_NATIVE_LOAD');
    const cli = spawnSync(path.join(consumer, 'node_modules', '.bin', 'sotr'), ['info'], { cwd: consumer, env: bareEnv, encoding: 'utf8' });
    assert.is(cli.status, 1);
    assert.match(cli.stdout, /NOT LOADED[\s\S]*Tried:/);
  } finally {
    renameSync(pre + '.off', pre);
  }
});

test('the packed sources configure for the build-from-source fallback (CPU only)', () => {
  const src = path.join(tmp, 'src');
  mkdirSync(src);
  const r = spawnSync('tar', ['xzf', tarball, '-C', src], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const pkg = path.join(src, 'package');
  symlinkSync(path.join(consumer, 'node_modules'), path.join(pkg, 'node_modules'));
  const cmakeJs = path.join(pkg, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
  const c = spawnSync(process.execPath, [cmakeJs, 'configure', '--out', path.join(tmp, 'src-build')], {
    cwd: pkg,
    env: { ...cleanEnv, SOTR_CUDA: 'off' },
    encoding: 'utf8',
  });
  assert.is(c.status, 0, `cmake configure of the packed sources failed:\n${(c.stdout + c.stderr).split('\n').slice(-25).join('\n')}`);
});

test.after(() => {
  if (!process.env.SOTR_KEEP_TMP) rmSync(tmp, { recursive: true, force: true });
});

test.run();
