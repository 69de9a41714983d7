// predict(): batches, options, profile, abort, dispose, the post-processing rules, and flat memory over 100 predictions.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import v8 from 'node:v8';
import vm from 'node:vm';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Sotr, AbortError, BitMasks, DisposedError, Tensor, matrixNms, memoryInfo, decodeImage, selectCandidates, synchronize, resolveDevice } from '../../dist/index.js';
import { byScoreThenIndex } from '../../dist/model/postprocess.js';
import { fixturePath, rejects, instanceSummary as summary } from './helpers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const quiet = { onWarning: () => {} };
// The device the models load on ('auto': CUDA where available); allocator figures are that device's.
const DEV = resolveDevice('auto').device;
const load = (o = {}) => Sotr.load(fixturePath('tiny_sotr.pth'), { ...quiet, minSize: 40, maxSize: 400, ...o });

// First, so that the other tests' garbage does not blur the RSS figure.
test('100 predictions: allocator live bytes equal; RSS growth reported (bounded)', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const m = await load();
  try {
    const img = await decodeImage(fixturePath('img_ratio3.png'));
    const raw = { data: img.bgr, width: img.width, height: img.height, channels: 3, format: 'bgr' };
    // Warm-up: the allocator, the packed-weight caches and malloc's arenas reach their working size.
    await m.predict(raw);
    for (let i = 0; i < 60; i++) await m.predict(raw);
    await synchronize(DEV);
    gc();
    const live0 = memoryInfo(DEV).liveBytes;
    const rss = [];
    for (let i = 0; i < 100; i++) {
      await m.predict(raw);
      await synchronize(DEV); // the queue drops a finished job's references just after its promise settles
      assert.is(memoryInfo(DEV).liveBytes, live0, `live bytes after prediction ${i}`);
      if (i % 5 === 4) {
        gc();
        rss.push(process.memoryUsage().rss);
      }
    }
    // RSS moves with malloc's arenas and the GC's timing: compare medians of the first and last quarter.
    const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
    const r0 = med(rss.slice(0, 5));
    const r1 = med(rss.slice(-5));
    if (!(r0 > 0)) {
      // Under qemu-user (scripts/arm64-check.sh) the process's RSS reads as 0: nothing to compare.
      console.log('  RSS not available here (reads 0): only the live bytes were checked');
      return;
    }
    const growth = (r1 - r0) / r0;
    console.log(`  RSS ${(r0 / 2 ** 20).toFixed(1)} → ${(r1 / 2 ** 20).toFixed(1)} MiB (${(growth * 100).toFixed(2)}%) over 100 predictions`);
    // Target 2% (issue 7): measured 1.2% (2026-11-26) since the CPU backend reuses freed blocks (from 8 KiB up)
    // instead of handing them back to malloc's arenas (before that, RSS grew with constant live bytes). Bounded at
    // 10% so that GC and arena noise on a loaded machine does not fail it while a real leak (100 predictions) does.
    assert.ok(growth < 0.1, `RSS grew ${(growth * 100).toFixed(2)}%`);
  } finally {
    await m.dispose();
  }
});

test('a batch gives the same per-image results as single calls (paths, buffers, raw pixels)', async () => {
  const m = await load();
  try {
    const d = await decodeImage(fixturePath('img_pal.png'));
    const raw = { data: d.bgr, width: d.width, height: d.height, channels: 3, format: 'bgr' };
    const inputs = [fixturePath('img_ratio3.png'), raw, fixturePath('img_land.png')];
    const batch = await m.predict(inputs);
    assert.is(batch.length, 3);
    for (let i = 0; i < inputs.length; i++) {
      const single = await m.predict(inputs[i]);
      assert.equal(summary(batch[i]), summary(single), `image ${i}`);
    }
    assert.is(batch[1].width, 48);
  } finally {
    await m.dispose();
  }
});

