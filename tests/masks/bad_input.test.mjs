// Bad input to the mask functions: typed errors (SotrTypeError / SotrRangeError with a code) that name the argument
// and the bad entry, never a TypeError from reading a property of null, and never a silent wrong answer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { approxPolygon, BitMasks, Mask, contoursToCocoPolygons, encodeRleCounts, instanceColour, masksToContours, renderPrediction, SotrRangeError, SotrTypeError } from '../../dist/index.js';
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

test('approxPolygon: points that are not int32 integers are refused (| 0 wrapped 1e10, made NaN and strings 0)', async () => {
  await expectTypedErrors([
    [() => approxPolygon([1e10, 0, 5, 5, 10, 0], 1), SotrRangeError, /points\[0\] must be an integer in the int32 range, received 10000000000/],
    [() => approxPolygon([0, 0, 5, 5, 10, NaN], 1), SotrRangeError, /points\[5\] must be an integer .*received NaN/],
    [() => approxPolygon([0, 0, 5.5, 5, 10, 0], 0), SotrRangeError, /points\[2\] .*received 5\.5/],
    [() => approxPolygon([0, 0, 2 ** 31, 5, 10, 0], 1), SotrRangeError, /points\[2\]/],
    [() => approxPolygon([0, 0, 'a', 5, 10, 0], 1), SotrTypeError, /points\[2\] must be a number, received "a"/],
    [() => approxPolygon([0, 0, null, 5, 10, 0], 1), SotrTypeError, /points\[2\] must be a number, received null/],
    [() => contoursToCocoPolygons([{ points: [0, 0, 9, 0, 9, '9', 0, 9], hole: false, parent: -1 }], { epsilon: 1 }), SotrTypeError, /points\[5\]/],
  ]);
  // The int32 range's ends are taken, arrays as Int32Arrays.
  const pts = [0, 0, 2 ** 31 - 1, 0, 2 ** 31 - 1, 5, -(2 ** 31), 5];
  assert.equal(approxPolygon(pts, 1), approxPolygon(Int32Array.from(pts), 1));
});

test('instanceColour: a rank that is not a finite number is refused (it gave [NaN, NaN, NaN])', async () => {
  await expectTypedErrors([
    [() => instanceColour(NaN), SotrRangeError, /instanceColour: the rank must be finite, received NaN/],
    [() => instanceColour(Infinity), SotrRangeError, /must be finite/],
    [() => instanceColour('a'), SotrTypeError, /instanceColour: the rank must be a number, received "a"/],
    [() => instanceColour(undefined), SotrTypeError, /must be a number, received undefined/],
  ]);
  for (const i of [0, 1, 7, 1.5]) assert.ok(instanceColour(i).every((c) => Number.isInteger(c) && c >= 0 && c <= 255));
});

test("renderPrediction's options: strings quoted in the messages, boxes and labels booleans", async () => {
  const image = { data: new Uint8Array(12), width: 2, height: 2, channels: 3 };
  await expectTypedErrors([
    // "received 80" read as if 80 had been refused.
    [() => renderPrediction(image, [], { quality: '80', format: 'jpeg' }), SotrRangeError, /quality must be an integer in \[1, 100\], received "80"/],
    [() => renderPrediction(image, [], { maskOpacity: '0.5' }), SotrRangeError, /maskOpacity must be in \[0, 1\], received "0\.5"/],
    [() => renderPrediction(image, [], { minScore: '0.5' }), SotrRangeError, /minScore must be a number, received "0\.5"/],
    [() => renderPrediction(image, [], { format: 'gif' }), SotrRangeError, /format must be 'png', 'jpeg' or 'webp', received "gif"/],
    // Only false turned them off: these drew boxes and labels.
    [() => renderPrediction(image, [], { boxes: 'no' }), SotrTypeError, /boxes must be a boolean, received "no"/],
    [() => renderPrediction(image, [], { labels: 0 }), SotrTypeError, /labels must be a boolean, received 0/],
    [() => renderPrediction(image, [], { boxes: null }), SotrTypeError, /boxes must be a boolean, received null/],
  ]);
  const png = await renderPrediction(image, [], { boxes: false, labels: true, quality: 80 });
  assert.is(png.subarray(1, 4).toString(), 'PNG');
});

test("Mask.fromRLE: a size given with an RLE object must be the object's (it was ignored)", async () => {
  const rle = Mask.fromUint8Array([0, 1, 1, 0, 0, 1], 3, 2).toCocoRLE(); // size [2, 3]
  await expectTypedErrors([
    [() => Mask.fromRLE(rle, [3, 2]), SotrRangeError, /Mask\.fromRLE: size \[3, 2\] disagrees with the RLE's size \[2, 3\]/],
    [() => Mask.fromRLE(rle, [2, 4]), SotrRangeError, /disagrees/],
    [() => Mask.fromRLE(rle, 6), SotrTypeError, /Mask\.fromRLE: size must be \[height, width\], received 6/],
    [() => Mask.fromRLE(rle.counts, [2]), SotrTypeError, /size must be \[height, width\], received \[2\]/],
  ]);
  for (const m of [Mask.fromRLE(rle, [2, 3]), Mask.fromRLE(rle), Mask.fromRLE(rle.counts, [2, 3])]) {
    assert.equal([m.height, m.width, m.toRLE()], [2, 3, rle.counts]);
  }
});

test.run();
