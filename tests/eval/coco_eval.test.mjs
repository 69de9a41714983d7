// COCO evaluation against pycocotools (tests/reference/make_coco_eval_fixtures.py): each ground-truth segmentation
// rasterised as annToRLE does (polygons, multi-part, crowd RLE), the IoU matrices with the crowd rule, and
// COCOeval's 12 numbers and printed lines for 'segm' and 'bbox', with results that carry a bbox (area from the box,
// loadRes' rule) and without.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeRleCounts, evaluateCoco, Mask, masksToRLE, Sotr, toCocoResults, SotrRangeError, SotrTypeError } from '../../dist/index.js';
import { segmentationToRle, rleArea, rleToBox, rleIou } from '../../dist/masks/coco_mask.js';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const fx = JSON.parse(readFileSync(path.join(here, '..', 'fixtures', 'eval', 'coco_eval.json'), 'utf8'));
const gt = fx.groundTruth;
const imgs = new Map(gt.images.map((i) => [i.id, i]));
const annById = new Map(gt.annotations.map((a) => [a.id, a]));

test("ground-truth segmentations rasterise as pycocotools' annToRLE (counts, area, box)", () => {
  let n = 0;
  for (const r of fx.rasters) {
    const a = annById.get(r.id);
    const im = imgs.get(a.image_id);
    const rle = segmentationToRle(a.segmentation, im.height, im.width);
    assert.is(encodeRleCounts(rle.counts), r.counts, `annotation ${r.id} (${a.iscrowd ? 'crowd RLE' : `${a.segmentation.length} polygon(s)`})`);
    assert.is(rleArea(rle), r.area, `area of ${r.id}`);
    assert.equal(rleToBox(rle), r.bbox, `box of ${r.id}`);
    n++;
  }
  assert.ok(n >= 30);
});

test("our RLE writers (Mask.toRLE in JavaScript, masksToRLE native) give pycocotools' encode strings", async () => {
  const segs = fx.results.withBbox.map((r) => r.segmentation);
  const masks = segs.map((s) => Mask.fromRLE(s));
  masks.forEach((m, i) => assert.is(m.toRLE(), segs[i].counts, `result ${i}`));
  (await masksToRLE(masks)).forEach((r, i) => assert.equal(r, segs[i], `result ${i} (native)`));
});

test('mask IoU matrices (crowd: intersection / detection area) = pycocotools', () => {
  for (const c of fx.ious) {
    const im = imgs.get(c.image_id);
    const g = c.gt.map((id) => annById.get(id));
    const rle = (s) => segmentationToRle({ size: [im.height, im.width], counts: s }, im.height, im.width);
    const o = rleIou(c.dt.map(rle), g.map((a) => segmentationToRle(a.segmentation, im.height, im.width)), g.map((a) => Boolean(a.iscrowd)));
    c.iou.forEach((row, d) => row.forEach((v, k) => assert.ok(Math.abs(o[d * g.length + k] - v) < 1e-12, `image ${c.image_id} dt ${d} gt ${k}: ${o[d * g.length + k]} vs ${v}`)));
  }
});

for (const set of ['withBbox', 'segmOnly']) {
  for (const iouType of ['segm', 'bbox']) {
    test(`COCOeval ${iouType}, results ${set === 'withBbox' ? 'with bbox (area from the box)' : 'with segmentation only'}: the 12 numbers and lines of pycocotools`, async () => {
      const want = fx.expected[`${set}.${iouType}`];
      const got = await evaluateCoco(structuredClone(gt), structuredClone(fx.results[set]), iouType);
      // Bit for bit: numpy's pairwise summation is reproduced, so the printed roundings agree too.
      got.stats.forEach((v, i) => assert.is(v, want.stats[i], `stat ${i}`));
      assert.equal(got.lines, want.lines);
      got.perCategory.forEach((c, k) => assert.is(c.ap, want.perCategory[k], `category ${c.categoryId}`));
      assert.is(got.images, gt.images.length);
      const cats = new Set(gt.categories.map((c) => c.id));
      assert.is(got.detections, fx.results[set].filter((r) => cats.has(r.category_id)).length, 'results of categories the annotations have');
    });
  }
}

