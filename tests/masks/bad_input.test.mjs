// Bad input to the mask functions: typed errors (SotrTypeError / SotrRangeError with a code) that name the argument
// and the bad entry, never a TypeError from reading a property of null, and never a silent wrong answer.
import { test } from 'uvu';
import { BitMasks, Mask, contoursToCocoPolygons, encodeRleCounts, masksToContours, SotrTypeError } from '../../dist/index.js';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

test('null, numbers and stray entries where arrays, masks and contours go', async () => {
  const m = Mask.fromUint8Array([1], 1, 1);
  const contour = { points: new Int32Array([0, 0, 2, 0, 2, 2]), hole: false, parent: -1 };
  await expectTypedErrors([
    [() => masksToContours(null), SotrTypeError, /masksToContours: expected an array of Mask/],
    [() => contoursToCocoPolygons([contour, null]), SotrTypeError, /contoursToCocoPolygons: contours\[1\] is not a contour/],
    [() => contoursToCocoPolygons([{}]), SotrTypeError, /contours\[0\] is not a contour/],
    [() => contoursToCocoPolygons([{ points: 'x', hole: false }]), SotrTypeError, /contours\[0\] is not a contour/],
    [() => encodeRleCounts(null), SotrTypeError, /encodeRleCounts: counts must be an array of run lengths, received null/],
    // A number has no length: it was read as no runs and gave "".
    [() => encodeRleCounts(5), SotrTypeError, /encodeRleCounts: counts must be an array of run lengths, received number/],
    [() => Mask.fromUint8Array(null, 2, 2), SotrTypeError, /Mask\.fromUint8Array: bytes must be/],
    [() => BitMasks.fromUint8Array(null, 1, 1, 1), SotrTypeError, /BitMasks\.fromUint8Array: bytes must be/],
    [() => BitMasks.fromMasks(null), SotrTypeError, /BitMasks\.fromMasks: masks must be an array of Mask/],
    [() => BitMasks.fromMasks([null, m]), SotrTypeError, /masks\[0\] is not a Mask/],
    [() => BitMasks.fromMasks([m, null]), SotrTypeError, /masks\[1\] is not a Mask/],
  ]);
});

test.run();
