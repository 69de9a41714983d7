// The derived-weight cache shared by conv2d (packed weights) and twin
// attention (concatenated projections): hits on reuse, entries freed with
// their weights, a budget from SOTR_WEIGHT_CACHE_MB, results unchanged.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { Tensor, Sotr, conv2d, matmul, twinAttention, weightCacheInfo, clearWeightCache } from '../../dist/index.js';
import { fixturePath } from '../model/helpers.mjs';

const entry = new URL('../../dist/index.js', import.meta.url).pathname;
const rand = (n, seed) => {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) - 0.5);
};
const t = (shape, seed) => Tensor.from(rand(shape.reduce((a, b) => a * b, 1), seed), shape);

test('conv2d: the first call packs, later calls hit, disposing the weight frees the entry', async () => {
  clearWeightCache();
  const x = t([1, 8, 9, 7], 1);
  const w = t([16, 8, 3, 3], 2);
  const before = weightCacheInfo();
  const a = await conv2d(x, w, { padding: 1 });
  const mid = weightCacheInfo();
  assert.is(mid.entries, before.entries + 1);
  assert.is(mid.misses, before.misses + 1);
  assert.ok(mid.bytes >= 16 * 8 * 9 * 4, `packed bytes ${mid.bytes}`);
  const b = await conv2d(x, w, { padding: 1 });
  const after = weightCacheInfo();
  assert.is(after.hits, mid.hits + 1);
  assert.is(after.entries, mid.entries);
  assert.equal(Array.from(await b.data()), Array.from(await a.data()), 'a cache hit gives the same result');
  w.dispose();
  // The storage dies here (no queued work holds it) and takes its entry along.
  assert.is(weightCacheInfo().entries, before.entries, 'the disposed weight no longer holds an entry');
  assert.is(weightCacheInfo().bytes, before.bytes);
  const c = await conv2d(x, t([4, 8, 1, 1], 3));
  assert.is(weightCacheInfo().entries, before.entries + 1);
  for (const z of [x, a, b, c]) z.dispose();
});

test('a weight disposed while queued work still reads it frees its entry when that work ends, no lookup needed', async () => {
  clearWeightCache();
  const x = t([1, 8, 6, 6], 1);
  const w = t([8, 8, 3, 3], 2);
  (await conv2d(x, w, { padding: 1 })).dispose();
  assert.is(weightCacheInfo().entries, 1);
  // Keeps the queue busy (~20 ms on 2 cores: a descheduled test thread on a loaded machine once found a 384³
  // product finished, the queue idle, and the conv run inline, before w.dispose()).
  const big = t([1024, 1024], 3);
  const first = matmul(big, big);
  const second = conv2d(x, w, { padding: 1 }); // holds w until it has run
  w.dispose();
  assert.is(weightCacheInfo().entries, 1, 'the queued conv still holds the weight');
  const [y, z] = await Promise.all([first, second]);
  assert.is(weightCacheInfo().entries, 0, 'freed when the conv finished, before its promise settled');
  for (const q of [x, big, y, z]) q.dispose();
});

test('disposing a model frees every derived weight it made, with no further op call', async () => {
  clearWeightCache();
  const before = weightCacheInfo();
  const m = await Sotr.load(fixturePath('tiny_sotr.pth'), { onWarning: () => {}, minSize: 96, maxSize: 128 });
  await m.predict(fixturePath('img_land.png'));
  const used = weightCacheInfo();
  // CPU: packed and Winograd conv weights, attention projections; CUDA: the attention projections' device copies.
  assert.ok(used.entries > (m.device === 'cpu' ? 10 : 0), `the prediction cached derived weights (${used.entries} entries)`);
  // On a CUDA model the entries are device copies, outside the host budget.
  if (m.device === 'cpu') assert.ok(used.bytes > 0);
  await m.dispose();
  const after = weightCacheInfo();
  assert.is(after.entries, before.entries, 'no entry outlives the model');
  assert.is(after.bytes, before.bytes);
  assert.is(after.hits + after.misses, used.hits + used.misses, 'no lookup happened in between');
});

test('twin attention keeps its projections in the same cache, counted in bytes', async () => {
  clearWeightCache();
  const C = 16;
  const mha = (s) => ({ q: t([C, C], s), kv: t([2 * C, C], s + 1), out: t([C, C], s + 2), outBias: t([C], s + 3) });
  const weights = { col: mha(10), row: mha(20), gCol: 0.5, gRow: 0.25 };
  const x = t([1, C, 4, 6], 5);
  const y1 = await twinAttention(x, weights, { heads: 2 });
  const info = weightCacheInfo();
  assert.is(info.entries, 1);
  assert.ok(info.bytes >= 8 * C * C * 4, `bytes ${info.bytes}`);
  const y2 = await twinAttention(x, weights, { heads: 2 });
  assert.is(weightCacheInfo().hits, info.hits + 1);
  assert.equal(Array.from(await y2.data()), Array.from(await y1.data()));
  for (const z of [x, y1, y2, ...Object.values(weights.col), ...Object.values(weights.row)]) z.dispose();
  await conv2d(t([1, 1, 2, 2], 1), t([1, 1, 1, 1], 2)).then((z) => z.dispose());
  assert.is(weightCacheInfo().entries, 1, 'only the new conv weight is left');
  clearWeightCache();
  assert.is(weightCacheInfo().entries, 0);
});

