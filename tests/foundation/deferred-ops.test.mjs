// Deferred ops (the GPU default; SOTR_DEFERRED_OPS / Sotr.load({ deferredOps })): inside a deferred scope an op is
// queued without a completion of its own and its outputs come back at once; results equal the normal path, and a
// failure surfaces at the scope's next host read from the device (or at checkDeferred) as the op's own typed error;
// other callers on the device never see it.
import { test } from 'uvu';
import { spawnSync } from 'node:child_process';
import * as assert from 'uvu/assert';
import { Tensor, Sotr, add, matmul, memoryInfo, relu, resetPeakMemory, synchronize, SotrRangeError, SotrTypeError } from '../../dist/index.js';
import { checkDeferred, runOp } from '../../dist/ops/run.js';
import { native } from '../../dist/native.js';
import { deferredBacklogBytes, deferredOps, deferredScope } from '../../dist/deferred.js';
import { fixturePath, instanceSummary as summary } from '../model/helpers.mjs';

const rand = (n, k = 1) => Float32Array.from({ length: n }, (_, i) => Math.sin((i + 1) * 12.9898 * k) * 0.5);

async function chain(a) {
  let x = a;
  for (let i = 0; i < 6; i++) {
    const y = await matmul(x, a);
    const z = await relu(y);
    y.dispose();
    if (x !== a) x.dispose();
    x = z;
  }
  return x;
}

test('a chain of ops gives the same results deferred as awaited one by one', async () => {
  const a = Tensor.from(rand(37 * 37), [37, 37]);
  const want = await (await chain(a)).data();
  const scope = deferredScope('cpu');
  const got = await deferredOps.run(scope, async () => {
    const t = await chain(a);
    return t.data();
  });
  assert.equal(Array.from(got), Array.from(want));
  checkDeferred(scope);
  a.dispose();
});

test('a deferred scope far ahead of the queue holds at most the backlog budget of unrun outputs (it waits on fences)', async () => {
  // 64 ops of 16 MiB each, submitted in microseconds and run in milliseconds each: unpaced, every output would be
  // allocated at once (1 GiB, each held by its queued job although the JavaScript disposed it).
  const n = 4 << 20, ops = 64, bytes = 4 * n;
  const budget = deferredBacklogBytes('cpu');
  assert.ok(ops * bytes > 2 * budget, 'the chain would exceed the budget unpaced');
  const a = Tensor.from(Float32Array.from({ length: n }, (_, i) => (i % 7) - 3), [n]);
  await synchronize('cpu');
  const base = memoryInfo('cpu').liveBytes;
  resetPeakMemory('cpu');
  const scope = deferredScope('cpu');
  const got = await deferredOps.run(scope, async () => {
    let x = a;
    for (let i = 0; i < ops; i++) {
      const y = await add(x, 1);
      if (x !== a) x.dispose();
      x = y;
    }
    const d = await x.data();
    x.dispose();
    return d;
  });
  checkDeferred(scope);
  assert.ok(scope.fenceAt > 0, 'the scope issued fences');
  await synchronize('cpu');
  const [submitted, completed] = native().queueProgress('cpu');
  assert.ok(submitted > scope.fenceAt && completed === submitted, `queue progress ${submitted} / ${completed}, last fence at ${scope.fenceAt}`);
  const peak = memoryInfo('cpu').peakBytes - base;
  assert.is(scope.budgetBytes, budget);
  assert.ok(peak <= budget + 4 * bytes, `peak ${(peak / 2 ** 20).toFixed(0)} MiB over the ${budget / 2 ** 20} MiB budget`);
  for (const k of [0, 1, 5, n - 1]) assert.is(got[k], ((k % 7) - 3) + ops, `element ${k}`);
  a.dispose();
});

test("a failing deferred op is reported by the scope's next host read, typed, once; not to other callers", async () => {
  const masks = Tensor.zeros([3, 2, 2], { dtype: 'uint8' });
  const labels = Tensor.from(new Int32Array([0, 0, 0]), [3]);
  const unsorted = Tensor.from(new Float32Array([0.5, 0.9, 0.1]), [3]);
  const scope = deferredScope('cpu');
  await deferredOps.run(scope, async () => {
    const [decay] = await runOp('matrix_nms', [masks, labels, unsorted], {});
    assert.ok(decay instanceof Tensor, 'outputs come back at once');
    // Another caller's read on the same device, queued after the failing op, is not affected.
    const other = Tensor.from(new Float32Array([1, 2, 3]), [3]);
    const otherRead = deferredOps.exit(() => other.data());
    assert.equal(Array.from(await otherRead), [1, 2, 3]);
    try {
      await decay.data();
      assert.unreachable('the read should report the failure');
    } catch (e) {
      assert.instance(e, SotrRangeError, `${e?.name}: ${e?.message}`);
      assert.match(e.message, /sorted in descending order/);
    }
  });
  checkDeferred(scope); // reported once: nothing left
  const ok = await matmul(Tensor.from(rand(4), [2, 2]), Tensor.from(rand(4, 2), [2, 2]));
  assert.is((await ok.data()).length, 4, 'the device works on');
});

