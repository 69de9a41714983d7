// Bad input to evaluateCoco and toCocoResults: typed errors (SotrTypeError / SotrRangeError with a code) that name
// the bad entry (its index, its id) and what is wrong with it, never a TypeError from reading a property of null,
// and never a silent score.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeRleCounts, evaluateCoco, toCocoResults, SotrRangeError, SotrTypeError } from '../../dist/index.js';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

const gt = () => ({
  images: [{ id: 1, height: 4, width: 4 }],
  annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 2, 2], area: 4, segmentation: [[0, 0, 2, 0, 2, 2, 0, 2]] }],
  categories: [{ id: 1 }],
});
const res = () => ({ image_id: 1, category_id: 1, score: 0.9, bbox: [0, 0, 2, 2] });

test('null entries and holes in the ground truth and the results', async () => {
  const with_ = (part, entry) => {
    const g = gt();
    g[part].push(entry);
    return g;
  };
  await expectTypedErrors([
    [() => evaluateCoco(with_('annotations', null), [res()], 'bbox'), SotrTypeError, /ground-truth annotation 1 is not an object/],
    [() => evaluateCoco(with_('categories', null), [res()], 'bbox'), SotrTypeError, /ground-truth category 1 is not an object/],
    [() => evaluateCoco(with_('categories', 7), [res()], 'bbox', { categories: [1] }), SotrTypeError, /ground-truth category 1 is not an object/],
    [() => evaluateCoco(gt(), [res(), , res()], 'bbox'), SotrTypeError, /result 1 is not an object .*received undefined/],
    [() => evaluateCoco(gt(), [res(), null], 'segm'), SotrTypeError, /result 1 is not an object .*received null/],
  ]);
});

// Which input and entry is at fault, in `details` (CocoEvalErrorDetails), so that a caller need not parse the message.
test('errors say where: details.input (results, groundTruth, options), the part and the index', async () => {
  const detailsOf = async (fn) => {
    try {
      await fn();
    } catch (e) {
      assert.ok(e instanceof SotrTypeError || e instanceof SotrRangeError, String(e));
      return e.details;
    }
    assert.unreachable('no error');
  };
  const g = gt();
  const badRle = { size: [4, 4], counts: '!!' };
  assert.equal(await detailsOf(() => evaluateCoco(g, [res(), res(), null], 'bbox')), { input: 'results', index: 2 });
  assert.equal(await detailsOf(() => evaluateCoco(g, [res(), { ...res(), score: 'high' }], 'bbox')), { input: 'results', index: 1 });
  assert.equal(await detailsOf(() => evaluateCoco(g, [res(), { ...res(), image_id: 9 }, { ...res(), image_id: 8 }], 'bbox')), { input: 'results', index: 1, count: 2 });
  const segm = (segmentation) => ({ image_id: 1, category_id: 1, score: 0.5, segmentation });
  const d = await detailsOf(() => evaluateCoco(g, [segm([[0, 0, 2, 0, 2, 2]]), segm(badRle)], 'segm'));
  assert.is(d.input, 'results');
  assert.is(d.index, 1);
  assert.equal(await detailsOf(() => evaluateCoco(g, [segm({ size: [5, 4], counts: '04' })], 'segm')), { input: 'results', index: 0 });
  assert.equal(await detailsOf(() => evaluateCoco({ ...g, images: [g.images[0], null] }, [res()], 'bbox')), { input: 'groundTruth', part: 'images', index: 1 });
  assert.equal(await detailsOf(() => evaluateCoco({ ...g, images: [{ id: 1, height: -1, width: 4 }] }, [res()], 'bbox')), { input: 'groundTruth', part: 'images', index: 0 });
  assert.equal(await detailsOf(() => evaluateCoco({ ...g, categories: [{ id: 1 }, 5] }, [res()], 'bbox')), { input: 'groundTruth', part: 'categories', index: 1 });
  const noArea = { ...g.annotations[0] };
  delete noArea.area;
  assert.equal(await detailsOf(() => evaluateCoco({ ...g, annotations: [g.annotations[0], noArea] }, [res()], 'bbox')), { input: 'groundTruth', part: 'annotations', index: 1 });
  const dg = await detailsOf(() => evaluateCoco({ ...g, annotations: [{ ...g.annotations[0], segmentation: badRle }] }, [segm([[0, 0, 2, 0, 2, 2]])], 'segm'));
  assert.is(dg.input, 'groundTruth');
  assert.is(dg.part, 'annotations');
  assert.is(dg.index, 0);
  assert.equal(await detailsOf(() => evaluateCoco({ images: [] }, [], 'bbox')), { input: 'groundTruth' });
  assert.equal(await detailsOf(() => evaluateCoco(g, {}, 'bbox')), { input: 'results' });
  assert.equal(await detailsOf(() => evaluateCoco(g, [res()], 'keypoints')), { input: 'options', option: 'iouType' });
  assert.equal(await detailsOf(() => evaluateCoco(g, [res()], 'bbox', { categories: [3] })), { input: 'options', option: 'categories' });
});