test('SOTR_WEIGHT_CACHE_MB=0 disables the cache (results unchanged); the old conv-only name still works', () => {
  const code = `
    const { Tensor, conv2d, weightCacheInfo } = await import(${JSON.stringify(entry)});
    const x = Tensor.from(new Float32Array(2 * 5 * 5).fill(0.5), [1, 2, 5, 5]);
    const w = Tensor.from(new Float32Array(3 * 2 * 9).fill(0.25), [3, 2, 3, 3]);
    const a = await (await conv2d(x, w, { padding: 1 })).data();
    const b = await (await conv2d(x, w, { padding: 1 })).data();
    const i = weightCacheInfo();
    console.log(JSON.stringify({ entries: i.entries, limit: i.limitBytes, hits: i.hits, same: a.every((v, k) => v === b[k]), v: a[12] }));
  `;
  const run = (env) => JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, SOTR_WEIGHT_CACHE_MB: '', SOTR_CONV_WEIGHT_CACHE_MB: '', ...env }, encoding: 'utf8' }));
  const off = run({ SOTR_WEIGHT_CACHE_MB: '0' });
  assert.equal({ entries: off.entries, limit: off.limit, hits: off.hits, same: off.same }, { entries: 0, limit: 0, hits: 0, same: true });
  assert.is(off.v, 0.5 * 0.25 * 18);
  const old = run({ SOTR_CONV_WEIGHT_CACHE_MB: '0' });
  assert.is(old.limit, 0);
  const on = run({});
  assert.is(on.entries, 1);
  assert.is(on.hits, 1);
  assert.is(on.limit, 2048 * 1048576);
});

test('a budget too small for the weights in use keeps what fits, rebuilds the rest (notKept), and follows a change of weights', () => {
  // Two 96->96 3x3 weights (Winograd F(2x2) at 8x8, ~0.6 MB derived each) under a 1 MB budget. Used in turn, as a
  // forward pass uses its weights, a least-recently-used cache evicted each entry just before its next use and kept
  // nothing; now the first stays and the second is rebuilt for each call. Then the second alone, used more often
  // lately, takes the place.
  const code = `
    import { Tensor, conv2d, weightCacheInfo } from ${JSON.stringify(entry)};
    const x = Tensor.from(new Float32Array(96 * 8 * 8).fill(0.5), [1, 96, 8, 8]);
    const w = [1, 2].map((k) => Tensor.from(new Float32Array(96 * 96 * 9).fill(0.01 * k), [96, 96, 3, 3]));
    const out = [];
    const info = () => { const i = weightCacheInfo(); return { entries: i.entries, hits: i.hits, misses: i.misses, evictions: i.evictions, notKept: i.notKept, bytes: i.bytes, limit: i.limitBytes }; };
    for (let i = 0; i < 3; i++) for (const wk of w) out.push((await (await conv2d(x, wk, { padding: 1 })).data())[100]);
    const turns = info();
    const alone = [];
    for (let i = 0; i < 4; i++) { out.push((await (await conv2d(x, w[1], { padding: 1 })).data())[100]); alone.push(info()); }
    console.log(JSON.stringify({ turns, alone, out }));
  `;
  const r = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, SOTR_WEIGHT_CACHE_MB: '1', SOTR_CONV_WEIGHT_CACHE_MB: '' }, encoding: 'utf8' }));
  const t = r.turns;
  assert.ok(t.bytes <= t.limit, JSON.stringify(r));
  assert.equal({ entries: t.entries, hits: t.hits, misses: t.misses, evictions: t.evictions, notKept: t.notKept }, { entries: 1, hits: 2, misses: 4, evictions: 0, notKept: 3 }, JSON.stringify(t));
  // The second weight alone: asked 3 times in turn, then 4, 5 (two more than the first's 3): kept from its 5th ask.
  assert.equal(r.alone.map((a) => [a.evictions, a.notKept, a.hits]), [[0, 4, 2], [1, 4, 2], [1, 4, 3], [1, 4, 4]], JSON.stringify(r.alone));
  assert.ok(r.alone.every((a) => a.entries === 1 && a.bytes <= a.limit));
  assert.equal(r.out.slice(0, 2), r.out.slice(4, 6), 'rebuilt weights give the same results');
  assert.equal(r.out.slice(6), [r.out[1], r.out[1], r.out[1], r.out[1]]);
});

test('Winograd: F(2x2) below 2048 output pixels, F(4x4) above; a weight keeps the tile it was first transformed for', async () => {
  // Derived bytes per 3x3 weight: F(2x2) 16/9 of the weight, F(4x4) 36/9 (plus panel padding).
  const C = 48, wBytes = C * C * 9 * 4;
  const small = t([1, C, 24, 48], 1); // 1152 output pixels (the transformer's 24x24 grid, width doubled)
  const large = t([1, C, 40, 80], 2); // 3200 (its 40x40 grid)
  for (const order of [[small, large], [large, small]]) {
    clearWeightCache();
    const w = t([C, C, 3, 3], 3);
    const y0 = await conv2d(order[0], w, { padding: 1 });
    const first = weightCacheInfo();
    assert.is(first.entries, 1);
    const ratio = first.bytes / wBytes;
    if (order[0] === small) assert.ok(ratio > 1.7 && ratio < 2.5, `F(2x2) expected: ${ratio.toFixed(2)}x the weight`);
    else assert.ok(ratio > 3.9 && ratio < 5, `F(4x4) expected: ${ratio.toFixed(2)}x the weight`);
    const y1 = await conv2d(order[1], w, { padding: 1 });
    assert.is(weightCacheInfo().entries, 1, "the second shape reuses the first one's transformed weight");
    assert.is(weightCacheInfo().bytes, first.bytes);
    for (const z of [w, y0, y1]) z.dispose();
  }
  small.dispose();
  large.dispose();
});

test.run();
