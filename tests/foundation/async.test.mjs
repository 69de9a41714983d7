import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { firstMessages } from '../helpers/workers.mjs';
import { Tensor, matmul, AbortError } from '../../dist/index.js';

const rand = (n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);

test('the event loop stays responsive during a long CPU op', async () => {
  const n = 1536;
  const a = Tensor.from(rand(n * n), [n, n]);
  const measure = async () => {
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    let ticks = 0;
    const iv = setInterval(() => ticks++, 5);
    const t0 = performance.now();
    // Rounds of three concurrent calls until the ops have run a while: a many-core
    // machine finishes one round in well under 100 ms.
    let ms = 0;
    for (let round = 0; round < 20 && ms <= 150; round++) {
      for (const o of await Promise.all([matmul(a, a), matmul(a, a), matmul(a, a)])) o.dispose();
      ms = performance.now() - t0;
    }
    clearInterval(iv);
    h.disable();
    return { ms, ticks, p99: h.percentile(99) / 1e6 };
  };
  // The best of up to three runs: a loaded machine that takes the CPU from this thread for a while delays one run
  // (p99 32 ms once, beside a CPU hog), whereas an op run on this thread would delay every run by its whole length.
  let m = await measure();
  for (let i = 1; i < 3 && m.p99 >= 20; i++) {
    const again = await measure();
    if (again.p99 < m.p99) m = again;
  }
  const { ms, ticks, p99 } = m;
  assert.ok(ms > 100, `the op should take a while (${ms.toFixed(0)} ms)`);
  assert.ok(p99 < 20, `event loop p99 delay ${p99.toFixed(1)} ms`);
  assert.ok(ticks > ms / 5 / 4, `timers kept firing (${ticks} ticks in ${ms.toFixed(0)} ms)`);
  a.dispose();
});

test('ops on one device complete in FIFO order', async () => {
  const a = Tensor.from(rand(512 * 512), [512, 512]);
  const small = Tensor.from(rand(4), [2, 2]);
  const order = [];
  const p1 = matmul(a, a).then((t) => (order.push('big'), t.dispose()));
  const p2 = matmul(small, small).then((t) => (order.push('small'), t.dispose()));
  await Promise.all([p1, p2]);
  assert.equal(order, ['big', 'small']);
});

test('an AbortSignal cancels queued work', async () => {
  const a = Tensor.from(rand(1024 * 1024), [1024, 1024]);
  const ac = new AbortController();
  const first = matmul(a, a);
  const second = matmul(a, a, { signal: ac.signal });
  ac.abort();
  const r = await Promise.allSettled([first, second]);
  assert.is(r[0].status, 'fulfilled');
  assert.is(r[1].status, 'rejected');
  assert.instance(r[1].reason, AbortError);
  assert.is(r[1].reason.code, 'SOTR_ABORTED');
  const ac2 = new AbortController();
  ac2.abort();
  await matmul(a, a, { signal: ac2.signal }).then(() => assert.unreachable(), (e) => assert.instance(e, AbortError));
  r[0].value.dispose();
  a.dispose();
});

test('worker_threads share the runtime and exit cleanly', async () => {
  const url = new URL('../../dist/index.js', import.meta.url).pathname;
  const code = `
    const { parentPort } = require('node:worker_threads');
    const s = require(${JSON.stringify(url)});
    (async () => {
      const a = s.Tensor.from(new Float32Array([1, 2, 3, 4]), [2, 2]);
      const c = await s.matmul(a, a);
      parentPort.postMessage(Array.from(await c.data()));
      // leave a job in flight on purpose: exit must not crash the process
      s.matmul(s.Tensor.from(new Float32Array(256 * 256), [256, 256]), s.Tensor.from(new Float32Array(256 * 256), [256, 256]));
    })();`;
  const results = await firstMessages(code, 3);
  for (const r of results) assert.equal(r, [7, 10, 15, 22]);
  // the main thread still works afterwards
  const a = Tensor.from(new Float32Array([1, 2, 3, 4]), [2, 2]);
  assert.equal([...(await (await matmul(a, a)).data())], [7, 10, 15, 22]);
});

test.run();
