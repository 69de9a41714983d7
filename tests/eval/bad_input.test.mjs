// Bad input to evaluateCoco and toCocoResults: typed errors (SotrTypeError / SotrRangeError with a code) that name
// the bad entry (its index, its id) and what is wrong with it, never a TypeError from reading a property of null,
// and never a silent score.
import { test } from 'uvu';
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

test('toCocoResults: an entry that is not an instance is named', async () => {
  await expectTypedErrors([
    [() => toCocoResults([null], 1), SotrTypeError, /toCocoResults: instances\[0\] is not an instance/],
    [() => toCocoResults([{}], 1), SotrTypeError, /instances\[0\] is not an instance/],
  ]);
});

test.run();
