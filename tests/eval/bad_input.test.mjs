// Bad input to evaluateCoco and toCocoResults: typed errors (SotrTypeError / SotrRangeError with a code) that name
// the bad entry (its index, its id) and what is wrong with it, never a TypeError from reading a property of null,
// and never a silent score.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { evaluateCoco, toCocoResults, SotrTypeError } from '../../dist/index.js';
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

test('toCocoResults: an entry that is not an instance is named', async () => {
  await expectTypedErrors([
    [() => toCocoResults([null], 1), SotrTypeError, /toCocoResults: instances\[0\] is not an instance/],
    [() => toCocoResults([{}], 1), SotrTypeError, /instances\[0\] is not an instance/],
  ]);
});

test.run();
