// Inline runs of small CPU calls (native/runtime/inline_runs.h): a call whose
// last run with the same signature took at most the budget runs on the JS
// thread when the CPU queue is idle and nothing of this thread is in flight.
// The contract is the queue's: same results, FIFO order, AbortSignal only
// cancels work not started, typed errors as rejections, memory freed on settle.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { Tensor, matmul, add, runOp, memoryInfo, AbortError, SotrRangeError, ShapeError } from '../../dist/index.js';
import { native } from '../../dist/native.js';
import { setInlineMsPerTurn } from '../../dist/inline_turn.js';
import { firstMessages } from '../helpers/workers.mjs';

const entry = new URL('../../dist/index.js', import.meta.url).pathname;
const rand = (n, k = 1) => Float32Array.from({ length: n }, (_, i) => Math.sin((i + 1) * 12.9898 * k) * 0.5);
const info = (budgetUs) => native()._inlineRunInfo(budgetUs);
const runs = () => info().inlineRuns;
const budget = info().budgetUs;

// The budgets are generous here so a busy test machine (a preempted kernel,
// a GC pause) does not send these tiny calls back to the queue; the defaults
// are restored after each test.
const GENEROUS = 5000;
// Long work that is sure to go through the queue: a signature never seen
// before (a new row count each time), [n, 512] x [512, n] (~0.4 GFLOP).
let fresh = 640;
const slowCall = () => {
  const n = fresh++;
  const a = Tensor.from(new Float32Array(n * 512).fill(0.25), [n, 512]);
  return matmul(a, a, { transB: true }).finally(() => a.dispose());
};
const withBudget = (us, fn, msPerTurn = 60_000) => async () => {
  info(us);
  const turn = setInlineMsPerTurn(msPerTurn);
  try {
    await fn();
  } finally {
    info(budget);
    setInlineMsPerTurn(turn);
  }
};

test('the default budget is 30 us; SOTR_INLINE_US sets it, 0 turns inline runs off (results unchanged)', () => {
  assert.is(budget, 30);
  const code = `
    const { Tensor, matmul } = await import(${JSON.stringify(entry)});
    const { native } = await import(${JSON.stringify(entry.replace(/index\.js$/, 'native.js'))});
    const a = Tensor.from(new Float32Array(12).map((_, i) => i / 7), [3, 4]);
    const out = [];
    for (let i = 0; i < 5; i++) out.push(Array.from(await (await matmul(a, a, { transB: true })).data()));
    console.log(JSON.stringify({ ...native()._inlineRunInfo(), same: out.every((o) => o.join() === out[0].join()), v: out[0][4] }));
  `;
  const run = (us) =>
    JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, SOTR_INLINE_US: us }, encoding: 'utf8' }));
  const off = run('0');
  assert.is(off.budgetUs, 0);
  assert.is(off.inlineRuns, 0);
  const on = run('100000');
  assert.is(on.budgetUs, 100000);
  assert.ok(on.inlineRuns >= 8, `matmuls after the first and the reads ran inline (${on.inlineRuns})`);
  assert.ok(off.same && on.same);
  assert.is(on.v, off.v);
});

test(
  "a small call's first run is queued (measured), later ones run inline with the same results",
  withBudget(GENEROUS, async () => {
    const a = Tensor.from(rand(5 * 7), [5, 7]);
    const b = Tensor.from(rand(7 * 3, 2), [7, 3]);
    const r0 = runs();
    const first = await matmul(a, b);
    assert.is(runs(), r0, 'a new signature goes through the queue');
    const later = [];
    for (let i = 0; i < 5; i++) later.push(await matmul(a, b));
    assert.is(runs(), r0 + 5, 'later calls inline');
    const ref = Array.from(await first.data());
    for (const t of later) assert.equal(Array.from(await t.data()), ref);
    info(0);
    const queued = await matmul(a, b);
    assert.equal(Array.from(await queued.data()), ref, 'the queued path gives the same bits');
    for (const t of [a, b, first, queued, ...later]) t.dispose();
  }),
);

test(
  'FIFO order: a small call issued while earlier work is in flight waits its turn',
  withBudget(GENEROUS, async () => {
    const s = Tensor.from(rand(16), [4, 4]);
    (await add(s, s)).dispose(); // records the small signature
    (await add(s, s)).dispose();
    const order = [];
    const r0 = runs();
    const p1 = slowCall().then((t) => (order.push('big'), t.dispose()));
    const p2 = add(s, s).then((t) => (order.push('small1'), t.dispose()));
    const p3 = add(s, s).then((t) => (order.push('small2'), t.dispose()));
    await Promise.all([p1, p2, p3]);
    assert.equal(order, ['big', 'small1', 'small2']);
    assert.is(runs(), r0, 'nothing ran inline while the queue held work');
    // Issued back to back with nothing in flight: each runs inline, settling in issue order.
    const seq = [];
    await Promise.all([0, 1, 2, 3].map((i) => add(s, i).then((t) => (seq.push(i), t.dispose()))));
    await Promise.all([0, 1, 2, 3].map((i) => add(s, i).then((t) => (seq.push(i), t.dispose()))));
    assert.equal(seq, [0, 1, 2, 3, 0, 1, 2, 3]);
    assert.is(runs(), r0 + 4, 'the second batch ran inline');
    s.dispose();
  }),
);

