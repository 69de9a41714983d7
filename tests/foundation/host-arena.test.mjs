// The CPU backend's host arena (native/runtime/host_arena.h) in the Node-free native test build/sotr_test_host_arena
// (tests/native/test_host_arena.cpp): first fit, splitting and merging, growth from the top, trim, a full arena,
// random churn (no overlap, contents kept, the high-water mark near the live peak); then, through the addon, that
// freed host blocks are reused and that releaseCached gives them back.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { assertNativeChecks } from '../helpers/native_checks.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const { Tensor, memoryInfo, releaseCached } = createRequire(import.meta.url)(path.join(root, 'dist', 'index.js'));

test('native host arena test: every check passes', () => assertNativeChecks('sotr_test_host_arena', 30));

const arenaOff = process.env.SOTR_CPU_ARENA === '0'; // the whole-block cache: no splitting or merging

(arenaOff ? test.skip : test)('freed host blocks of other sizes are split and merged for reuse; releaseCached empties the cache', async () => {
  await releaseCached('cpu');
  const base = memoryInfo('cpu');
  // Two 4 MiB blocks freed side by side serve one 8 MiB block, then four 2 MiB blocks, with no new memory
  // (cachedBytes counts the free bytes that may be resident).
  const a = Tensor.zeros([1 << 20]);
  const b = Tensor.zeros([1 << 20]);
  a.dispose();
  b.dispose();
  const freed = memoryInfo('cpu').cachedBytes;
  assert.ok(freed >= base.cachedBytes + 8 * 2 ** 20, `${freed}`);
  const c = Tensor.zeros([2 << 20]);
  assert.is(memoryInfo('cpu').cachedBytes, freed - 8 * 2 ** 20, 'the 8 MiB block came from the freed pair');
  c.dispose();
  const quarters = [0, 1, 2, 3].map(() => Tensor.from(new Float32Array(1 << 19).fill(3), [1 << 19]));
  assert.is(memoryInfo('cpu').cachedBytes, freed - 8 * 2 ** 20);
  assert.equal((await quarters[3].data())[12345], 3);
  for (const q of quarters) q.dispose();
  await releaseCached('cpu');
  assert.is(memoryInfo('cpu').cachedBytes, 0);
  assert.is(memoryInfo('cpu').liveBytes, base.liveBytes);
});

test.run();
