import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, interpolate, ShapeError, SotrRangeError, SotrTypeError, backendInfo } from '../../dist/index.js';
import { loadFixture, nmse, maxAbsDiff } from '../helpers/fixture.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

const fx = loadFixture('interpolate');
const cases = JSON.parse(fx.meta.cases);
const devices = ['cpu', ...(backendInfo().cuda.available ? ['cuda'] : [])];

for (const device of devices) {
  for (const [name, size, scale, mode, alignCorners, loose] of cases) {
    test(`interpolate ${name} (${mode}) matches PyTorch ${loose ? 'closely' : 'bit for bit'} on ${device}`, async () => {
      const x = Tensor.from(fx.tensors[`${name}.x`].data, fx.tensors[`${name}.x`].shape, { device });
      const out = size
        ? await interpolate(x, { size, mode, alignCorners })
        : await interpolate(x, { scaleFactor: scale, mode, alignCorners });
      assert.equal([...out.shape], fx.tensors[`${name}.out`].shape);
      const got = await out.data();
      const want = fx.tensors[`${name}.out`].data;
      if (loose) assert.ok(nmse(got, want) < 1e-13, `nmse ${nmse(got, want)}`);
      else assert.is(maxAbsDiff(got, want), 0, `max |diff| ${maxAbsDiff(got, want)}`);
    });
  }
  test(`interpolate positional form interpolate(x, [h, w], mode) on ${device}`, async () => {
    const x = Tensor.from(fx.tensors['up2_size.x'].data, fx.tensors['up2_size.x'].shape, { device });
    const out = await interpolate(x, [50, 84], 'bilinear');
    assert.is(maxAbsDiff(await out.data(), fx.tensors['up2_size.out'].data), 0);
  });
}

test('interpolate rejects bad input with typed errors naming the op', async () => {
  const x = Tensor.from(new Float32Array(2 * 3 * 5 * 5), [2, 3, 5, 5]);
  const bad = [
    [() => interpolate(x, { mode: 'bilinear' }), SotrTypeError, /interpolate: give exactly one of size and scaleFactor/],
    [() => interpolate(x, { size: [4, 4], scaleFactor: 2 }), SotrTypeError, /exactly one/],
    [() => interpolate(x, { size: [4, 4], mode: 'bicubic' }), SotrRangeError, /mode must be 'bilinear' or 'nearest'/],
    [() => interpolate(x, { size: [0, 4] }), SotrRangeError, /size must be positive/],
    [() => interpolate(x, { scaleFactor: 0.01 }), ShapeError, /empty output/],
    [() => interpolate(x, { size: 3, mode: 'nearest', alignCorners: true }), SotrRangeError, /alignCorners/],
    [() => interpolate(Tensor.from(new Float32Array(4), [4]), { size: 2 }), ShapeError, /x must be \[N, C, H, W\]/],
    [() => interpolate(x, 'big'), SotrTypeError, /interpolate: expected options/],
  ];
  await expectTypedErrors(bad);
});

test.run();
