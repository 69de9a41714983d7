// Turns for concurrent predict calls on one model (ts/model/admission.ts): first come first served, a bounded number
// running (so bounded memory), aborts leave the line, a failure does not block the others, pendingImages.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Sotr, AbortError, memoryInfo, resetPeakMemory, synchronize, resolveDevice } from '../../dist/index.js';
import { FifoSlots } from '../../dist/model/admission.js';
import { fixturePath, rejects, instanceSummary as summary } from './helpers.mjs';

const DEV = resolveDevice('auto').device;
const load = (o = {}) => Sotr.load(fixturePath('tiny_sotr.pth'), { onWarning: () => {}, minSize: 40, maxSize: 400, ...o });
const tick = () => new Promise((r) => setImmediate(r));

test('FifoSlots: grants in arrival order, at most size at once; release is idempotent and passes the slot on', async () => {
  const s = new FifoSlots(2);
  const order = [];
  const held = [];
  const ps = [0, 1, 2, 3, 4].map((i) => s.acquire().then((rel) => (order.push(i), held.push([i, rel]))));
  await tick();
  assert.equal(order, [0, 1]);
  assert.is(s.busy, 2);
  assert.is(s.waiting, 3);
  const rel0 = held.find(([i]) => i === 0)[1];
  rel0();
  rel0(); // twice: still one slot
  await tick();
  assert.equal(order, [0, 1, 2]);
  assert.is(s.busy, 2);
  // A newcomer does not overtake the line, even at a moment a slot is free.
  const late = s.acquire().then((rel) => (order.push('late'), rel));
  for (const [i, rel] of held.slice()) if (i !== 0) rel();
  await tick();
  await tick();
  assert.equal(order, [0, 1, 2, 3, 4], '3 and 4 before the newcomer');
  for (const [i, rel] of held) if (i >= 3) rel();
  (await late)();
  assert.equal(order, [0, 1, 2, 3, 4, 'late']);
  for (const [, rel] of held) rel();
  assert.is(s.busy, 0);
  assert.is(s.waiting, 0);
  await Promise.all(ps);
});

test('FifoSlots: an abort while waiting rejects with AbortError and leaves the line; an aborted signal never waits', async () => {
  const s = new FifoSlots(1);
  const rel = await s.acquire();
  const ac = new AbortController();
  const waiting = s.acquire(ac.signal);
  const behind = s.acquire();
  assert.is(s.waiting, 2);
  ac.abort();
  await rejects(() => waiting, (e) => e instanceof AbortError);
  assert.is(s.waiting, 1);
  rel();
  (await behind)(); // the slot went to the one behind, not to the aborted waiter
  assert.is(s.busy, 0);
  const done = new AbortController();
  done.abort();
  await rejects(() => s.acquire(done.signal), (e) => e instanceof AbortError);
  assert.is(s.busy, 0);
});

test('concurrent predict calls on one model: results as alone, done in arrival order, memory as for one', async () => {
  const m = await load();
  try {
    const inputs = [fixturePath('img_ratio3.png'), fixturePath('img_land.png'), fixturePath('img_pal.png'), fixturePath('img_ratio3.png'), fixturePath('img_land.png')];
    const alone = [];
    await synchronize(DEV);
    resetPeakMemory(DEV);
    const live = memoryInfo(DEV).liveBytes;
    for (const x of inputs) alone.push(summary(await m.predict(x)));
    const peakAlone = memoryInfo(DEV).peakBytes - live;
    await synchronize(DEV);
    resetPeakMemory(DEV);
    const done = [];
    const ps = inputs.map((x, i) => m.predict(x, { profile: true }).then((r) => (done.push(i), r)));
    assert.is(m.pendingImages, inputs.length);
    const rs = await Promise.all(ps);
    const peakTogether = memoryInfo(DEV).peakBytes - live;
    assert.is(m.pendingImages, 0);
    rs.forEach((r, i) => assert.equal(summary(r), alone[i], `image ${i}`));
    if (DEV === 'cpu') assert.equal(done, [0, 1, 2, 3, 4], 'one at a time on the CPU, in arrival order');
    assert.ok(rs.at(-1).profile.queue > 0, 'the last one waited for its turn');
    // Two run at once on a GPU (the pipeline depth), one on the CPU.
    const depth = DEV === 'cpu' ? 1 : 2;
    assert.ok(peakTogether <= peakAlone * depth * 1.25 + (1 << 20), `peak ${peakTogether} with 5 at once against ${peakAlone} one by one`);
    console.log(`  allocator peak: ${(peakAlone / 1e6).toFixed(1)} MB one by one, ${(peakTogether / 1e6).toFixed(1)} MB 5 at once; last waited ${rs.at(-1).profile.queue.toFixed(0)} ms`);
    // A batch shares the line with single calls: both complete, each as alone.
    const [batch, one] = await Promise.all([m.predict(inputs.slice(0, 3)), m.predict(inputs[3])]);
    batch.forEach((r, i) => assert.equal(summary(r), alone[i], `batch image ${i}`));
    assert.equal(summary(one), alone[3]);
  } finally {
    await m.dispose();
  }
});

