// The native post-processing ops (selectCandidates, gatherKernels, rankCandidates) against the TypeScript they
// replaced (./postprocess_reference.mjs), bit for bit: on random level maps (awkward grids, ties, NaN and
// infinities, thresholds at both ends), on a sweep of float32 logits through the sigmoid, and end to end on the
// fixture model (the whole old post-processing on a prediction's intermediates gives the same instances).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Sotr, Tensor, shortestEdgeSize, ShapeError, SotrRangeError, SotrTypeError, selectCandidates, gatherKernels, gatherRows, rankCandidates } from '../../dist/index.js';
import * as ref from './postprocess_reference.mjs';
import { fixturePath, rejects } from './helpers.mjs';

function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

const bits = (a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const sameBits = (a, b, what) => {
  assert.is(a.length, b.length, `${what}: length`);
  assert.ok(Buffer.compare(bits(a), bits(b)) === 0, `${what}: differs`);
};

async function opCandidates(levels, C, strides, threshold) {
  const cate = levels.map((l) => Tensor.from(l.cate, [1, C, l.n, l.n]));
  try {
    const c = await selectCandidates(cate, { threshold, strides });
    try {
      const [cells, labels, scores, st, rows, distinctCells] = await Promise.all(
        [c.cells, c.labels, c.scores, c.strides, c.rows, c.distinctCells].map((t) => t.data()),
      );
      return { count: c.count, cells, labels, scores, strides: st, distinct: c.distinct, rows, distinctCells };
    } finally {
      for (const t of [c.cells, c.labels, c.scores, c.strides, c.rows, c.distinctCells]) t.dispose();
    }
  } finally {
    for (const t of cate) t.dispose();
  }
}

function randomLevels(r, grids, C, kind) {
  return grids.map((n) => {
    const cate = new Float32Array(C * n * n);
    for (let i = 0; i < cate.length; i++) {
      cate[i] = kind === 'ties' ? Math.floor(r() * 5) - 2 : -6 + 9 * r();
      if (kind === 'special') {
        const k = Math.floor(r() * 20);
        if (k === 0) cate[i] = NaN;
        if (k === 1) cate[i] = Infinity;
        if (k === 2) cate[i] = -Infinity;
        if (k === 3) cate[i] = -120;
      }
    }
    return { cate, n };
  });
}

const CASES = [
  { grids: [1], C: 1, t: 0.1, kind: 'uniform' },
  { grids: [2, 3], C: 5, t: 0.1, kind: 'uniform' },
  { grids: [7, 1, 4], C: 3, t: 0.1, kind: 'ties' },
  { grids: [5, 3], C: 4, t: 0, kind: 'ties' },
  { grids: [6], C: 2, t: 0.5, kind: 'uniform' },
  { grids: [6, 2], C: 3, t: 1, kind: 'uniform' },
  { grids: [9, 4], C: 3, t: 0.1, kind: 'special' },
  { grids: [9], C: 3, t: 0, kind: 'special' },
  { grids: [40, 36, 24, 16, 12], C: 80, t: 0.1, kind: 'uniform' },
];

for (const [i, c] of CASES.entries()) {
  test(`selectCandidates = the TypeScript steps 1 and 3 (C ${c.C}, grids ${c.grids.join('/')}, threshold ${c.t}, ${c.kind})`, async () => {
    const levels = randomLevels(rng(100 + i), c.grids, c.C, c.kind);
    const strides = c.grids.map((_, l) => 8 << l);
    const want = ref.selectCandidates(levels, c.C, strides, c.t);
    const got = await opCandidates(levels, c.C, strides, c.t);
    assert.is(got.count, want.count);
    sameBits(got.cells, want.cells, 'cells');
    sameBits(got.labels, want.labels, 'labels');
    sameBits(got.scores, want.scores, 'scores');
    sameBits(got.strides, want.strides, 'strides');
    // Each candidate's cell is its distinct cell; the distinct cells ascend, each once.
    const cells = Array.from(want.cells).slice(0, want.count);
    const distinct = [...new Set(cells)];
    assert.is(got.distinct, distinct.length);
    sameBits(got.distinctCells, Int32Array.from(distinct), 'distinctCells');
    const rowOf = new Map(distinct.map((cell, row) => [cell, row]));
    sameBits(got.rows, Int32Array.from(cells, (cell) => rowOf.get(cell)), 'rows');
  });
}

test('selectCandidates: the float32 sigmoid equals sigmoid32 (Math.exp) on a million logits', async () => {
  // 1x1 grids (no neighbours, nothing suppressed), threshold 0: every logit's probability comes back.
  const C = 131072;
  const r = rng(7);
  const u32 = new Uint32Array(1);
  const f = new Float32Array(u32.buffer);
  const levels = [];
  for (let l = 0; l < 8; l++) {
    const cate = new Float32Array(C);
    for (let i = 0; i < C; i++) {
      if (l < 4) cate[i] = -110 + 140 * r(); // uniform over the range where the sigmoid is neither 0 nor 1
      else {
        // random float32 bit patterns of magnitude below 128 (every exponent, tiny ones included)
        do u32[0] = Math.floor(r() * 2 ** 32);
        while (!(Math.abs(f[0]) < 128));
        cate[i] = f[0];
      }
    }
    levels.push({ cate, n: 1 });
  }
  // One class per logit: reshape [C, 1, 1].
  const want = ref.selectCandidates(levels, C, Array(8).fill(8), 0);
  const got = await opCandidates(levels, C, Array(8).fill(8), 0);
  assert.ok(want.count > 900000, `${want.count} candidates`);
  assert.is(got.count, want.count);
  sameBits(got.scores, want.scores, 'probabilities');
  sameBits(got.labels, want.labels, 'labels');
});

test('gatherKernels = the TypeScript gather (levels concatenated, first and last cells)', async () => {
  const r = rng(3);
  const grids = [3, 1, 2];
  const D = 5;
  const levels = grids.map((n) => ({ n, kernel: Float32Array.from({ length: D * n * n }, () => r() - 0.5) }));
  const cells = Int32Array.from([0, 13, 9, 10, 4, 0, 12]);
  const want = ref.gatherKernels(levels, cells, D);
  const ct = Tensor.from(cells, [cells.length]);
  const ks = levels.map((l) => Tensor.from(l.kernel, [1, D, l.n, l.n]));
  const out = await gatherKernels(ct, ks);
  assert.equal(out.shape, [cells.length, D]);
  sameBits(await out.data(), want, 'kernels');
  out.dispose();
  const bad = Tensor.from(Int32Array.from([14]), [1]);
  await rejects(() => gatherKernels(bad, ks), (e) => e instanceof SotrRangeError && /outside/.test(e.message));
  for (const t of [ct, bad, ...ks]) t.dispose();
});

for (const [i, c] of [
  { n: 1, nmsPre: 1, ties: false },
  { n: 7, nmsPre: 3, ties: false },
  { n: 200, nmsPre: 500, ties: true },
  { n: 3001, nmsPre: 500, ties: false },
  { n: 50, nmsPre: 50, ties: true, allSmall: true },
].entries()) {
  test(`rankCandidates = the TypeScript steps 7-9 (n ${c.n}, nmsPre ${c.nmsPre}${c.ties ? ', ties' : ''}${c.allSmall ? ', all filtered' : ''})`, async () => {
    const r = rng(40 + i);
    const n = c.n;
    const H = 3;
    const W2 = 4;
    const cand = {
      count: n,
      scores: Float32Array.from({ length: n }, () => (c.ties ? 0.25 * (1 + Math.floor(r() * 3)) : 0.1 + 0.9 * r())),
      strides: Float32Array.from({ length: n }, () => 8 << Math.floor(r() * 3)),
      labels: Int32Array.from({ length: n }, () => Math.floor(r() * 5)),
    };
    const areas = Int32Array.from({ length: n }, () => (c.allSmall ? Math.floor(r() * 9) : Math.floor(r() * 60)));
    const soft = Float32Array.from(areas, (a) => (c.ties ? 0.5 * a : a * (0.5 + 0.5 * r())));
    const masks = Int32Array.from({ length: n * H * W2 }, () => Math.floor(r() * 2 ** 31));
    const boxes = Int32Array.from({ length: 4 * n }, () => Math.floor(r() * 100));
    const want = ref.rankCandidates(cand, areas, soft, c.nmsPre);
    const t = {
      scores: Tensor.from(cand.scores, [n]),
      strides: Tensor.from(cand.strides, [n]),
      labels: Tensor.from(cand.labels, [n]),
      areas: Tensor.from(areas, [n]),
      softSums: Tensor.from(soft, [n]),
      masks: Tensor.from(masks, [n, H, W2]),
      boxes: Tensor.from(boxes, [n, 4]),
    };
    const got = await rankCandidates(t, { nmsPre: c.nmsPre });
    try {
      assert.is(got.afterAreaFilter, want.afterAreaFilter);
      assert.is(got.kept, want.pre.length);
      sameBits(await got.order.data(), Int32Array.from(want.pre), 'order');
      sameBits(await got.scores.data(), Float32Array.from(want.pre, (j) => want.score1[j]), 'scores');
      sameBits(await got.labels.data(), Int32Array.from(want.pre, (j) => cand.labels[j]), 'labels');
      const sel = ref.selectMasks({ count: n, height: H, width: 64 * W2 / 2, words: W2, data: new Uint32Array(masks.buffer), areas, softSums: soft, boxes }, want.pre);
      sameBits(new Uint32Array((await got.masks.data()).buffer), sel.data, 'masks');
      sameBits(await got.areas.data(), sel.areas, 'areas');
      sameBits(await got.softSums.data(), sel.softSums, 'softSums');
      sameBits(await got.boxes.data(), sel.boxes, 'boxes');
    } finally {
      for (const x of [...Object.values(t), got.order, got.scores, got.labels, got.areas, got.softSums, got.masks, got.boxes]) x.dispose();
    }
  });
}

test('rankCandidates without masks: the same ranking, nothing gathered; gatherRows by order gathers the same; an empty [n, 0, 0] placeholder still works', async () => {
  // What the model does (steps 7-10): rank on the statistics alone, then gather the kept masks where they are.
  const r = rng(77);
  const n = 900;
  const [H, W2] = [5, 6];
  const t = {
    scores: Tensor.from(Float32Array.from({ length: n }, () => 0.1 + 0.9 * r()), [n]),
    strides: Tensor.from(Float32Array.from({ length: n }, () => 8 << Math.floor(r() * 3)), [n]),
    labels: Tensor.from(Int32Array.from({ length: n }, () => Math.floor(r() * 5)), [n]),
    areas: Tensor.from(Int32Array.from({ length: n }, () => Math.floor(r() * 60)), [n]),
    softSums: Tensor.from(Float32Array.from({ length: n }, () => 30 * r()), [n]),
    masks: Tensor.from(Int32Array.from({ length: n * H * W2 }, () => Math.floor(r() * 2 ** 31)), [n, H, W2]),
    boxes: Tensor.from(Int32Array.from({ length: 4 * n }, () => Math.floor(r() * 100)), [n, 4]),
  };
  const placeholder = Tensor.from(new Int32Array(0), [n, 0, 0]);
  const full = await rankCandidates(t, { nmsPre: 500 });
  const { masks: _, ...stats } = t;
  const light = await rankCandidates(stats, { nmsPre: 500 });
  const held = await rankCandidates({ ...t, masks: placeholder }, { nmsPre: 500 });
  const gathered = [];
  try {
    assert.is(light.afterAreaFilter, full.afterAreaFilter);
    assert.is(light.kept, full.kept);
    assert.ok(full.kept > 100 && full.kept <= 500, `${full.kept} kept`);
    for (const k of ['order', 'scores', 'labels', 'areas', 'softSums', 'boxes']) sameBits(await light[k].data(), await full[k].data(), k);
    assert.is(light.masks, undefined);
    assert.equal(held.masks.shape, [held.kept, 0, 0]);
    sameBits(await held.order.data(), await full.order.data(), 'order with the placeholder');
    for (const k of ['masks', 'areas', 'softSums', 'boxes']) {
      const g = await gatherRows(t[k], light.order);
      gathered.push(g);
      assert.equal(g.shape, full[k].shape);
      sameBits(await g.data(), await full[k].data(), `gatherRows(${k}, order)`);
    }
  } finally {
    const outs = (x) => [x.order, x.scores, x.labels, x.areas, x.softSums, x.masks, x.boxes].filter(Boolean);
    for (const x of [...Object.values(t), placeholder, ...outs(full), ...outs(light), ...outs(held), ...gathered]) x.dispose();
  }
});

test('the ops reject bad arguments with typed errors', async () => {
  const a = Tensor.from(new Float32Array(2 * 4), [1, 2, 2, 2]);
  const b = Tensor.from(new Float32Array(3), [1, 3, 1, 1]);
  await rejects(() => selectCandidates([a, b], { threshold: 0.1, strides: [8, 8] }), (e) => e instanceof ShapeError && /same class count/.test(e.message));
  await rejects(() => selectCandidates([a], { threshold: 0.1, strides: [8, 8] }), (e) => e instanceof SotrRangeError && /one number per level/.test(e.message));
  await rejects(() => selectCandidates([a], { threshold: NaN, strides: [8] }), (e) => e instanceof SotrRangeError);
  await rejects(() => selectCandidates([], { threshold: 0.1, strides: [] }), (e) => e instanceof SotrTypeError);
  const s = Tensor.from(new Float32Array(2), [2]);
  const i2 = Tensor.from(new Int32Array(2), [2]);
  const i3 = Tensor.from(new Int32Array(3), [3]);
  const m = Tensor.from(new Int32Array(4), [2, 1, 2]);
  const bx = Tensor.from(new Int32Array(8), [2, 4]);
  await rejects(
    () => rankCandidates({ scores: s, strides: s, labels: i3, areas: i2, softSums: s, masks: m, boxes: bx }),
    (e) => e instanceof ShapeError && /labels/.test(e.message),
  );
  await rejects(() => rankCandidates({ scores: s, strides: s, labels: i2, areas: i2, softSums: s, masks: m, boxes: bx }, { nmsPre: 0 }), (e) => e instanceof SotrRangeError);
  for (const t of [a, b, s, i2, i3, m, bx]) t.dispose();
});

// End to end: the model's post-processing (native ops) = the old TypeScript one on the same intermediates.
const quiet = { onWarning: () => {} };
function image(W, H, seed) {
  const r = rng(seed);
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++)
      for (let c = 0; c < 3; c++) data[(y * W + x) * 3 + c] = ((x * (c + 1) + y * 3) / 5 + r() * 40) & 255;
  return { data, width: W, height: H, channels: 3, format: 'bgr' };
}