test('a batch with two images in flight (the GPU default) gives the same results; a bad image fails it cleanly', async () => {
  const saved = process.env.SOTR_PIPELINE_DEPTH;
  process.env.SOTR_PIPELINE_DEPTH = '2'; // read when the model loads
  const m = await load();
  try {
    const inputs = [fixturePath('img_ratio3.png'), fixturePath('img_land.png'), fixturePath('img_pal.png'), fixturePath('img_ratio3.png')];
    const batch = await m.predict(inputs);
    assert.is(batch.length, 4);
    for (let i = 0; i < inputs.length; i++) assert.equal(summary(batch[i]), summary(await m.predict(inputs[i])), `image ${i}`);
    await synchronize(DEV);
    const live0 = memoryInfo(DEV).liveBytes;
    const bad = { data: new Uint8Array(5), width: 4, height: 4, channels: 3, format: 'bgr' };
    await rejects(() => m.predict([inputs[0], inputs[1], bad, inputs[2]]), (e) => e.name === 'SotrRangeError' && /5 bytes/.test(e.message));
    await synchronize(DEV);
    assert.is(memoryInfo(DEV).liveBytes, live0, 'the runs in flight when the batch failed left nothing behind');
    assert.equal(summary(await m.predict(inputs[1])), summary(batch[1]), 'the model works on');
  } finally {
    if (saved === undefined) delete process.env.SOTR_PIPELINE_DEPTH;
    else process.env.SOTR_PIPELINE_DEPTH = saved;
    await m.dispose();
  }
});

test('profile gives per-stage times; intermediates give every stage', async () => {
  const m = await load();
  try {
    const r = await m.predict(fixturePath('img_ratio3.png'), { profile: true, intermediates: true });
    const p = r.profile;
    for (const k of ['queue', 'decode', 'resize', 'backbone', 'transformer', 'heads', 'maskBranch', 'postprocess', 'total']) {
      assert.type(p[k], 'number', k);
      assert.ok(p[k] >= 0, k);
    }
    const sum = p.queue + p.decode + p.resize + p.backbone + p.transformer + p.heads + p.maskBranch + p.postprocess;
    assert.ok(Math.abs(sum - p.total) < 1e-6);
    const it = r.intermediates;
    assert.is(it.fpn.length, 5);
    assert.is(it.transformer.length, 5);
    assert.equal(it.transformer.map((t) => t.shape), [40, 36, 24, 16, 12].map((n) => [1, 16, n, n]));
    assert.equal(it.cateLogits[0].shape, [1, 80, 40, 40]);
    assert.equal(it.kernels[4].shape, [1, 32, 12, 12]);
    assert.equal(it.transformerP5.shape, it.fpn[3].shape);
    assert.equal(it.maskFeature.shape, [1, 32, 16, 48]);
    assert.is(it.trace.ratio, 3);
    assert.equal(m.fallbackOps, [], 'every op ran on the model device');
  } finally {
    await m.dispose();
  }
});

test('post-processing options: thresholds, caps, linear kernel, minScore', async () => {
  const m = await load();
  try {
    const img = fixturePath('img_ratio3.png');
    const base = await m.predict(img);
    assert.ok(base.instances.length > 10);
    assert.equal((await m.predict(img, { scoreThreshold: 1 })).instances, []);
    assert.is((await m.predict(img, { maxPerImage: 5 })).instances.length, 5);
    const min = base.instances[4].score;
    const filtered = await m.predict(img, { minScore: min });
    assert.equal(summary(filtered), summary(base).filter((_, i) => base.instances[i].score >= min));
    const fewer = await m.predict(img, { nmsPre: 10 });
    assert.ok(fewer.instances.length <= 10);
    const lin = await m.predict(img, { nmsKernel: 'linear' });
    assert.ok(lin.instances.length > 0);
    const strict = await m.predict(img, { updateThreshold: 0.3 });
    assert.ok(strict.instances.every((i) => i.score >= 0.3));
    await rejects(() => m.predict(img, { maskThreshold: 2 }), (e) => e instanceof RangeError);
    await rejects(() => m.predict(img, { nmsPre: 0 }), (e) => e instanceof RangeError);
  } finally {
    await m.dispose();
  }
});

