// scripts/install.js outside a git checkout, where no prebuild loads: on Windows it stops with a clear
// message instead of handing MSVC code it cannot compile (README "Installing").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = new URL('../..', import.meta.url).pathname;

test('on Windows without a prebuild the install script stops with the reason and what to do', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sotr-install-'));
  try {
    // A package folder with only the install script: no .git, no prebuilds, no node-gyp-build.
    cpSync(path.join(root, 'scripts', 'install.js'), path.join(dir, 'scripts', 'install.js'));
    const fake = "Object.defineProperty(process, 'platform', { value: 'win32' }); require(process.argv[1]);";
    const r = spawnSync(process.execPath, ['-e', fake, path.join(dir, 'scripts', 'install.js')], { encoding: 'utf8' });
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

test.run();