test(
  'AbortSignal: aborted before the call rejects (AbortError); a call that ran inline has started and resolves',
  withBudget(GENEROUS, async () => {
    const a = Tensor.from(rand(8 * 8), [8, 8]);
    (await matmul(a, a)).dispose();
    const pre = new AbortController();
    pre.abort();
    const r0 = runs();
    await matmul(a, a, { signal: pre.signal }).then(
      () => assert.unreachable('should reject'),
      (e) => {
        assert.instance(e, AbortError);
        assert.is(e.code, 'SOTR_ABORTED');
      },
    );
    assert.is(runs(), r0, 'an aborted call never runs');
    const ac = new AbortController();
    const p = matmul(a, a, { signal: ac.signal });
    assert.is(runs(), r0 + 1, 'ran inline inside the call');
    ac.abort(); // too late: the work has run
    const t = await p;
    assert.equal(t.shape, [8, 8]);
    t.dispose();
    // Queued behind other work, the same call is still cancellable. The work ahead is long (~4 GFLOP, ~20 ms here):
    // with ~2 ms, a loaded machine could pause this thread past its end, and the call then started before abort().
    const ac2 = new AbortController();
    const big = Tensor.from(new Float32Array((fresh + 1400) * 512).fill(0.25), [fresh++ + 1400, 512]);
    const first = matmul(big, big, { transB: true }).finally(() => big.dispose());
    const second = matmul(a, a, { signal: ac2.signal });
    ac2.abort();
    const r = await Promise.allSettled([first, second]);
    assert.is(r[0].status, 'fulfilled');
    assert.is(r[1].status, 'rejected');
    assert.instance(r[1].reason, AbortError);
    r[0].value.dispose();
    a.dispose();
  }),
);

test(
  'errors: argument errors throw synchronously as before; a kernel error of an inline run rejects, typed, and frees the device',
  withBudget(GENEROUS, async () => {
    const a = Tensor.from(rand(8 * 8), [8, 8]);
    (await matmul(a, a)).dispose();
    (await matmul(a, a)).dispose();
    const wrong = Tensor.from(rand(3 * 5), [3, 5]);
    await matmul(a, wrong).then(() => assert.unreachable(), (e) => assert.instance(e, ShapeError));
    // matrix_nms checks the scores' order in its kernel: same signature, new data.
    const n = 3;
    const masks = Tensor.from(new Uint8Array(n * 4 * 4).fill(1), [n, 4, 4]);
    const labels = Tensor.from(new Int32Array(n), [n]);
    const sorted = Tensor.from(new Float32Array([0.9, 0.5, 0.1]), [n]);
    const unsorted = Tensor.from(new Float32Array([0.5, 0.9, 0.1]), [n]);
    for (let i = 0; i < 2; i++) (await runOp('matrix_nms', [masks, labels, sorted, null, null], {}))[0].dispose();
    const live = memoryInfo('cpu').liveBytes;
    const r0 = runs();
    // The addon returns a promise (no synchronous throw), rejected with the native code.
    const raw = native().runOp('matrix_nms', [masks.handle, labels.handle, unsorted.handle, null, null], {}, 'cpu', 'fp32', 0);
    assert.is(runs(), r0 + 1, 'the failing call ran inline');
    await raw.then(
      () => assert.unreachable('should reject'),
      (e) => {
        assert.instance(e, RangeError);
        assert.is(e.code, 'SOTR_INVALID_ARGUMENT');
      },
    );
    // Through the public path: the typed class.
    await runOp('matrix_nms', [masks, labels, unsorted, null, null], {}).then(
      () => assert.unreachable('should reject'),
      (e) => {
        assert.instance(e, SotrRangeError);
        assert.match(e.message, /sorted in descending order/);
      },
    );
    assert.is(runs(), r0 + 2, 'both failing calls ran inline');
    assert.is(memoryInfo('cpu').liveBytes, live, 'its output was freed when it settled');
    // The device was released: queued and inline work both go on.
    const [x, y] = await Promise.all([slowCall(), matmul(a, a)]);
    assert.equal(y.shape, [8, 8]);
    (await matmul(a, a)).dispose();
    for (const t of [a, wrong, masks, labels, sorted, unsorted, x, y]) t.dispose();
  }),
);