test('ties: sorts by (score descending, candidate index ascending); point NMS keeps equal neighbours', async () => {
  const scores = Float32Array.from([0.5, 0.7, 0.5, 0.7, 0.1]);
  const idx = Int32Array.from([0, 1, 2, 3, 4]);
  assert.equal([4, 3, 2, 1, 0].sort(byScoreThenIndex(scores, idx)), [1, 3, 0, 2, 4]);
  // one level, 2×2 grid, 1 class: equal logits in a row both survive point NMS
  const cate = Tensor.from(Float32Array.from([3, 3, -9, 1]), [1, 1, 2, 2]);
  const c = await selectCandidates([cate], { threshold: 0.1, strides: [8] });
  assert.equal(Array.from(await c.cells.data()), [0, 1]);
  assert.equal(Array.from(await c.labels.data()), [0, 0]);
  assert.is(c.distinct, 2);
  assert.equal(Array.from(await c.distinctCells.data()), [0, 1]);
  assert.equal(Array.from(await c.rows.data()), [0, 1]);
  for (const t of [cate, c.cells, c.labels, c.scores, c.strides, c.distinctCells, c.rows]) t.dispose();
});

test('Matrix NMS, as the post-processing calls it, follows the reference formula (class-aware, gaussian and linear)', async () => {
  // three 1-row masks of width 8: A = 0..3, B = 2..5 (IoU 2/6 with A), C = 0..3 of another class
  const words = 2;
  const data = new Uint32Array(3 * words);
  data[0] = 0b1111;
  data[2] = 0b111100;
  data[4] = 0b1111;
  const m = new BitMasks({ count: 3, height: 1, width: 8, data });
  assert.equal(Array.from(m.areas), [4, 4, 4]);
  const labels = Int32Array.from([0, 0, 1]);
  const scores = Float32Array.from([0.9, 0.8, 0.7]);
  const g = await matrixNms(m, labels, scores, { kernel: 'gaussian', sigma: 2, device: DEV });
  const iou = 2 / 6;
  assert.ok(Math.abs(g[0] - 0.9) < 1e-7);
  assert.ok(Math.abs(g[1] - 0.8 * Math.exp(-2 * iou * iou)) < 1e-6);
  assert.ok(Math.abs(g[2] - 0.7) < 1e-7, 'another class is not suppressed');
  const l = await matrixNms(m, labels, scores, { kernel: 'linear', sigma: 2, device: DEV });
  assert.ok(Math.abs(l[1] - 0.8 * (1 - iou)) < 1e-6);
});

test('AbortSignal cancels; memory returns to where it was', async () => {
  const m = await load();
  try {
    // A first prediction fills the model's caches (on CUDA, twin attention's device copies of its weights), which
    // an aborted prediction may or may not reach depending on the device's speed.
    await m.predict(fixturePath('img_land.png'));
    await synchronize(DEV);
    const before = memoryInfo(DEV).liveBytes;
    const ac = new AbortController();
    ac.abort();
    await rejects(() => m.predict(fixturePath('img_land.png'), { signal: ac.signal }), (e) => e instanceof AbortError);
    const ac2 = new AbortController();
    const p = m.predict(fixturePath('img_land.png'), { signal: ac2.signal });
    setTimeout(() => ac2.abort(), 5);
    await rejects(() => p, (e) => e instanceof AbortError && e.code === 'SOTR_ABORTED');
    await synchronize(DEV);
    assert.is(memoryInfo(DEV).liveBytes, before);
  } finally {
    await m.dispose();
  }
});

