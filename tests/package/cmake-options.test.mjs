// CMakeLists.txt's SOTR_CUDA for direct cmake users (configure only, CPU: about a second each): auto and CMake's
// obvious booleans in any case, cached as auto|on|off; any other value stops the configure with a message naming
// the variable, the value and the choices (it used to build CPU-only and cache the typo).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const haveCmake = spawnSync('cmake', ['--version']).status === 0;

function cmake(args, vars = {}) {
  const env = { ...process.env, ...vars };
  for (const k of ['SOTR_CUDA', 'SOTR_CUDA_ARCHS']) if (!(k in vars)) delete env[k];
  const r = spawnSync('cmake', args, { encoding: 'utf8', env });
  return { status: r.status, out: r.stdout + r.stderr };
}
const cached = (dir, name) => new RegExp(`^${name}:[A-Z]+=(.*)$`, 'm').exec(readFileSync(path.join(dir, 'CMakeCache.txt'), 'utf8'))?.[1];
const refused = (v) => new RegExp(`SOTR_CUDA="${v}" is not a valid value: use auto, on or off\\s+\\(ON/OFF,\\s+TRUE/FALSE,\\s+YES/NO`);

if (!haveCmake) {
  test.skip('cmake options (no cmake on this machine)', () => {});
} else {
  test('a mistyped SOTR_CUDA stops the configure, from -D or the environment, until a valid value replaces it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sotr-cmake-'));
    try {
      let r = cmake(['-S', root, '-B', dir, '-DSOTR_CUDA=onn']);
      assert.is.not(r.status, 0);
      assert.match(r.out, refused('onn'));
      // The typo stays in the cache: a configure without a value says so again, instead of building something.
      r = cmake([dir]);
      assert.is.not(r.status, 0);
      assert.match(r.out, refused('onn'));
      r = cmake([dir], { SOTR_CUDA: 'yess' });
      assert.is.not(r.status, 0);
      assert.match(r.out, refused('yess'));
      r = cmake([dir], { SOTR_CUDA: 'No' });
      assert.is(r.status, 0, r.out);
      assert.is(cached(dir, 'SOTR_CUDA'), 'off');
      assert.not.match(r.out, /sotr: CUDA/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('CMake booleans for SOTR_CUDA are cached as on/off and kept by a configure without a value', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sotr-cmake-'));
    try {
      let r = cmake(['-S', root, '-B', dir, '-DSOTR_CUDA=FALSE']);
      assert.is(r.status, 0, r.out);
      assert.is(cached(dir, 'SOTR_CUDA'), 'off');
      assert.is(cached(dir, 'SOTR_BUILT_WITH_CUDA'), 'OFF', 'what scripts/install.js reads to see a CPU-only build/');
      assert.not.match(r.out, /sotr: CUDA/);
      r = cmake([dir]);
      assert.is(r.status, 0, r.out);
      assert.is(cached(dir, 'SOTR_CUDA'), 'off');
      r = cmake(['-DSOTR_CUDA=0', dir]);
      assert.is(r.status, 0, r.out);
      assert.is(cached(dir, 'SOTR_CUDA'), 'off');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