// What COCOeval reads of a kept ground truth (pycocotools raises KeyError without it): bbox in 'bbox' evaluation,
// segmentation in 'segm', area in both unless the annotation is a crowd (evaluateImg: `g['ignore'] or g['area'] ...`).
test("ground truth without a field COCOeval reads: a typed error naming the annotation (index, id) and the field", async () => {
  const ann = { id: 7, image_id: 1, category_id: 1, segmentation: [[2, 2, 12, 2, 12, 12, 2, 12]], area: 100, bbox: [2, 2, 10, 10], iscrowd: 0 };
  const box = [{ image_id: 1, category_id: 1, score: 0.9, bbox: [2, 2, 10, 10] }];
  const mask = [{ image_id: 1, category_id: 1, score: 0.9, segmentation: [[2, 2, 12, 2, 12, 12, 2, 12]] }];
  // Annotation 0 is of a category left out (options.categories): none of its fields is read.
  const other = { id: 8, image_id: 1, category_id: 2 };
  const gtWith = (a) => ({ images: [{ id: 1, height: 20, width: 30 }], annotations: [other, a], categories: [{ id: 1 }, { id: 2 }] });
  const only1 = { categories: [1] };
  const without = (key) => {
    const a = { ...ann };
    delete a[key];
    return a;
  };
  await expectTypedErrors([
    [() => evaluateCoco(gtWith(without('bbox')), box, 'bbox', only1), SotrTypeError, /ground-truth annotation 1 \(id 7\) has no bbox .*\(missing\)/],
    [() => evaluateCoco(gtWith({ ...ann, bbox: [2, 2, 10] }), box, 'bbox', only1), SotrTypeError, /annotation 1 \(id 7\) has no bbox .*received \[2,2,10\]/],
    [() => evaluateCoco(gtWith({ ...ann, bbox: [2, 2, '10', 10] }), box, 'bbox', only1), SotrTypeError, /annotation 1 \(id 7\) has no bbox/],
    [() => evaluateCoco(gtWith({ ...ann, iscrowd: 1, bbox: undefined }), box, 'bbox', only1), SotrTypeError, /annotation 1 \(id 7\) has no bbox/],
    [() => evaluateCoco(gtWith(without('area')), box, 'bbox', only1), SotrTypeError, /annotation 1 \(id 7\) has no numeric area \(missing\)/],
    [() => evaluateCoco(gtWith(without('area')), mask, 'segm', only1), SotrTypeError, /annotation 1 \(id 7\) has no numeric area \(missing\)/],
    [() => evaluateCoco(gtWith({ ...ann, area: 'big' }), box, 'bbox', only1), SotrTypeError, /annotation 1 \(id 7\) has no numeric area \(received "big"\)/],
    [() => evaluateCoco(gtWith({ ...ann, area: NaN }), box, 'bbox', only1), SotrTypeError, /has no numeric area/],
    [() => evaluateCoco(gtWith({ ...ann, area: null }), mask, 'segm', only1), SotrTypeError, /has no numeric area \(received null\)/],
    [() => evaluateCoco(gtWith(without('segmentation')), mask, 'segm', only1), SotrTypeError, /annotation 1 \(id 7\) has no segmentation/],
  ]);
  // What pycocotools does not read is not asked for: a bbox in 'segm', a segmentation in 'bbox', a crowd's area, and
  // anything of an annotation left out (another category).
  const ap = async (g, r, t) => (await evaluateCoco(g, r, t, only1)).stats[0];
  assert.ok((await ap(gtWith(without('bbox')), mask, 'segm')) > 0.999);
  assert.ok((await ap(gtWith(without('segmentation')), box, 'bbox')) > 0.999);
  const g = gtWith(ann);
  g.annotations.push({ ...without('area'), id: 9, iscrowd: 1 });
  for (const [t, r] of [['bbox', box], ['segm', mask]]) assert.ok((await ap(g, r, t)) > 0.999, t);
});