test('dispose waits for predictions in flight, frees everything, and later calls fail', async () => {
  await synchronize(DEV);
  const base = memoryInfo(DEV).liveBytes;
  const m = await load();
  assert.ok(memoryInfo(DEV).liveBytes > base);
  const p = m.predict(fixturePath('img_ratio3.png'));
  const d = m.dispose();
  const r = await p;
  assert.ok(r.instances.length > 0, 'the prediction in flight completed');
  await d;
  assert.is(m.disposed, true);
  await synchronize(DEV);
  assert.is(memoryInfo(DEV).liveBytes, base);
  await rejects(() => m.predict(fixturePath('img_ratio3.png')), (e) => e instanceof DisposedError);
  await m.dispose();
  const m2 = await load();
  const asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose');
  await m2[asyncDispose]();
  assert.is(m2.disposed, true);
  await synchronize(DEV);
  assert.is(memoryInfo(DEV).liveBytes, base);
});

test('warmup() loads the image decoder, so that the first encoded image does not pay for it (~60 ms)', () => {
  const code = `
    const { Sotr } = require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))});
    const loaded = () => Object.keys(require.cache).some((k) => /[\\/]sharp[\\/]lib[\\/]/.test(k));
    (async () => {
      const m = await Sotr.load(${JSON.stringify(fixturePath('tiny_sotr.pth'))}, { minSize: 40, maxSize: 200, onWarning() {} });
      const before = loaded();
      await m.warmup();
      console.log(JSON.stringify({ before, after: loaded() }));
      await m.dispose();
    })();`;
  const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim()), { before: false, after: true });
});

// `await using` / `using` in plain JavaScript, where the runtime parses them (Node 24 and 26 do, 20 and 22 do not:
// the suite also runs under those, scripts/node-versions-check.sh). A module in a child process, since a
// SyntaxError there must not take this file down.
test('plain-JavaScript `await using` and `using` dispose the model and tensors (runtimes that parse them)', async () => {
  const probe = spawnSync(process.execPath, ['--input-type=module', '-e', '{ using x = null; }'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    assert.match(probe.stderr, /SyntaxError/, 'the runtime refuses `using` as a syntax error, nothing else');
    console.log(`  ${process.version} does not parse \`using\` in JavaScript: checked under Node 24 and 26 (scripts/node-versions-check.sh)`);
    return;
  }
  const dist = pathToFileURL(path.join(ROOT, 'dist', 'index.mjs')).href;
  const code = `
    import { Sotr, Tensor, memoryInfo, synchronize, resolveDevice } from ${JSON.stringify(dist)};
    const dev = resolveDevice('auto').device;
    const base = memoryInfo(dev).liveBytes;
    let kept, t;
    {
      await using model = await Sotr.load(${JSON.stringify(fixturePath('tiny_sotr.pth'))}, { minSize: 40, maxSize: 400, onWarning() {} });
      kept = model;
      const r = await model.predict(${JSON.stringify(fixturePath('img_ratio3.png'))});
      if (!r.instances.length) throw new Error('no instances');
      {
        using x = Tensor.from(new Float32Array([1, 2, 3]), [3]);
        t = x;
      }
      if (!t.disposed) throw new Error('using: the tensor is not disposed at the end of its block');
    }
    if (!kept.disposed) throw new Error('await using: the model is not disposed at the end of its block');
    await synchronize(dev);
    if (memoryInfo(dev).liveBytes !== base) throw new Error('live bytes ' + memoryInfo(dev).liveBytes + ' != ' + base);
    console.log('disposed by using');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /disposed by using/);
});

// updateThreshold keeps a decayed score equal to it (SOLO: keep = cate_scores >= update_thr).
test('updateThreshold equal to an instance\'s score keeps that instance', async () => {
  const m = await load();
  try {
    const img = fixturePath('img_ratio3.png');
    const base = await m.predict(img, { updateThreshold: 0 });
    assert.ok(base.instances.length > 1);
    const lowest = base.instances[base.instances.length - 1].score;
    const at = await m.predict(img, { updateThreshold: lowest });
    assert.equal(summary(at), summary(base).filter((_, i) => base.instances[i].score >= lowest));
  } finally {
    await m.dispose();
  }
});

test.run();