test("categories (pycocotools' params.catIds): each kept category's AP as pycocotools gives it, the means over them only", async () => {
  const all = gt.categories.map((c) => c.id);
  const keep = [all[all.length - 1], all[0]];
  const named = gt.categories.every((c) => typeof c.name === 'string');
  for (const set of ['withBbox', 'segmOnly']) {
    for (const iouType of ['segm', 'bbox']) {
      const want = fx.expected[`${set}.${iouType}`];
      const got = await evaluateCoco(structuredClone(gt), structuredClone(fx.results[set]), iouType, { categories: keep });
      // Categories are evaluated apart: the kept ones' AP is pycocotools' own.
      assert.equal(got.perCategory.map((c) => c.categoryId), [...keep].sort((a, b) => a - b));
      for (const c of got.perCategory) assert.is(c.ap, want.perCategory[all.indexOf(c.categoryId)], `${set} ${iouType} category ${c.categoryId}`);
      assert.is(got.categories, 2);
      // The same as a ground truth and results that have only these categories.
      const only = (x) => keep.includes(x.category_id);
      const sub = { ...structuredClone(gt), categories: gt.categories.filter((c) => keep.includes(c.id)), annotations: gt.annotations.filter(only) };
      const ref = await evaluateCoco(sub, structuredClone(fx.results[set]).filter(only), iouType);
      assert.equal(got.stats, ref.stats, `${set} ${iouType} stats`);
      assert.equal(got.lines, ref.lines);
      assert.is(got.detections, ref.detections);
      assert.is(got.groundTruths, ref.groundTruths);
      if (named) {
        const byName = await evaluateCoco(structuredClone(gt), structuredClone(fx.results[set]), iouType, { categories: [gt.categories[0].name, keep[0], keep[0]] });
        assert.equal(byName.stats, got.stats, 'by name, with a duplicate');
      }
    }
  }
  const evalWith = (options) => () => evaluateCoco(gt, [], 'segm', options);
  await expectTypedErrors([
    [evalWith({ categories: [123456] }), SotrRangeError, /no category with id 123456/],
    [evalWith({ categories: ['no such category'] }), SotrRangeError, /no category named "no such category"/],
    [evalWith({ categories: 'person' }), SotrTypeError, /categories must be an array/],
    [evalWith({ categories: [{}] }), SotrTypeError, /category ids \(numbers\) or names/],
    [evalWith({ cats: [1] }), SotrTypeError, /cats/],
  ]);
});

test('evaluateCoco: typed errors for a bad iouType, a non-COCO file, a result on an unknown image', async () => {
  const fails = async (fn, Type, re) => {
    try {
      await fn();
    } catch (e) {
      assert.ok(e instanceof Type && re.test(e.message), `${e.constructor.name}: ${e.message}`);
      return;
    }
    assert.unreachable('expected an error');
  };
  await fails(() => evaluateCoco(gt, [], 'keypoints'), SotrRangeError, /iouType/);
  await fails(() => evaluateCoco({ images: [] }, []), SotrTypeError, /annotation file/);
  await fails(() => evaluateCoco(gt, [{ image_id: 999999, category_id: 1, score: 1, bbox: [0, 0, 1, 1] }]), SotrRangeError, /999999/);
  const empty = await evaluateCoco(gt, []);
  assert.equal(empty.stats.slice(0, 3), [0, 0, 0], 'no results: AP 0 where there is ground truth');
});

test('12 categories: means over more than 8192 values sum chunk by chunk as numpy does, bit for bit', async () => {
  const m = fx.manyCategories;
  const got = await evaluateCoco(structuredClone(m.groundTruth), structuredClone(m.results), 'bbox');
  assert.equal(got.stats, m.expected.stats);
  assert.equal(got.lines, m.expected.lines);
});

