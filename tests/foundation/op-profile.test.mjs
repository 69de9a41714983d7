// The per-op profiler (native/runtime/op_profiler.h, ts/profile.ts): counts match the ops run, inline and
// queued runs both recorded, nothing recorded when off, typed errors for misuse, sessions per thread and
// process-wide, worker_threads. CPU only (the CUDA timestamps compile but need a GPU).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Worker } from 'node:worker_threads';
import {
  Tensor,
  add,
  matmul,
  relu,
  startOpProfile,
  stopOpProfile,
  isOpProfiling,
  formatOpProfile,
  summarizeOpProfile,
  ProfileStateError,
  SotrError,
  backendInfo,
} from '../../dist/index.js';
import { native } from '../../dist/native.js';
import { OpProfileSession } from '../../dist/profile.js';
import { setInlineMsPerTurn } from '../../dist/inline_turn.js';

const entry = new URL('../../dist/index.js', import.meta.url).pathname;
const info = (us) => native()._inlineRunInfo(us);
const budget = info().budgetUs;
const open = () => native()._opProfileOpen();
const row = (p, op) => p.ops.find((o) => o.op === op);
const withBudget = (us, fn) => async () => {
  info(us);
  const turn = setInlineMsPerTurn(60_000);
  try {
    await fn();
  } finally {
    info(budget);
    setInlineMsPerTurn(turn);
  }
};
const small = () => Tensor.from(Float32Array.from({ length: 12 }, (_, i) => i / 7), [3, 4]);
// A signature never seen before: always queued.
let fresh = 300;
const bigMatmul = async () => {
  const n = fresh++;
  const a = Tensor.from(new Float32Array(n * 256).fill(0.25), [n, 256]);
  const y = await matmul(a, a, { transB: true });
  a.dispose();
  y.dispose();
};

test.after.each(() => {
  if (isOpProfiling()) stopOpProfile();
});

test('off: nothing is recorded, no session is open; ops before start are not counted', async () => {
  assert.is(open(), 0);
  const a = small();
  for (let i = 0; i < 5; i++) (await add(a, a)).dispose();
  startOpProfile();
  assert.is(open(), 1);
  assert.ok(isOpProfiling());
  const p = stopOpProfile();
  assert.is(open(), 0);
  assert.not.ok(isOpProfiling());
  assert.is(p.ops.length, 0);
  assert.is(p.calls, 0);
  assert.is(p.busyMs, 0);
  assert.ok(p.wallMs >= 0);
  // After stop, ops are not recorded into the next profile either.
  for (let i = 0; i < 3; i++) (await add(a, a)).dispose();
  startOpProfile();
  assert.is(stopOpProfile().calls, 0);
  a.dispose();
});