test('checkDeferred throws a pending failure that no read has reported, then nothing is left', async () => {
  const masks = Tensor.zeros([2, 2, 2], { dtype: 'uint8' });
  const labels = Tensor.from(new Int32Array([0, 0]), [2]);
  const nan = Tensor.from(new Float32Array([0.9, NaN]), [2]);
  const scope = deferredScope('cpu');
  await deferredOps.run(scope, () => runOp('matrix_nms', [masks, labels, nan], {}));
  await synchronize('cpu');
  await Tensor.zeros([1]).data(); // outside the scope: unaffected, and the failure stays the scope's
  try {
    checkDeferred(scope);
    assert.unreachable('the failure is pending');
  } catch (e) {
    assert.instance(e, SotrRangeError, `${e?.name}: ${e?.message}`);
    assert.match(e.message, /NaN/);
  }
  checkDeferred(scope);
  assert.is((await Tensor.zeros([1]).data()).length, 1);
});

test('the model gives the same instances with deferredOps on; the option is typed', async () => {
  const load = (o) => Sotr.load(fixturePath('tiny_sotr.pth'), { onWarning: () => {}, ...o });
  const img = fixturePath('img_ratio3.png');
  const plain = await load({ deferredOps: false });
  const deferred = await load({ deferredOps: true });
  assert.is(plain.deferredOps, false);
  assert.is(deferred.deferredOps, true);
  const byDefault = await load({});
  assert.is(byDefault.deferredOps, byDefault.device !== 'cpu', 'deferred by default on a GPU, not on the CPU');
  byDefault.dispose();
  try {
    const a = await plain.predict(img);
    const b = await deferred.predict(img);
    assert.ok(a.instances.length > 0);
    assert.equal(summary(b), summary(a));
    // Only the model's device counts: on a CUDA model the host-only post-processing ops run on the CPU
    // (and may run inline there); CUDA ops never run inline.
    const inlineOps = (r, device) =>
      r.opProfile.ops
        .filter((o) => o.device === device && !o.op.startsWith('tensor.'))
        .reduce((n, o) => n + o.inlineCalls, 0);
    const p = await deferred.predict(img, { profile: 'ops' });
    assert.ok(p.opProfile.ops.some((o) => o.device === deferred.device), 'the op profile records deferred ops too');
    assert.is(inlineOps(p, deferred.device), 0, 'deferred ops are queued, never run inline');
    if (plain.device === 'cpu') {
      const q = await plain.predict(img, { profile: 'ops' });
      assert.ok(inlineOps(q, 'cpu') > 0, 'the awaited path runs small ops inline (so the deferred path was really taken)');
    }
  } finally {
    plain.dispose();
    deferred.dispose();
  }
  try {
    await load({ deferredOps: 'yes' });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, SotrTypeError);
    assert.match(e.message, /deferredOps must be a boolean/);
  }
});

test('the backlog budget: 32 MiB on the CPU, 256 MiB on a GPU; SOTR_DEFERRED_BACKLOG_MIB sets both', () => {
  if (process.env.SOTR_DEFERRED_BACKLOG_MIB === undefined) {
    assert.is(deferredBacklogBytes('cpu'), 32 * 2 ** 20);
    assert.is(deferredBacklogBytes('cuda:0'), 256 * 2 ** 20);
    assert.is(deferredScope('cpu').budgetBytes, 32 * 2 ** 20);
  }
  const url = new URL('../../dist/deferred.js', import.meta.url).href;
  const code = `const d = await import(${JSON.stringify(url)}); console.log(d.deferredBacklogBytes('cpu'), d.deferredBacklogBytes('cuda:1'));`;
  for (const [v, want] of [['8', '8388608 8388608'], ['junk', '33554432 268435456'], ['-1', '33554432 268435456']]) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, SOTR_DEFERRED_BACKLOG_MIB: v }, encoding: 'utf8' });
    assert.is(r.stdout.trim(), want, `SOTR_DEFERRED_BACKLOG_MIB=${v}: ${r.stderr}`);
  }
});

test.run();
