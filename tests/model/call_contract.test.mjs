// What a call promises about its inputs and its signal, found by an audit of the public API (session 16):
// - predict([...]) takes the array and its raw frames as they are at the call (the caller may change both at once);
// - predictEach yields a ready result, and honours an abort or a dispose, while a slow async source is still
//   producing its next image (uploads, a camera), and never waits on that source to finish its iteration;
// - any signal, aborted with any reason (AbortSignal.timeout, a string, an Error), gives this library's AbortError
//   at load, inspection and checkpoint reading; a signal shared by many concurrent calls gets one listener;
// - options that used to be accepted and then failed deep inside, or were ignored, are refused at the call.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { getEventListeners } from 'node:events';
import {
  Sotr,
  Mask,
  AbortError,
  DisposedError,
  SotrRangeError,
  SotrTypeError,
  decodeImage,
  inspectCheckpoint,
  readCheckpoint,
  relu,
  Tensor,
} from '../../dist/index.js';
import { fixturePath, instanceSummary as summary } from './helpers.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

const CKPT = fixturePath('tiny_sotr.pth');
const load = (o = {}) => Sotr.load(CKPT, { onWarning: () => {}, minSize: 40, maxSize: 400, ...o });
const IMAGES = ['img_ratio3.png', 'img_land.png', 'img_pal.png'].map(fixturePath);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function rawFrames() {
  const out = [];
  for (const p of IMAGES) {
    const d = await decodeImage(p);
    out.push({ data: Uint8Array.from(d.bgr), width: d.width, height: d.height, channels: 3, format: 'bgr' });
  }
  return out;
}

test('predict([...]): the array and its raw frames are taken at the call', async () => {
  const m = await load();
  try {
    const frames = await rawFrames();
    const alone = [];
    for (const f of frames) alone.push(summary(await m.predict(f)));
    // The buffers reused (zeroed) and the array emptied as soon as predict returns.
    const batch = frames.map((f) => ({ ...f, data: Uint8Array.from(f.data) }));
    const list = [...batch];
    const p = m.predict(list);
    for (const f of batch) f.data.fill(0);
    list.length = 0;
    assert.is(m.pendingImages, frames.length);
    const got = await p;
    assert.is(got.length, frames.length);
    got.forEach((r, i) => assert.equal(summary(r), alone[i], `frame ${i}`));
    // Images pushed after the call are not part of it.
    const one = [IMAGES[0]];
    const q = m.predict(one);
    one.push(IMAGES[1], IMAGES[2]);
    assert.is((await q).length, 1);
  } finally {
    await m.dispose();
  }
});

/** An async source that yields `first`, then waits until `release()` (or forever) before its next image. */
function stallingSource(first) {
  const state = { nextCalls: 0, returned: false };
  let release = () => {};
  const gate = new Promise((r) => (release = r));
  const it = {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      state.nextCalls++;
      if (state.nextCalls === 1) return { done: false, value: first };
      await gate;
      return { done: true, value: undefined };
    },
    async return() {
      state.returned = true;
      return { done: true, value: undefined };
    },
  };
  return { it, state, release: () => release() };
}

test('predictEach: a ready result is yielded while the source is still producing its next image', async () => {
  const m = await load();
  try {
    const ref = summary(await m.predict(IMAGES[0]));
    const { it, release } = stallingSource(IMAGES[0]);
    const iter = m.predictEach(it);
    const t0 = performance.now();
    const first = await iter.next();
    const waited = performance.now() - t0;
    assert.equal(summary(first.value.prediction), ref);
    // The source has not answered its second next(): the result must not have waited for it.
    const second = iter.next();
    release();
    assert.is((await second).done, true);
    assert.ok(waited < 20_000, `first result after ${waited} ms`);
  } finally {
    await m.dispose();
  }
});

test('predictEach: an abort or a dispose ends the iteration while the source never answers', async () => {
  const m = await load();
  try {
    // Abort: AbortError at once, without waiting for the source (whose next() never settles).
    const ac = new AbortController();
    const a = stallingSource(IMAGES[0]);
    const iter = m.predictEach(a.it, { signal: ac.signal });
    assert.ok((await iter.next()).value.prediction);
    const pending = iter.next();
    await sleep(20);
    ac.abort();
    const outcome = await Promise.race([pending.then(() => 'resolved', (e) => e), sleep(5000).then(() => 'timeout')]);
    assert.instance(outcome, AbortError);
    assert.is(a.state.nextCalls, 2);
    // Dispose: the iteration ends with DisposedError and dispose() completes.
    const b = stallingSource(IMAGES[1]);
    const iter2 = m.predictEach(b.it);
    assert.ok((await iter2.next()).value.prediction);
    const pending2 = iter2.next();
    await sleep(20);
    const disposed = m.dispose();
    const outcome2 = await Promise.race([pending2.then(() => 'resolved', (e) => e), sleep(5000).then(() => 'timeout')]);
    assert.instance(outcome2, DisposedError);
    await Promise.race([disposed, sleep(5000).then(() => assert.unreachable('dispose hung'))]);
    a.release();
    b.release();
  } finally {
    await m.dispose();
  }
});