test(
  'counts match the ops run; inline and queued runs are both recorded',
  withBudget(5000, async () => {
    const a = small();
    (await relu(a)).dispose(); // warm this signature: the profiled relus may run inline
    const inline0 = info().inlineRuns;
    startOpProfile();
    for (let i = 0; i < 20; i++) (await relu(a)).dispose();
    for (let i = 0; i < 3; i++) await bigMatmul();
    const d = await a.data();
    const p = stopOpProfile();
    const inlined = info().inlineRuns - inline0;
    assert.is(d.length, 12);
    const r = row(p, 'relu');
    const m = row(p, 'matmul');
    const t = row(p, 'tensor.data');
    assert.ok(r && m && t, JSON.stringify(p.ops.map((o) => o.op)));
    assert.is(r.calls, 20);
    assert.is(m.calls, 3);
    assert.is(t.calls, 1);
    assert.is(p.calls, 24);
    assert.is(p.ops.length, 3);
    // The relus ran inline (the warm signature, generous budget); the fresh matmuls went through the queue.
    assert.ok(r.inlineCalls >= 18, `relu inline ${r.inlineCalls}`);
    assert.is(m.inlineCalls, 0);
    assert.ok(inlined >= r.inlineCalls + t.inlineCalls);
    for (const o of p.ops) {
      assert.is(o.device, 'cpu');
      assert.is(o.deviceTimed, false);
      assert.ok(o.totalMs > 0 && o.maxMs <= o.totalMs && o.maxMs >= o.meanMs);
      assert.ok(Math.abs(o.meanMs - o.totalMs / o.calls) < 1e-9);
      assert.ok(Math.abs(o.hostMs - o.totalMs) < 1e-9, 'CPU: host time is the kernel time');
      assert.ok(o.idleBeforeMs >= 0);
    }
    // Sorted by time, descending; the matmuls dominate.
    for (let i = 1; i < p.ops.length; i++) assert.ok(p.ops[i - 1].totalMs >= p.ops[i].totalMs);
    // Totals: one device, busy = sum of the ops, a gap between each consecutive pair.
    assert.is(p.devices.length, 1);
    const dev = p.devices[0];
    assert.is(dev.device, 'cpu');
    assert.is(dev.calls, 24);
    assert.is(dev.gaps, 23);
    assert.ok(Math.abs(dev.busyMs - p.ops.reduce((s, o) => s + o.totalMs, 0)) < 1e-6);
    assert.ok(dev.idleMs > 0 && Math.abs(dev.idleMs - p.ops.reduce((s, o) => s + o.idleBeforeMs, 0)) < 1e-6);
    assert.ok(p.busyMs + p.idleMs <= p.wallMs + 1e-6, `busy ${p.busyMs} + idle ${p.idleMs} <= wall ${p.wallMs}`);
    a.dispose();
  }),
);

test(
  'inline runs off: every call is queued and still counted',
  withBudget(0, async () => {
    const a = small();
    startOpProfile();
    for (let i = 0; i < 10; i++) (await add(a, a)).dispose();
    const p = stopOpProfile();
    assert.is(row(p, 'add').calls, 10);
    assert.is(row(p, 'add').inlineCalls, 0);
    a.dispose();
  }),
);

test('misuse: stop without start, start twice, a stopped session: ProfileStateError (SOTR_INVALID_STATE)', () => {
  const check = (fn) => {
    try {
      fn();
    } catch (e) {
      assert.instance(e, ProfileStateError);
      assert.instance(e, SotrError);
      assert.is(e.code, 'SOTR_INVALID_STATE');
      return;
    }
    assert.unreachable('should throw');
  };
  check(() => stopOpProfile());
  startOpProfile();
  check(() => startOpProfile());
  stopOpProfile();
  check(() => stopOpProfile());
  const s = new OpProfileSession();
  s.stop();
  check(() => s.stop());
  assert.is(open(), 0);
  // Options are checked.
  assert.throws(() => startOpProfile(null), (e) => e.code === 'SOTR_INVALID_ARGUMENT');
  assert.throws(() => startOpProfile('nonsense'));
  assert.not.ok(isOpProfiling());
});

test('device filter, rows by shape, text table and summary', async () => {
  const a = small();
  const b = Tensor.from(new Float32Array(8), [2, 4]);
  startOpProfile({ device: 'cuda:0' }); // no CUDA op runs here: nothing on that device
  const s2 = new OpProfileSession({ device: 'cpu', byShape: true });
  for (let i = 0; i < 4; i++) (await add(a, a)).dispose();
  for (let i = 0; i < 2; i++) (await add(b, b)).dispose();
  const byShape = s2.stop();
  assert.is(stopOpProfile().calls, 0);
  const rows = byShape.ops.filter((o) => o.op === 'add').sort((x, y) => y.calls - x.calls);
  assert.equal(
    rows.map((o) => [o.shape, o.calls]),
    [
      ['3x4,3x4', 4],
      ['2x4,2x4', 2],
    ],
  );
  const text = formatOpProfile(byShape);
  assert.match(text, /add 3x4,3x4/);
  assert.match(text, /cpu: 6 ops, busy/);
  const sum = summarizeOpProfile(byShape, 1);
  assert.is(sum.top.length, 1);
  assert.is(sum.calls, 6);
  assert.ok(JSON.stringify(sum));
  a.dispose();
  b.dispose();
});

