// model.predictEach: images from an iterable or async iterable, results (or per-image errors) yielded in order;
// the source read only as the pipeline has room; leaving early, aborting, a throwing source and dispose end it
// cleanly (source closed, nothing left pending, the model usable); bad arguments are refused at the call. Run
// again with two images at once (SOTR_PIPELINE_DEPTH=2, the GPU's default) in a child process.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Sotr, AbortError, DisposedError, ImageDecodeError, SotrTypeError, SotrRangeError, resolveDevice } from '../../dist/index.js';
import { fixturePath, rejects, instanceSummary as summary } from './helpers.mjs';

const DEV = resolveDevice('auto').device;
// Images running at once: SOTR_PIPELINE_DEPTH when set (1-4), else 1 on the CPU and 2 on a GPU (ts/model/admission.ts).
const envDepth = Number(process.env.SOTR_PIPELINE_DEPTH);
const DEPTH = Number.isInteger(envDepth) && envDepth >= 1 && envDepth <= 4 ? envDepth : DEV === 'cpu' ? 1 : 2;
const load = (o = {}) => Sotr.load(fixturePath('tiny_sotr.pth'), { onWarning: () => {}, minSize: 40, maxSize: 400, ...o });
const IMAGES = ['img_ratio3.png', 'img_land.png', 'img_pal.png'].map(fixturePath);
const CORRUPT = Buffer.from('not an image at all, just some bytes');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function collect(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** A source that counts what was taken from it and whether it was closed. */
function countingSource(images, { async = false, throwAt = -1 } = {}) {
  const state = { pulled: 0, closed: false };
  function* gen() {
    try {
      for (let i = 0; i < images.length; i++) {
        if (i === throwAt) throw new Error('source failed');
        state.pulled++;
        yield images[i];
      }
    } finally {
      state.closed = true;
    }
  }
  // The same images, asynchronously (returning it returns gen(): the for-of closes it).
  async function* agen() {
    for (const x of gen()) {
      yield x;
      await sleep(1);
    }
  }
  return { state, source: async ? agen() : gen() };
}

test('predictEach: the results of single predict calls, in order, from an array, a generator and an async generator', async () => {
  const m = await load();
  try {
    const alone = [];
    for (const x of IMAGES) alone.push(summary(await m.predict(x)));
    const inputs = [...IMAGES, IMAGES[0]];
    const expect = [...alone, alone[0]];
    for (const make of [() => inputs, () => countingSource(inputs).source, () => countingSource(inputs, { async: true }).source]) {
      const items = await collect(m.predictEach(make(), { rle: true }));
      assert.is(items.length, inputs.length);
      items.forEach((it, i) => {
        assert.is(it.index, i);
        assert.is(it.image, inputs[i]);
        assert.is(it.error, undefined);
        assert.equal(summary(it.prediction), expect[i]);
      });
    }
    assert.is(m.pendingImages, 0);
  } finally {
    await m.dispose();
  }
});

test('predictEach: a bad image is its own error item; the images around it keep their results (predict([...]) still throws)', async () => {
  const m = await load();
  try {
    const inputs = [IMAGES[0], CORRUPT, IMAGES[1], fixturePath('no-such-file.png'), IMAGES[2]];
    const items = await collect(m.predictEach(inputs));
    assert.equal(items.map((it) => it.index), [0, 1, 2, 3, 4]);
    assert.ok(items[1].error instanceof ImageDecodeError, String(items[1].error));
    assert.is(items[1].prediction, undefined);
    assert.ok(items[3].error instanceof Error);
    for (const i of [0, 2, 4]) {
      assert.is(items[i].error, undefined);
      assert.equal(summary(items[i].prediction), summary(await m.predict(inputs[i])));
    }
    await rejects(() => m.predict([IMAGES[0], CORRUPT, IMAGES[1]]), (e) => e instanceof ImageDecodeError);
    assert.is(m.pendingImages, 0);
  } finally {
    await m.dispose();
  }
});

test('predictEach: takes from the source only as the pipeline has room (a slow consumer holds it back)', async () => {
  const m = await load();
  try {
    const inputs = Array.from({ length: 8 }, (_, i) => IMAGES[i % IMAGES.length]);
    const { state, source } = countingSource(inputs);
    const it = m.predictEach(source);
    const first = await it.next();
    assert.is(first.value.index, 0);
    await sleep(300); // the consumer is busy: the images taken ahead finish, nothing more is taken
    assert.ok(state.pulled <= 1 + DEPTH + 1, `pulled ${state.pulled} with one item consumed`);
    assert.ok(m.pendingImages <= DEPTH + 1, `pending ${m.pendingImages}`);
    const rest = [];
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      rest.push(r.value.index);
      assert.ok(state.pulled <= r.value.index + 1 + DEPTH + 1);
    }
    assert.equal(rest, [1, 2, 3, 4, 5, 6, 7]);
    assert.ok(state.closed);
  } finally {
    await m.dispose();
  }
});

test('predictEach: leaving the loop early closes the source and cancels the images taken ahead; the model goes on', async () => {
  const m = await load();
  try {
    const { state, source } = countingSource(Array.from({ length: 10 }, (_, i) => IMAGES[i % 3]), { async: true });
    let seen = 0;
    for await (const item of m.predictEach(source)) {
      assert.is(item.error, undefined);
      if (++seen === 2) break;
    }
    assert.ok(state.closed, 'source.return() was called');
    assert.ok(state.pulled < 10);
    assert.is(m.pendingImages, 0, 'nothing left running once the loop has left');
    assert.ok((await m.predict(IMAGES[0])).instances.length >= 0);
  } finally {
    await m.dispose();
  }
});