for (const [name, load, W, H, opts] of [
  ['800x1093, defaults (thousands of candidates)', { minSize: 800, maxSize: 1333 }, 1093, 800, {}],
  ['a small image, linear kernel, nmsPre 7, maxPerImage 5', { minSize: 160, maxSize: 400 }, 157, 203, { nmsKernel: 'linear', nmsPre: 7, maxPerImage: 5 }],
  ['scoreThreshold 0.3, minScore 0.2', { minSize: 320, maxSize: 600 }, 331, 290, { scoreThreshold: 0.3, minScore: 0.2 }],
]) {
  test(`tiny model, ${name}: the same instances as the TypeScript post-processing`, async () => {
    const m = await Sotr.load(fixturePath('tiny_sotr.pth'), { ...quiet, ...load, device: 'cpu' });
    try {
      const img = image(W, H, W + H);
      const p = await m.predict(img, { ...opts, intermediates: true });
      const o = {};
      for (const k of ['scoreThreshold', 'maskThreshold', 'nmsPre', 'updateThreshold', 'maxPerImage', 'nmsKernel', 'nmsSigma', 'minScore']) o[k] = opts[k] ?? m.config[k];
      const it = p.intermediates;
      const h = it.input.shape[2];
      const sizes = { height: 0, width: 0, originalHeight: H, originalWidth: W };
      // The resized size before padding, as the model computed it.
      [sizes.height, sizes.width] = shortestEdgeSize(H, W, m.config.minSize, m.config.maxSize);
      assert.ok(h >= sizes.height);
      const want = await ref.referencePostprocess(it, m.config, o, sizes);
      assert.equal(it.trace, want.trace);
      assert.ok(want.instances.length > 0, 'instances found');
      assert.is(p.instances.length, want.instances.length);
      for (let k = 0; k < want.instances.length; k++) {
        const a = p.instances[k];
        const b = want.instances[k];
        assert.is(a.label, b.label, `instance ${k}: label`);
        assert.ok(Object.is(a.score, b.score), `instance ${k}: score ${a.score} vs ${b.score}`);
        sameBits(a.mask.data, b.mask.data, `instance ${k}: mask`);
      }
    } finally {
      await m.dispose();
    }
  });
}

test.run();