test('toCocoResults: a prediction as COCO results (the RLE, [x, y, w, h], float32-exact scores); scored against itself, AP 1', async () => {
  const model = await Sotr.load(path.join(here, '..', 'fixtures', 'model', 'tiny_sotr.pth'), { onWarning: () => {}, minSize: 160, maxSize: 300, device: 'cpu' });
  try {
    const img = path.join(here, '..', 'fixtures', 'model', 'img_land.png');
    const p = await model.predict(img);
    const res = toCocoResults(p, 'land');
    assert.is(res.length, p.instances.length);
    res.forEach((r, k) => {
      const inst = p.instances[k];
      assert.is(r.image_id, 'land');
      assert.is(r.category_id, inst.cocoCategoryId);
      assert.is(Math.fround(r.score), inst.score);
      assert.equal(r.bbox, [inst.box[0], inst.box[1], inst.box[2] - inst.box[0], inst.box[3] - inst.box[1]]);
      assert.equal(r.segmentation, inst.mask.toCocoRLE());
    });
    assert.equal(toCocoResults(p.instances, 7).map((r) => r.image_id), res.map(() => 7));
    const gt = {
      images: [{ id: 'land', width: p.width, height: p.height }],
      categories: [...new Set(res.map((r) => r.category_id))].map((id) => ({ id, name: String(id) })),
      annotations: res.filter((r) => p.instances[res.indexOf(r)].mask.area > 0).map((r, i) => ({ id: i + 1, image_id: 'land', category_id: r.category_id, segmentation: r.segmentation, area: p.instances[res.indexOf(r)].mask.area, bbox: r.bbox, iscrowd: 0 })),
    };
    const summary = await evaluateCoco(gt, res.map(({ bbox, ...r }) => r));
    assert.ok(summary.stats[0] > 0.999, `AP ${summary.stats[0]}`);
    assert.throws(() => toCocoResults(null, 1), (e) => e instanceof SotrTypeError);
    assert.throws(() => toCocoResults(p, {}), (e) => e instanceof SotrTypeError);
  } finally {
    await model.dispose();
  }
});

// pycocotools skips a ground truth only when its IoU is below the threshold: an IoU of exactly 0.5 matches at 0.50.
test('a detection whose IoU equals a threshold exactly is matched at that threshold (bbox and segm)', async () => {
  const gt = () => ({
    images: [{ id: 1, height: 20, width: 20 }],
    annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0, segmentation: [[0, 0, 10, 0, 10, 10, 0, 10]] }],
    categories: [{ id: 1 }],
  });
  // [0, 0, 10, 5] inside [0, 0, 10, 10]: intersection 50, union 100.
  const box = await evaluateCoco(gt(), [{ image_id: 1, category_id: 1, score: 0.9, bbox: [0, 0, 10, 5] }], 'bbox');
  assert.ok(box.stats[1] > 0.99, `AP@0.50 ${box.stats[1]}`);
  assert.is(box.stats[2], 0, 'AP@0.75');
  const segm = await evaluateCoco(gt(), [{ image_id: 1, category_id: 1, score: 0.9, segmentation: [[0, 0, 10, 0, 10, 5, 0, 5]] }], 'segm');
  assert.ok(segm.stats[1] > 0.99, `segm AP@0.50 ${segm.stats[1]}`);
});

test('detections with equal scores keep their file order (a stable sort, as pycocotools), past 16 in an image', async () => {
  // One ground truth; 20 detections of one score, the first on it, the rest far away. pycocotools sorts with
  // kind='mergesort' (stable): the match comes first, AP 1. A sort that breaks ties otherwise ranks misses before it.
  const gt = {
    images: [{ id: 1, width: 400, height: 400 }],
    categories: [{ id: 1, name: 'a' }],
    annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [10, 10, 40, 40], area: 1600, iscrowd: 0 }],
  };
  const dets = [{ image_id: 1, category_id: 1, score: 0.5, bbox: [10, 10, 40, 40] }];
  for (let i = 1; i < 20; i++) dets.push({ image_id: 1, category_id: 1, score: 0.5, bbox: [200 + i, 200, 40, 40] });
  const r = await evaluateCoco(structuredClone(gt), structuredClone(dets), 'bbox');
  assert.ok(r.stats[0] > 0.999, `AP ${r.stats[0]}`);
  assert.ok(r.stats[1] > 0.999, `AP@0.50 ${r.stats[1]}`);
  assert.ok(r.stats[6] > 0.999, `AR maxDets 1 ${r.stats[6]}: the first detection in file order is the match`);
});

test.run();
