// evaluateCoco on damaged ground truth and results: one field of an image, an annotation, a category or a result
// replaced by an odd value (null, NaN, a huge number, a string, an empty or short list, an object of the wrong
// shape), thousands of times; each evaluation must finish, or fail with a typed error. Before 2026-11-27 an RLE
// whose runs did not cover its size made the run walk (maskApi.c's, which pycocotools hangs on too) never end, a
// huge polygon coordinate or image size tried to rasterise for ever, and a result without a bbox threw a plain
// TypeError. Seeded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { evaluateCoco, encodeRleCounts, SotrRangeError } from '../../dist/index.js';
import { seededRandom, isTypedError } from '../helpers/fuzz.mjs';

const { r01, pick } = seededRandom(5);

const base = () => ({
  images: [{ id: 1, height: 20, width: 30 }, { id: 2, height: 10, width: 10 }],
  annotations: [
    { id: 1, image_id: 1, category_id: 1, segmentation: [[1, 1, 10, 1, 10, 10, 1, 10]], area: 81, bbox: [1, 1, 9, 9], iscrowd: 0 },
    { id: 2, image_id: 2, category_id: 2, segmentation: { size: [10, 10], counts: [0, 10, 90] }, area: 10, bbox: [0, 0, 1, 10], iscrowd: 1 },
  ],
  categories: [{ id: 1 }, { id: 2 }],
});
const results = () => [
  { image_id: 1, category_id: 1, score: 0.9, segmentation: { size: [20, 30], counts: encodeRleCounts([21, 9, 11, 9, 550]) }, bbox: [1, 1, 9, 9] },
  { image_id: 2, category_id: 2, score: 0.5, bbox: [0, 0, 5, 5] },
];
const ODD = [null, undefined, -1, NaN, Infinity, 1e12, 'x', '', [], [1], [[]], [[1e12, 0, 5, 5, 0, 9]], {}, { size: [1] }, { counts: 5 }, true, 0];

test('the undamaged set evaluates', async () => {
  for (const iouType of ['segm', 'bbox']) {
    const { stats } = await evaluateCoco(base(), results(), iouType);
    assert.ok(stats.length === 12 && stats.every(Number.isFinite), `${iouType}: ${stats}`);
  }
});

test('an RLE whose runs do not cover its size is refused, not walked for ever', async () => {
  const gt = base();
  gt.annotations[1].segmentation = { size: [10, 10], counts: '0:0' }; // runs 0, 10, 0: 10 pixels of 100
  try {
    await evaluateCoco(gt, results(), 'segm');
    assert.unreachable('no error');
  } catch (e) {
    assert.instance(e, SotrRangeError);
    assert.match(e.message, /runs cover 10 pixels, its size 10 x 10 has 100/);
  }
});

test('damaged ground truth and results: an evaluation, or a typed error', async () => {
  let ok = 0;
  for (let k = 0; k < 3000; k++) {
    const gt = base();
    const rs = results();
    const target = pick([gt.images[0], gt.annotations[0], gt.annotations[1], gt.categories[0], rs[0], rs[1], gt, rs[0].segmentation, gt.annotations[1].segmentation]);
    const keys = Object.keys(target);
    const key = pick(keys);
    target[key] = pick(ODD);
    const iouType = pick(['segm', 'bbox']);
    const given = r01() < 0.05 ? pick(ODD) : rs;
    try {
      await evaluateCoco(gt, given, iouType);
      ok++;
    } catch (e) {
      if (!isTypedError(e)) assert.unreachable(`${key} = ${JSON.stringify(target[key])} (${iouType}): ${e?.constructor?.name}: ${e?.message}`);
    }
  }
  assert.ok(ok > 500, `only ${ok} evaluations ran`);
});

// Evaluations run concurrently share no state: each yields to the event loop (every ~8 ms) in the middle of its
// cells, where the others then run; reused buffers (the decoded RLE runs, the polygon rasteriser's arrays, a
// cell's run pool) must never carry one evaluation's data into another's.
test('concurrent evaluations (segm and bbox, interleaved at their yields) each equal the same evaluation alone', async () => {
  const { r01: rnd } = seededRandom(11);
  const H = 120, W = 160;
  const gt = { images: [], annotations: [], categories: [{ id: 1 }, { id: 2 }, { id: 3 }] };
  const rs = [];
  const rleOfBox = (x, y, w, h) => {
    const counts = [];
    let last = 0;
    for (let c = x; c < x + w; c++) { counts.push(c * H + y - last, h); last = c * H + y + h; }
    counts.push(H * W - last);
    return { size: [H, W], counts: encodeRleCounts(counts) };
  };
  const box = () => { const w = 5 + Math.floor(rnd() * 60), h = 5 + Math.floor(rnd() * 60); return [Math.floor(rnd() * (W - w)), Math.floor(rnd() * (H - h)), w, h]; };
  for (let i = 1; i <= 150; i++) {
    gt.images.push({ id: i, height: H, width: W });
    for (let k = 0; k < 6; k++) {
      const [x, y, w, h] = box();
      const poly = [x, y, x + w, y, x + w, y + h, x, y + h];
      gt.annotations.push({ id: gt.annotations.length + 1, image_id: i, category_id: 1 + (k % 3), segmentation: [poly], area: w * h, bbox: [x, y, w, h], iscrowd: k === 5 ? 1 : 0 });
    }
    for (let k = 0; k < 25; k++) {
      const [x, y, w, h] = box();
      rs.push({ image_id: i, category_id: 1 + (k % 3), score: rnd(), segmentation: rleOfBox(x, y, w, h), bbox: [x, y, w, h] });
    }
  }
  const alone = {};
  for (const t of ['segm', 'bbox']) alone[t] = JSON.stringify(await evaluateCoco(structuredClone(gt), structuredClone(rs), t));
  let yields = 0;
  const ticker = setInterval(() => yields++, 1);
  const order = ['segm', 'bbox', 'segm', 'segm', 'bbox'];
  const got = await Promise.all(order.map((t) => evaluateCoco(structuredClone(gt), structuredClone(rs), t)));
  clearInterval(ticker);
  got.forEach((g, k) => assert.is(JSON.stringify(g), alone[order[k]], `${order[k]} #${k}`));
  assert.ok(yields > 0, 'the evaluations yielded to the event loop (they interleaved)');
});

test.run();
