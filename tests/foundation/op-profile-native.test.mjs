// The op profiler's device-timestamp path (CUDA events in production) with a fake timer, in the Node-free
// native test build/sotr_test_op_profiler (tests/native/test_op_profiler.cpp): resolution order, idle gaps, the
// lazy resolve every 1024 pending ops, pool exhaustion, every timestamp released, filters, threads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'sotr_test_op_profiler');

test('native op profiler test (fake device timer): every check passes', () => {
  assert.ok(existsSync(bin), `${bin} not built (run npm install / cmake-js compile)`);
  const r = spawnSync(bin, { encoding: 'utf8', timeout: 60_000 });
  const m = /(\d+) checks, (\d+) failures/.exec(r.stdout);
  assert.ok(m, `no summary: ${r.stdout}\n${r.stderr}`);
  assert.ok(Number(m[1]) >= 30, `${m[1]} checks`);
  assert.is(Number(m[2]), 0, r.stdout);
  assert.is(r.status, 0);
});

test.run();