test('a queued prediction aborted leaves the line at once; a failing one does not block the rest; dispose waits for the line', async () => {
  const m = await load();
  try {
    const ref = summary(await m.predict(fixturePath('img_land.png')));
    await synchronize(DEV);
    const live = memoryInfo(DEV).liveBytes;
    const ac = new AbortController();
    const first = m.predict(fixturePath('img_ratio3.png'));
    const aborted = m.predict(fixturePath('img_land.png'), { signal: ac.signal });
    const bad = m.predict(Buffer.from('not an image'));
    const last = m.predict(fixturePath('img_land.png'));
    assert.is(m.pendingImages, 4);
    ac.abort();
    const t0 = performance.now();
    await rejects(() => aborted, (e) => e instanceof AbortError);
    const abortMs = performance.now() - t0;
    await rejects(() => bad, (e) => e.name === 'ImageDecodeError');
    assert.ok((await first).instances.length > 0);
    assert.equal(summary(await last), ref);
    assert.is(m.pendingImages, 0);
    await synchronize(DEV);
    assert.is(memoryInfo(DEV).liveBytes, live, 'nothing left behind');
    console.log(`  the queued prediction's abort settled in ${abortMs.toFixed(1)} ms`);
    // dispose() lets the queued predictions run, then frees the model; calls after it are refused.
    const q = [m.predict(fixturePath('img_land.png')), m.predict(fixturePath('img_land.png'))];
    const d = m.dispose();
    await rejects(() => m.predict(fixturePath('img_land.png')), (e) => e.name === 'DisposedError');
    for (const r of await Promise.all(q)) assert.equal(summary(r), ref);
    await d;
    assert.is(m.disposed, true);
  } finally {
    await m.dispose();
  }
});

test('a storm of 60 calls (batches, aborts before and while waiting, bad images, raw frames): every promise settles as it should, nothing leaks', async () => {
  const m = await load({ minSize: 40, maxSize: 120 });
  const unhandled = [];
  const onUnhandled = (e) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    const good = fixturePath('img_land.png');
    const ref = summary(await m.predict(good));
    await synchronize(DEV);
    const live = memoryInfo(DEV).liveBytes;
    const { decodeImage } = await import('../../dist/index.js');
    const img = await decodeImage(good);
    const calls = [];
    let s = 7;
    const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 60; i++) {
      const kind = Math.floor(rnd() * 6);
      const ac = new AbortController();
      if (kind === 0) calls.push(['ok', m.predict(good)]);
      else if (kind === 1) calls.push(['batch', m.predict([good, good])]);
      else if (kind === 2) calls.push(['bad', m.predict(Buffer.from('garbage'))]);
      else if (kind === 3) {
        ac.abort();
        calls.push(['abort', m.predict(good, { signal: ac.signal })]);
      } else if (kind === 4) {
        calls.push(['abort-later', m.predict(good, { signal: ac.signal })]);
        setTimeout(() => ac.abort(), Math.floor(rnd() * 40));
      } else calls.push(['raw', m.predict({ data: new Uint8Array(img.bgr), width: img.width, height: img.height, channels: 3, format: 'bgr' })]);
    }
    assert.ok(m.pendingImages > 0);
    const settled = await Promise.allSettled(calls.map(([, p]) => p));
    const counts = {};
    settled.forEach((r, i) => {
      const kind = calls[i][0];
      counts[kind] = (counts[kind] ?? 0) + 1;
      if (kind === 'ok' || kind === 'raw') assert.equal(summary(r.value), ref, `${kind} ${i}`);
      else if (kind === 'batch') r.value.forEach((v) => assert.equal(summary(v), ref));
      else if (kind === 'bad') assert.is(r.reason?.name, 'ImageDecodeError');
      else if (kind === 'abort') assert.ok(r.reason instanceof AbortError);
      else if (r.status === 'rejected') assert.ok(r.reason instanceof AbortError, String(r.reason));
      else assert.equal(summary(r.value), ref); // finished before its abort
    });
    assert.is(m.pendingImages, 0);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(unhandled, [], 'no unhandled rejections');
    await synchronize(DEV);
    assert.is(memoryInfo(DEV).liveBytes, live, 'nothing left behind');
    assert.equal(summary(await m.predict(good)), ref, 'the model goes on');
    console.log(`  ${JSON.stringify(counts)}`);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await m.dispose();
  }
});

test('a raw frame waiting for its turn was copied within the call: the caller may overwrite its buffer at once', async () => {
  const m = await load();
  try {
    const { decodeImage } = await import('../../dist/index.js');
    const img = await decodeImage(fixturePath('img_land.png'));
    const frame = () => ({ data: img.bgr, width: img.width, height: img.height, channels: 3, format: 'bgr' });
    const ref = summary(await m.predict(frame()));
    const buf = new Uint8Array(img.bgr);
    const running = m.predict(fixturePath('img_ratio3.png'));
    const queued = m.predict({ data: buf, width: img.width, height: img.height, channels: 3, format: 'bgr' });
    buf.fill(0); // while the frame waits behind `running`
    await running;
    assert.equal(summary(await queued), ref);
  } finally {
    await m.dispose();
  }
});

test('predict refuses bad options before taking a turn', async () => {
  const m = await load();
  try {
    await rejects(() => m.predict(fixturePath('img_land.png'), null), (e) => e.name === 'SotrTypeError' && /options/.test(e.message));
    await rejects(() => m.predict(fixturePath('img_land.png'), { signal: {} }), (e) => e.name === 'SotrTypeError' && /AbortSignal/.test(e.message));
    assert.is(m.pendingImages, 0);
  } finally {
    await m.dispose();
  }
});

test.run();