test('sessions overlap: each sees the ops run while it is open', async () => {
  const a = small();
  startOpProfile();
  (await add(a, a)).dispose();
  const inner = new OpProfileSession({ thisThreadOnly: true });
  (await add(a, a)).dispose();
  (await add(a, a)).dispose();
  assert.is(inner.stop().calls, 2);
  (await add(a, a)).dispose();
  assert.is(stopOpProfile().calls, 4);
  a.dispose();
});

const workerCode = (ops, ownProfile) => `
  const { parentPort } = require('node:worker_threads');
  import(${JSON.stringify(entry)}).then(async (s) => {
    const a = s.Tensor.from(new Float32Array(6).fill(1), [2, 3]);
    ${ownProfile ? 's.startOpProfile({ thisThreadOnly: true });' : ''}
    for (let i = 0; i < ${ops}; i++) (await s.mul(a, a)).dispose();
    const own = ${ownProfile ? 's.stopOpProfile().calls' : 'null'};
    ${ownProfile === 'leave-open' ? 's.startOpProfile();' : ''}
    parentPort.postMessage(own);
  });
`;
const runWorker = (ops, ownProfile = false) =>
  new Promise((resolve, reject) => {
    const w = new Worker(workerCode(ops, ownProfile), { eval: true });
    let msg;
    w.on('message', (m) => (msg = m));
    w.on('error', reject);
    w.on('exit', () => resolve(msg));
  });

test('worker_threads: process-wide sessions see workers\u2019 ops, thread-only ones do not; a worker\u2019s sessions close with it', async () => {
  const a = small();
  startOpProfile();
  const mine = new OpProfileSession({ thisThreadOnly: true });
  (await add(a, a)).dispose();
  const [own1, own2] = await Promise.all([runWorker(7, true), runWorker(5, true)]);
  assert.is(own1, 7);
  assert.is(own2, 5);
  const p = stopOpProfile();
  assert.is(row(p, 'mul').calls, 12);
  assert.is(row(p, 'add').calls, 1);
  const m = mine.stop();
  assert.is(m.calls, 1);
  assert.is(row(m, 'mul'), undefined);
  // A worker that exits with its profile open: the session closes with it (profiling turns off).
  await runWorker(2, 'leave-open');
  assert.is(open(), 0);
  a.dispose();
});

// CUDA (registers only where CUDA is available): device time from events, gaps between consecutive ops.
if (backendInfo().cuda.available) test('CUDA: ops are timed by events (deviceTimed), copies recorded, a gap between each pair of ops', async () => {
  const host = Tensor.from(Float32Array.from({ length: 256 * 256 }, (_, i) => (i % 7) / 7), [256, 256]);
  const x = await host.to('cuda');
  await matmul(x, x); // warm-up
  startOpProfile({ device: 'cuda:0' });
  for (let i = 0; i < 10; i++) (await matmul(x, x)).dispose();
  const y = await relu(x);
  await y.data();
  const p = stopOpProfile();
  const m = row(p, 'matmul');
  assert.is(m.calls, 10);
  assert.is(m.inlineCalls, 0);
  assert.ok(m.deviceTimed);
  assert.ok(m.totalMs > 0 && m.hostMs > 0);
  assert.is(row(p, 'relu').calls, 1);
  assert.is(row(p, 'tensor.data').calls, 1);
  const d = p.devices.find((v) => v.device === 'cuda:0');
  assert.ok(d.deviceTimed);
  assert.is(d.calls, 12);
  assert.is(d.gaps, 11);
  assert.ok(d.idleMs >= 0 && d.busyMs > 0);
  for (const t of [host, x, y]) t.dispose();
});

test.run();
