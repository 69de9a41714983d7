// SOTR_CUDA_ALLOCATOR=async (the driver's stream-ordered pool, opt-in): ops give the same results as with the
// default cache, and live bytes return to where they were. The variable is read when the CUDA device is first
// used, so each mode runs in a child process. Registers only where CUDA is available.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { backendInfo } from '../../dist/index.js';

const child = `
const { Tensor, matmul, conv2d, memoryInfo, synchronize, releaseCached } = require(${JSON.stringify(new URL('../../dist/index.js', import.meta.url).pathname)});
(async () => {
  const rand = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s) * 0.5);
  await synchronize('cuda:0');
  const live0 = memoryInfo('cuda:0').liveBytes;
  const sums = [];
  for (let k = 0; k < 3; k++) {
    const a = Tensor.from(rand(300 * 200, k), [300, 200], { device: 'cuda:0' });
    const x = Tensor.from(rand(2 * 16 * 23 * 31, k), [2, 16, 23, 31], { device: 'cuda:0' });
    const w = Tensor.from(rand(24 * 16 * 9, k + 1), [24, 16, 3, 3], { device: 'cuda:0' });
    const b = Tensor.from(rand(200 * 150, k + 2), [200, 150], { device: 'cuda:0' });
    const m = await matmul(a, b);
    const y = await conv2d(x, w, { padding: 1 });
    const d = await y.data();
    sums.push(d.reduce((s, v) => s + v, 0), (await m.data()).reduce((s, v) => s + v, 0));
    for (const t of [a, b, x, w, y, m]) t.dispose();
  }
  await synchronize('cuda:0');
  const live1 = memoryInfo('cuda:0').liveBytes;
  await releaseCached('cuda:0');
  console.log(JSON.stringify({ sums, live0, live1, cached: memoryInfo('cuda:0').cachedBytes }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

const run = (env) =>
  JSON.parse(execFileSync(process.execPath, ['-e', child], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim().split('\n').pop());

if (backendInfo().cuda.available) {
  test('SOTR_CUDA_ALLOCATOR=async: same results as the default cache; live bytes return', () => {
    const plain = run({ SOTR_CUDA_ALLOCATOR: '' });
    const pool = run({ SOTR_CUDA_ALLOCATOR: 'async' });
    assert.equal(pool.sums, plain.sums, 'the same outputs');
    assert.is(pool.live1, pool.live0, 'every block freed');
    assert.is(plain.live1, plain.live0);
  });
} else {
  test.skip('SOTR_CUDA_ALLOCATOR=async (CUDA only)', () => {});
}

test.run();