// An RLE at another size than its image's was read at its own size: IoU -1 with every ground truth, AP 0, no hint.
test("an RLE whose size is not its image's: a typed error naming the result or annotation, its size and the image's", async () => {
  const rleOfBox = (H, W, x, y, w, h) => {
    const c = [];
    let last = 0;
    for (let q = x; q < x + w; q++) {
      c.push(q * H + y - last, h);
      last = q * H + y + h;
    }
    c.push(H * W - last);
    return { size: [H, W], counts: encodeRleCounts(c) };
  };
  const ann = (segmentation) => ({ id: 5, image_id: 'a', category_id: 1, segmentation, area: 100, bbox: [2, 2, 10, 10], iscrowd: 0 });
  const gtWith = (segmentation) => ({ images: [{ id: 'a', height: 20, width: 30 }], annotations: [{ ...ann([]), category_id: 2 }, ann(segmentation)], categories: [{ id: 1 }] });
  const good = gtWith(rleOfBox(20, 30, 2, 2, 10, 10));
  const result = (segmentation, bbox) => ({ image_id: 'a', category_id: 1, score: 0.9, segmentation, ...(bbox ? { bbox } : {}) });
  const swapped = rleOfBox(30, 20, 2, 2, 10, 10);
  const half = rleOfBox(10, 15, 1, 1, 5, 5);
  const ok = result(rleOfBox(20, 30, 2, 2, 10, 10));
  await expectTypedErrors([
    [() => evaluateCoco(good, [ok, result(swapped)], 'segm'), SotrRangeError, /result 1 has an RLE of size \[30, 20\], but its image "a" is \[20, 30\]/],
    [() => evaluateCoco(good, [ok, result(half)], 'segm'), SotrRangeError, /result 1 has an RLE of size \[10, 15\], but its image "a" is \[20, 30\]/],
    // With a bbox first, the segmentation is read for mask IoU; without one, 'bbox' evaluation reads its box.
    [() => evaluateCoco(good, [result(half, [1, 1, 5, 5])], 'segm'), SotrRangeError, /result 0 has an RLE of size \[10, 15\]/],
    [() => evaluateCoco(good, [result(half)], 'bbox'), SotrRangeError, /result 0 has an RLE of size \[10, 15\]/],
    [() => evaluateCoco(gtWith(swapped), [ok], 'segm'), SotrRangeError, /ground-truth annotation 1 \(id 5\) has an RLE of size \[30, 20\], but its image "a" is \[20, 30\]/],
    [() => evaluateCoco(gtWith({ size: [20, 31], counts: [620] }), [], 'segm'), SotrRangeError, /annotation 1 \(id 5\) has an RLE of size \[20, 31\]/],
  ]);
  assert.ok((await evaluateCoco(good, [ok], 'segm')).stats[1] > 0.999);
  // What is not read is not checked: a ground truth's segmentation and a boxed result's in 'bbox' evaluation.
  assert.ok((await evaluateCoco(gtWith(swapped), [result(half, [2, 2, 10, 10])], 'bbox')).stats[1] > 0.999);
  assert.ok((await evaluateCoco(good, [result(half, [2, 2, 10, 10])], 'bbox')).stats[1] > 0.999);
});

test('toCocoResults: an entry that is not an instance is named', async () => {
  await expectTypedErrors([
    [() => toCocoResults([null], 1), SotrTypeError, /toCocoResults: instances\[0\] is not an instance/],
    [() => toCocoResults([{}], 1), SotrTypeError, /instances\[0\] is not an instance/],
  ]);
});

test.run();
