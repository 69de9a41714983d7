// resizeMasks (SOTR's step 12 off the JavaScript thread) against PyTorch, bit for bit, on awkward sizes, on the CPU
// and, where CUDA is available, on the GPU (the same goldens); plus the typed errors.
// (tests/native/ops/resize_masks_cases.cpp checks large batches against a float64 two-pass resize, and the CUDA twin
// against the CPU's bit for bit.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Mask, Tensor, backendInfo, resizeMasks, resizeMasksToList, ShapeError, DTypeError, SotrRangeError, SotrTypeError } from '../../dist/index.js';
import { loadFixture } from '../helpers/fixture.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

// PyTorch goldens (tests/reference/make_resize_masks_fixtures.py): the two F.interpolate calls, the crop and `>`
// exactly as the official code writes them, bit for bit, including one mask (torch's channels-last kernel), plateaus
// at the threshold and values one ulp either side of it.
const devices = ['cpu', ...(backendInfo().cuda.available ? ['cuda'] : [])];
const fx = loadFixture('resize_masks');
const cases = JSON.parse(fx.meta.cases);
for (const device of devices) {
  cases.forEach(([n, fh, fw, ratio, h, w, H0, W0, thr], k) => {
    test(`resizeMasks matches PyTorch on ${device}: ${n}x${fh}x${fw} x${ratio} crop ${h}x${w} -> ${H0}x${W0} thr ${thr}`, async () => {
      const t = Tensor.from(fx.tensors[`case${k}.soft`].data, [n, fh, fw], { device });
      const want = fx.tensors[`case${k}.bits`].data;
      const rowBytes = want.length / n;
      const got = await resizeMasksToList(t, { ratio, crop: [h, w], size: [H0, W0], threshold: thr });
      t.dispose();
      assert.is(got.length, n);
      for (let m = 0; m < n; m++) {
        let diff = 0, first = '';
        for (let y = 0; y < H0; y++)
          for (let x = 0; x < W0; x++) {
            const i = y * W0 + x;
            const bit = (want[m * rowBytes + (i >> 3)] >> (i & 7)) & 1;
            if (bit !== (got[m].get(x, y) ? 1 : 0)) {
              if (!diff) first = ` first at (${x}, ${y}), torch says ${bit}`;
              diff++;
            }
          }
        assert.is(diff, 0, `case ${k} mask ${m}: ${diff} pixels differ from PyTorch${first}`);
        // Area and box come from the op (not scanned in JS): they must be what the bits say.
        const fresh = new Mask(W0, H0, got[m].data.slice());
        assert.equal([got[m].area, got[m].box], [fresh.area, fresh.box], `case ${k} mask ${m}: area and box`);
      }
    });
  });

  test(`resizeMasks with no masks returns an empty list on ${device}`, async () => {
    const t = Tensor.from(new Float32Array(0), [0, 4, 4], { device });
    assert.equal(await resizeMasksToList(t, { ratio: 4, crop: [16, 16], size: [20, 20] }), []);
    const bits = await resizeMasks(t, { ratio: 4, crop: [16, 16], size: [20, 20] });
    assert.equal([...bits.shape], [0, 20, 2]);
    assert.is(bits.device, t.device);
    bits.dispose();
    t.dispose();
  });
}

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
  await expectTypedErrors(bad);
});

test.run();