test('predictEach: an abort throws AbortError (items already yielded are the caller\'s), a throwing source throws its error', async () => {
  const m = await load();
  try {
    const ac = new AbortController();
    const { state, source } = countingSource(Array.from({ length: 10 }, (_, i) => IMAGES[i % 3]));
    const got = [];
    await rejects(
      async () => {
        for await (const item of m.predictEach(source, { signal: ac.signal })) {
          got.push(item.index);
          if (item.index === 1) ac.abort();
        }
      },
      (e) => e instanceof AbortError,
    );
    assert.equal(got, [0, 1]);
    assert.ok(state.closed);
    assert.is(m.pendingImages, 0);

    const bad = countingSource(IMAGES, { throwAt: 2 });
    const seen = [];
    await rejects(
      async () => {
        for await (const item of m.predictEach(bad.source)) seen.push(item.index);
      },
      (e) => e.message === 'source failed',
    );
    assert.equal(seen, [0, 1]);
    assert.is(m.pendingImages, 0);
  } finally {
    await m.dispose();
  }
});

test('predictEach: a raw frame is copied when taken, so a source may reuse one buffer for every frame', async () => {
  const m = await load();
  try {
    const W = 96, H = 64;
    const frame = (k) => {
      const d = new Uint8Array(W * H * 3);
      for (let i = 0; i < d.length; i++) d[i] = (i * (k + 3) + ((i / (W * 3)) | 0) * 7 * k) & 255;
      return d;
    };
    const expect = [];
    for (let k = 0; k < 4; k++) expect.push(summary(await m.predict({ data: frame(k), width: W, height: H, channels: 3, format: 'bgr' })));
    const shared = new Uint8Array(W * H * 3);
    function* camera() {
      for (let k = 0; k < 4; k++) {
        shared.set(frame(k));
        yield { data: shared, width: W, height: H, channels: 3, format: 'bgr' };
      }
    }
    const items = await collect(m.predictEach(camera()));
    assert.equal(items.map((it) => summary(it.prediction)), expect);
  } finally {
    await m.dispose();
  }
});

test('predictEach and dispose: the images taken are yielded, then the iteration ends with DisposedError', async () => {
  const m = await load();
  const it = m.predictEach(Array.from({ length: 6 }, (_, i) => IMAGES[i % 3]));
  const first = await it.next();
  assert.is(first.value.error, undefined);
  const disposed = m.dispose();
  const later = [];
  await rejects(
    async () => {
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        later.push(r.value);
      }
    },
    (e) => e instanceof DisposedError,
  );
  await disposed;
  // The images taken ahead of the consumer before dispose() are still yielded, with their results.
  assert.is(later.length, DEPTH, `${later.length} images were already taken`);
  for (const item of later) assert.is(item.error, undefined, 'taken before dispose: they finish');
  assert.throws(() => m.predictEach(IMAGES), (e) => e instanceof DisposedError);
});

test('predictEach: bad arguments are refused at the call, once, with typed errors', async () => {
  const m = await load();
  try {
    const bytes = readFileSync(IMAGES[0]);
    for (const [bad, what] of [
      ['photo.jpg', 'a string'],
      [bytes, 'bytes'],
      [{ data: new Uint8Array(12), width: 2, height: 2, channels: 3, format: 'bgr' }, 'a raw image'],
      [null, 'null'],
      [42, 'number'],
      [{}, 'object'],
    ]) {
      assert.throws(() => m.predictEach(bad), (e) => e instanceof SotrTypeError && e.message.includes(what), what);
    }
    assert.throws(() => m.predictEach(IMAGES, { scoreTreshold: 0.3 }), (e) => e instanceof SotrTypeError && /scoreThreshold/.test(e.message));
    assert.throws(() => m.predictEach(IMAGES, { scoreThreshold: 2 }), (e) => e instanceof SotrRangeError && /predictEach: scoreThreshold/.test(e.message));
    assert.throws(() => m.predictEach(IMAGES, { contours: { mode: 'tree' } }), (e) => e instanceof SotrRangeError);
    assert.throws(() => m.predictEach(IMAGES, { signal: {} }), (e) => e instanceof SotrTypeError);
    // An iterator without next(): an error from the first step, not a crash.
    await rejects(() => m.predictEach({ [Symbol.iterator]: () => ({}) }).next(), (e) => e instanceof SotrTypeError);
    // An empty source: no items, nothing pending.
    assert.equal(await collect(m.predictEach([])), []);
    assert.is(m.pendingImages, 0);
  } finally {
    await m.dispose();
  }
});

test('a long-lived signal given to many calls keeps no listeners behind (a server\'s shutdown signal)', async () => {
  const m = await load();
  try {
    const shutdown = new AbortController();
    for (let i = 0; i < 20; i++) {
      await m.predict([IMAGES[i % 3], IMAGES[(i + 1) % 3]], { signal: shutdown.signal });
      await m.predict(IMAGES[i % 3], { signal: shutdown.signal });
      for await (const item of m.predictEach(IMAGES, { signal: shutdown.signal })) if (item.index === 1 && i % 2) break;
    }
    assert.is(getEventListeners(shutdown.signal, 'abort').length, 0);
  } finally {
    await m.dispose();
  }
});

// The GPU's pipeline (two images running at once) on any machine: this file again with SOTR_PIPELINE_DEPTH=2.
if (!process.env.SOTR_PIPELINE_DEPTH) {
  test('predictEach with two images running at once (SOTR_PIPELINE_DEPTH=2, as on a GPU): this file passes', () => {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url)], { encoding: 'utf8', env: { ...process.env, SOTR_PIPELINE_DEPTH: '2' }, timeout: 240_000 });
    assert.is(r.status, 0, `${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
  });
}

test.run();
