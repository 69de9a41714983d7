// The CLI's exit on a signal (ts/cli/exit_now.ts): past process.exit, which can hang under Node 24
// (nodejs/node#54918), but with the code asked for and nothing written lost.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { root } from './helpers/run.mjs';

const exitNowJs = path.join(root, 'dist', 'cli', 'exit_now.js');

function child(body) {
  return spawnSync(process.execPath, ['-e', `const { exitNow } = require(${JSON.stringify(exitNowJs)}); ${body}`], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
}

test('exitNow ends the process with the code given; exit listeners do not run on Linux', () => {
  const r = child(`process.on('exit', () => process.stderr.write('exit listener ran\\n')); exitNow(130);`);
  assert.is(r.status, 130, r.stderr);
  assert.is(r.signal, null);
  if (process.platform === 'linux') assert.is(r.stderr, '');
});

test('exitNow waits for a full pipe to drain (process.exit drops the rest): 4 MB on stdout and a line on stderr arrive whole', () => {
  const r = child(`process.stdout.write('x'.repeat(4 << 20)); process.stderr.write('sotr: interrupted\\n'); exitNow(3);`);
  assert.is(r.status, 3, r.stderr);
  assert.is(r.stdout.length, 4 << 20);
  assert.is(r.stderr, 'sotr: interrupted\n');
});

test('exitNow in a worker ends only the worker (process.exit there), not the process', () => {
  const r = child(`
    const { Worker } = require('node:worker_threads');
    const w = new Worker(\`require(\${JSON.stringify(${JSON.stringify(exitNowJs)})}).exitNow(5)\`, { eval: true });
    w.on('exit', (code) => { process.stdout.write('worker exited ' + code + '\\n'); });
  `);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, 'worker exited 5\n');
});

test.run();