test('predictEach: leaving early while the source is producing closes the source once it answers, then ends', async () => {
  const m = await load();
  try {
    const { it, state, release } = stallingSource(IMAGES[0]);
    let released = false;
    for await (const item of m.predictEach(it)) {
      assert.ok(item.prediction);
      setTimeout(() => {
        released = true;
        release();
      }, 50);
      break; // the source's second next() is in flight until release()
    }
    assert.ok(released && state.returned, 'the loop ended after the source answered and was closed');
    assert.is(m.pendingImages, 0);
  } finally {
    await m.dispose();
  }
});

test('signals: any abort reason gives AbortError at load, inspection and reading; a bad signal is a type error', async () => {
  const bytes = readFileSync(CKPT);
  const reasons = [() => AbortSignal.abort(), () => AbortSignal.abort('shutdown'), () => AbortSignal.abort(new Error('client went away'))];
  for (const make of reasons) {
    await expectTypedErrors([
      [() => load({ signal: make() }), AbortError, /aborted/],
      [() => Sotr.load(bytes, { signal: make() }), AbortError, /aborted/],
      [() => Sotr.load(new Map(), { signal: make() }), AbortError, /aborted/],
      [() => inspectCheckpoint(CKPT, { signal: make() }), AbortError, /aborted/],
      [() => readCheckpoint(CKPT, { signal: make() }), AbortError, /aborted/],
    ]);
  }
  const timeout = AbortSignal.timeout(1);
  await sleep(20);
  await expectTypedErrors([
    [() => load({ signal: timeout }), AbortError, /aborted/],
    [() => readCheckpoint(bytes, { signal: timeout }), AbortError, /aborted/],
    [() => load({ signal: {} }), SotrTypeError, /signal must be an AbortSignal/],
    [() => readCheckpoint(CKPT, { signal: {} }), SotrTypeError, /signal must be an AbortSignal/],
    [() => inspectCheckpoint(CKPT, { signal: 'x' }), SotrTypeError, /signal must be an AbortSignal/],
    [() => load({ onWarning: 5 }), SotrTypeError, /onWarning must be a function/],
    [() => readCheckpoint(CKPT, { onWarning: 'log' }), SotrTypeError, /onWarning must be a function/],
  ]);
});

test('signals: the AbortError keeps the signal\'s reason as its cause (a timeout told from a cancellation), wherever the abort lands', async () => {
  const m = await load();
  try {
    const bytes = readFileSync(CKPT);
    const why = new Error('client went away');
    const causeOf = async (p) => {
      try {
        await p;
        return 'resolved';
      } catch (e) {
        assert.instance(e, AbortError, String(e));
        return e.cause;
      }
    };
    // Before the call, for each entry point.
    assert.is(await causeOf(load({ signal: AbortSignal.abort(why) })), why);
    assert.is(await causeOf(Sotr.load(bytes, { signal: AbortSignal.abort('shutdown') })), 'shutdown');
    assert.is(await causeOf(readCheckpoint(CKPT, { signal: AbortSignal.abort(why) })), why);
    assert.is(await causeOf(m.predict(IMAGES[0], { signal: AbortSignal.abort(why) })), why);
    assert.is(await causeOf(relu(Tensor.from([1, -1], [2]), { signal: AbortSignal.abort(why) })), why);
    // A timeout: a DOMException named TimeoutError.
    const timeout = AbortSignal.timeout(1);
    await sleep(20);
    const t = await causeOf(m.predict(IMAGES[0], { signal: timeout }));
    assert.is(t?.name, 'TimeoutError', String(t));
    // While queued behind other predictions, and while running (aborted at once, after the call).
    const busy = Array.from({ length: 3 }, () => m.predict(IMAGES[1]));
    const ac = new AbortController();
    const queued = causeOf(m.predict(IMAGES[0], { signal: ac.signal }));
    ac.abort(why);
    assert.is(await queued, why);
    await Promise.all(busy);
    const ac2 = new AbortController();
    const running = causeOf(m.predict(IMAGES[1], { signal: ac2.signal }));
    await sleep(1);
    ac2.abort('stop');
    const r = await running;
    assert.ok(r === 'stop' || r === 'resolved', String(r)); // it may finish first
    // predictEach.
    const ac3 = new AbortController();
    const each = (async () => {
      for await (const item of m.predictEach([IMAGES[0], IMAGES[1], IMAGES[2], IMAGES[0]], { signal: ac3.signal })) {
        void item;
        ac3.abort(why);
      }
    })();
    assert.is(await causeOf(each), why);
    // A batch and predictEach aborted while their images wait their turn (the abort reached the images through the
    // iteration's own signal, whose reason was a plain AbortError).
    for (const start of [(o) => m.predict([IMAGES[0], IMAGES[1], IMAGES[2]], o), (o) => m.predictEach([IMAGES[0], IMAGES[1]], o).next()]) {
      const busy2 = Array.from({ length: 2 }, () => m.predict(IMAGES[1]));
      const ac4 = new AbortController();
      const waiting = causeOf(start({ signal: ac4.signal }));
      ac4.abort(why);
      assert.is(await waiting, why);
      await Promise.all(busy2);
    }
  } finally {
    await m.dispose();
  }
});