test(
  'a slow run sends the next call of that signature back to the queue',
  withBudget(GENEROUS, async () => {
    const a = Tensor.from(rand(32 * 32), [32, 32]); // small enough to stay inline even under qemu-user
    (await matmul(a, a)).dispose();
    const r0 = runs();
    (await matmul(a, a)).dispose(); // inline, recorded with its time
    assert.is(runs(), r0 + 1);
    info(0.001); // now every recorded run is over the budget
    (await matmul(a, a)).dispose();
    assert.is(runs(), r0 + 1, 'budget 1 ns: nothing is small enough');
    a.dispose();
  }),
);

test(
  'a loop of small awaited calls still lets the event loop turn (inline runs are bounded per turn)',
  withBudget(GENEROUS, async () => {
    const a = Tensor.from(rand(8 * 8), [8, 8]);
    (await matmul(a, a)).dispose();
    let ticks = 0;
    let maxGap = 0;
    let last = performance.now();
    const iv = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 1);
    const r0 = runs();
    const t0 = performance.now();
    const n = 4000;
    for (let i = 0; i < n; i++) (await matmul(a, a)).dispose();
    const ms = performance.now() - t0;
    clearInterval(iv);
    const inline = runs() - r0;
    assert.ok(inline > n / 2, `most calls ran inline (${inline} of ${n})`);
    assert.ok(ticks >= Math.min(10, ms / 20), `a 1 ms timer fired ${ticks} times in ${ms.toFixed(0)} ms`);
    assert.ok(maxGap < 100, `largest gap between timer ticks ${maxGap.toFixed(1)} ms`);
    a.dispose();
  }, 1),
);

test(
  'calls made while a turn is being yielded settle in call order (an event-loop turn every call here)',
  withBudget(GENEROUS, async () => {
    const a = Tensor.from(rand(8 * 8), [8, 8]);
    (await matmul(a, a)).dispose();
    const order = [];
    await new Promise((r) => setTimeout(r, 2)); // a fresh turn
    const ps = [];
    for (let i = 0; i < 6; i++) ps.push(matmul(a, a).then((t) => (order.push(i), t.dispose())));
    await Promise.all(ps);
    assert.equal(order, [0, 1, 2, 3, 4, 5]);
    a.dispose();
  }, 0),
);

test(
  'a call that fails inline while its turn is held rejects normally (never an unhandled rejection)',
  withBudget(GENEROUS, async () => {
    let unhandled = 0;
    const onUnhandled = () => unhandled++;
    process.on('unhandledRejection', onUnhandled);
    const n = 3;
    const masks = Tensor.from(new Uint8Array(n * 4 * 4).fill(1), [n, 4, 4]);
    const labels = Tensor.from(new Int32Array(n), [n]);
    const sorted = Tensor.from(new Float32Array([0.9, 0.5, 0.1]), [n]);
    const unsorted = Tensor.from(new Float32Array([0.1, 0.9, 0.5]), [n]);
    for (let i = 0; i < 2; i++) (await runOp('matrix_nms', [masks, labels, sorted, null, null], {}))[0].dispose();
    const r0 = runs();
    const results = await Promise.allSettled([0, 1, 2].map(() => runOp('matrix_nms', [masks, labels, unsorted, null, null], {})));
    await new Promise((r) => setTimeout(r, 5));
    process.off('unhandledRejection', onUnhandled);
    assert.is(runs(), r0 + 3, 'all ran inline');
    for (const r of results) {
      assert.is(r.status, 'rejected');
      assert.instance(r.reason, SotrRangeError);
    }
    assert.is(unhandled, 0);
    for (const t of [masks, labels, sorted, unsorted]) t.dispose();
  }, 0),
);

test('worker_threads: inline runs in several threads at once keep results and order', withBudget(GENEROUS, async () => {
  const code = `
    const { parentPort } = require('node:worker_threads');
    const s = require(${JSON.stringify(entry)});
    (async () => {
      const a = s.Tensor.from(new Float32Array(64).map((_, i) => (i % 7) - 3), [8, 8]);
      const ref = Array.from(await (await s.matmul(a, a)).data());
      const order = [];
      const ps = [];
      for (let i = 0; i < 200; i++) ps.push(s.matmul(a, a).then(async (t) => { order.push(i); const d = await t.data(); t.dispose(); return Array.from(d).join() === ref.join(); }));
      const ok = (await Promise.all(ps)).every(Boolean);
      parentPort.postMessage({ ok, ordered: order.every((v, i) => v === i) });
    })();`;
  const results = await firstMessages(code, 3);
  for (const r of results) assert.equal(r, { ok: true, ordered: true });
}));

test.run();
