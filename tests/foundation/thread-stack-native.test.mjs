// The CPU op cases of the Node-free native op test (build/sotr_test_ops) on threads with musl's default stack,
// 128 KiB: the calling thread and the pool's workers (--stack-kib). Our own threads get at least 2 MiB whatever the
// libc (native/runtime/native_thread.h; tests/native/test_thread_pool.cpp checks that); this keeps the kernels'
// stack use well below it (about 33 KiB measured, the AVX-512 GEMM's), so that a large array on the stack or a
// recursion shows here, on glibc, and not as a crash on Alpine. A kernel that outgrows 128 KiB ends the binary with
// SIGSEGV. The benchmark-shape cases are skipped (12 s more): the kernels' frames have fixed sizes and nothing
// recurses, so a larger shape needs no more stack.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'build', 'sotr_test_ops');

test('native op test with 128 KiB thread stacks: every CPU case passes, nothing overflows', () => {
  assert.ok(existsSync(bin), `${bin} not built (run npm install / cmake-js compile)`);
  const r = spawnSync(bin, ['--no-time', '--skip-timed', '--backend', 'cpu', '--stack-kib', '128'], { encoding: 'utf8', timeout: 120_000 });
  const tail = `${r.stdout.split('\n').filter((l) => !/^\s+ok /.test(l)).join('\n')}\n${r.stderr}`;
  assert.is(r.signal, null, `killed by ${r.signal}${r.signal === 'SIGSEGV' ? ' (a stack overflow?)' : ''}:\n${tail}`);
  assert.ok(/^thread stacks: 128 KiB/m.test(r.stdout), tail);
  const m = /(\d+) passed, (\d+) failed/.exec(r.stdout);
  assert.ok(m && Number(m[1]) >= 300, `no summary or too few cases:\n${tail}`);
  assert.is(Number(m[2]), 0, tail);
  assert.is(r.status, 0, tail);
});

test.run();