test('signals: an abort that lands inside one of the prediction\'s ops is reported as the prediction\'s, naming the op', async () => {
  const m = await load();
  try {
    const seen = new Set();
    for (let delay = 0; delay < 40 && seen.size < 3; delay += 2) {
      const ac = new AbortController();
      const p = m.predict(IMAGES[1], { signal: ac.signal });
      await sleep(delay);
      ac.abort('stop');
      try {
        await p;
        seen.add('resolved');
      } catch (e) {
        assert.instance(e, AbortError, String(e));
        assert.is(e.cause, 'stop');
        // (Op names may hold underscores: dynamic_conv, dynamic_conv_masks.)
        assert.match(e.message, /^predict was aborted( \(during [A-Za-z0-9_]+\))?$/);
        seen.add(e.message);
      }
    }
    assert.ok([...seen].some((x) => x.includes('(during ')), [...seen].join(' | '));
  } finally {
    await m.dispose();
  }
});

test('signals: one listener on a signal shared by many concurrent predict calls, none left after', async () => {
  const m = await load();
  const warnings = [];
  const onWarning = (w) => warnings.push(w);
  process.on('warning', onWarning);
  try {
    const ac = new AbortController();
    const calls = Array.from({ length: 12 }, (_, i) => m.predict(IMAGES[i % IMAGES.length], { signal: ac.signal }));
    await sleep(0);
    assert.ok(getEventListeners(ac.signal, 'abort').length <= 1, `${getEventListeners(ac.signal, 'abort').length} listeners`);
    await Promise.all(calls);
    assert.is(getEventListeners(ac.signal, 'abort').length, 0);
    // Aborting reaches every waiting call through that one listener.
    const more = Array.from({ length: 6 }, () => m.predict(IMAGES[0], { signal: ac.signal }).then(() => 'done', (e) => e));
    ac.abort();
    const outcomes = await Promise.all(more);
    assert.ok(outcomes.filter((o) => o instanceof AbortError).length >= 5, outcomes.map(String).join(', '));
    await sleep(0);
    assert.equal(warnings.filter((w) => w.name === 'MaxListenersExceededWarning'), []);
  } finally {
    process.off('warning', onWarning);
    await m.dispose();
  }
});

test('options refused at the call instead of failing inside or being ignored', async () => {
  const m = await load();
  try {
    await expectTypedErrors([
      [() => load({ sizeDivisibility: 48 }), SotrRangeError, /sizeDivisibility must be a multiple of 32/],
      [() => load({ sizeDivisibility: 16 }), SotrRangeError, /sizeDivisibility must be a multiple of 32/],
      [() => m.predict(IMAGES[0], { limitInputPixels: 1.5 }), SotrRangeError, /limitInputPixels must be a non-negative integer/],
      [() => m.predict(IMAGES[0], { limitInputPixels: Infinity }), SotrRangeError, /limitInputPixels must be a non-negative integer/],
      [() => m.predictEach([IMAGES[0]], { limitInputPixels: -1 }), SotrRangeError, /limitInputPixels/],
      [() => m.predict(IMAGES[0], { intermediates: 'yes' }), SotrTypeError, /intermediates must be a boolean/],
      [() => m.predict(IMAGES[0], { contours: { mod: 'ccomp' } }), SotrTypeError, /contours: unknown option 'mod' \(did you mean 'mode'\?\)/],
      [() => m.predict({ data: new Uint8Array(12), width: 2, height: 2, channels: '3' }), SotrRangeError, /channels must be 1, 3 or 4, received "3"/],
      [() => m.warmup({ width: 100_000, height: 100_000 }), SotrRangeError, /exceeds the default limitInputPixels/],
      [() => new Mask(1e6, 1e6), SotrRangeError, /too large to hold/],
    ]);
    const m64 = await load({ sizeDivisibility: 64 });
    assert.is(m64.config.sizeDivisibility, 64);
    assert.ok((await m64.predict(IMAGES[1])).instances);
    await m64.dispose();
  } finally {
    await m.dispose();
  }
});

test.run();
