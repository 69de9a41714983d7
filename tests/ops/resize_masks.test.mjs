// resizeMasks (SOTR's step 12 off the JavaScript thread) against the TypeScript implementation it replaced, bit for
// bit, on awkward sizes; plus the typed errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, resizeMasks, resizeMasksToList, ShapeError, DTypeError, SotrRangeError, SotrTypeError } from '../../dist/index.js';
import { finalMasks } from '../helpers/mask_resize_reference.mjs';

function softMasks(n, fh, fw, seed) {
  let s = seed >>> 0;
  const r = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  const out = new Float32Array(n * fh * fw);
  for (let m = 0; m < n; m++) {
    // A blob (smooth, crosses 0.5 on a curve) plus noise; some masks empty, some full.
    const cy = r() * fh, cx = r() * fw, rad = 0.5 + r() * Math.max(fh, fw) * 0.6, kind = m % 7;
    for (let y = 0; y < fh; y++)
      for (let x = 0; x < fw; x++) {
        const d = Math.hypot(y - cy, x - cx) / rad;
        let v = 1 / (1 + Math.exp(4 * (d - 1))) + (r() - 0.5) * 0.2;
        if (kind === 5) v = 0.1;
        if (kind === 6) v = 0.9;
        out[(m * fh + y) * fw + x] = v;
      }
  }
  return out;
}

// [n, fh, fw, ratio, h, w, H0, W0, threshold]
const cases = [
  [7, 25, 34, 4, 97, 133, 480, 640, 0.5], // SOTR-like: 1/4 feature, padded, original smaller
  [5, 16, 21, 4, 61, 81, 1000, 1333, 0.5], // upscale to a large original
  [4, 9, 13, 8, 70, 100, 33, 47, 0.5], // downscale
  [3, 1, 1, 4, 3, 4, 5, 7, 0.5], // 1x1 masks
  [6, 11, 17, 3, 40, 51, 40, 51, 0.3], // crop = the full first resize, threshold not a float
  [2, 20, 20, 2, 25, 39, 120, 65, 0.62], // crop past the first resize (kept as is)
];

for (const [n, fh, fw, ratio, h, w, H0, W0, thr] of cases) {
  test(`resizeMasks ${n}x${fh}x${fw} x${ratio} crop ${h}x${w} -> ${H0}x${W0} thr ${thr}: bit-identical to the TS version`, async () => {
    const soft = softMasks(n, fh, fw, n * 131 + fh);
    const want = finalMasks(soft, n, fh, fw, ratio, h, w, H0, W0, thr);
    const t = Tensor.from(soft, [n, fh, fw]);
    const got = await resizeMasksToList(t, { ratio, crop: [h, w], size: [H0, W0], threshold: thr });
    assert.is(got.length, n);
    let ones = 0;
    for (let m = 0; m < n; m++) {
      assert.is(got[m].width, W0);
      assert.is(got[m].height, H0);
      assert.equal(Array.from(got[m].data), Array.from(want[m]), `mask ${m}`);
      ones += got[m].area;
    }
    assert.ok(n === 0 || ones > 0, 'some pixels set');
    const raw = await resizeMasks(t, { ratio, crop: [h, w], size: [H0, W0], threshold: thr });
    assert.equal([...raw.shape], [n, H0, 2 * Math.ceil(W0 / 64)]);
    assert.is(raw.dtype, 'int32');
    raw.dispose();
    t.dispose();
  });
}

test('resizeMasks with no masks returns an empty list', async () => {
  const t = Tensor.from(new Float32Array(0), [0, 4, 4]);
  assert.equal(await resizeMasksToList(t, { ratio: 4, crop: [16, 16], size: [20, 20] }), []);
});

test('resizeMasks rejects bad input with typed errors', async () => {
  const t = Tensor.from(new Float32Array(2 * 3 * 4), [2, 3, 4]);
  const bad = [
    [() => resizeMasks(Tensor.from(new Int32Array(24), [2, 3, 4]), { ratio: 4, crop: [8, 8], size: [9, 9] }), DTypeError, /resizeMasks: soft must be float32/],
    [() => resizeMasks(Tensor.from(new Float32Array(12), [3, 4]), { ratio: 4, crop: [8, 8], size: [9, 9] }), ShapeError, /resizeMasks: soft/],
    [() => resizeMasks(t, { ratio: 0, crop: [8, 8], size: [9, 9] }), SotrRangeError, /ratio must be 1..64/],
    [() => resizeMasks(t, { ratio: 4, crop: [8, 8], size: [0, 9] }), SotrRangeError, /crop and size must be 1..65536/],
    [() => resizeMasks(t, { ratio: 4, crop: [8], size: [9, 9] }), SotrTypeError, /crop must be \[h, w\]/],
    [() => resizeMasks(t, null), SotrTypeError, /options/],
  ];
  for (const [fn, Cls, re] of bad) {
    try {
      await fn();
      assert.unreachable('should have thrown');
    } catch (e) {
      assert.instance(e, Cls, `${e.name}: ${e.message}`);
      assert.match(e.message, re);
    }
  }
});

test.run();
