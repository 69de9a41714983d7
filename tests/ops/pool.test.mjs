import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, maxPool2d, avgPool2d, ShapeError, SotrRangeError, SotrTypeError, backendInfo } from '../../dist/index.js';
import { loadFixture, nmse } from '../helpers/fixture.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

const fx = loadFixture('pool');
const cases = JSON.parse(fx.meta.cases);
const devices = ['cpu', ...(backendInfo().cuda.available ? ['cuda'] : [])];

for (const device of devices) {
  for (const [name, kind, kernelSize, stride, padding, dilation, ceilMode, countIncludePad] of cases) {
    test(`${kind}Pool2d ${name} matches PyTorch on ${device}`, async () => {
      const x = Tensor.from(fx.tensors[`${name}.x`].data, fx.tensors[`${name}.x`].shape, { device });
      const out =
        kind === 'max'
          ? await maxPool2d(x, { kernelSize, stride, padding, dilation, ceilMode })
          : await avgPool2d(x, { kernelSize, stride, padding, ceilMode, countIncludePad });
      assert.equal([...out.shape], fx.tensors[`${name}.out`].shape);
      const got = await out.data();
      const want = fx.tensors[`${name}.out`].data;
      if (kind === 'max') assert.equal([...got], [...want]); // a max is exact
      else assert.ok(nmse(got, want) < 1e-13, `nmse ${nmse(got, want)}`);
    });
  }
  test(`maxPool2d propagates NaN and ignores -inf padding on ${device}`, async () => {
    const x = Tensor.from(new Float32Array([NaN, -5, -7, -3, -2, -9, -1, -4, -8]), [1, 1, 3, 3], { device });
    const out = await (await maxPool2d(x, { kernelSize: 2, stride: 1 })).data();
    assert.ok(Number.isNaN(out[0]));
    assert.equal([...out.slice(1)], [-2, -1, -2]);
  });
  test(`pools of an empty batch return the empty output on ${device}`, async () => {
    // Nothing to compute, however large each image: the CPU twin used to make a row buffer of W floats first
    // (std::bad_alloc for W = 2^40).
    for (const shape of [[0, 2, 2 ** 16, 2 ** 16], [0, 3, 2 ** 20, 2 ** 20]]) {
      const x = Tensor.from(new Float32Array(0), shape, { device });
      for (const pool of [maxPool2d, avgPool2d]) {
        const y = await pool(x, { kernelSize: 3, stride: 1 });
        assert.equal([...y.shape], [0, shape[1], shape[2] - 2, shape[3] - 2]);
      }
    }
  });
}

test('pools reject bad input with typed errors naming the op', async () => {
  const x = Tensor.from(new Float32Array(2 * 3 * 5 * 5), [2, 3, 5, 5]);
  const bad = [
    [() => maxPool2d(Tensor.from(new Float32Array(4), [2, 2]), { kernelSize: 2 }), ShapeError, /maxPool2d: x must be \[N, C, H, W\]/],
    [() => maxPool2d(x, {}), SotrTypeError, /maxPool2d: kernelSize is required/],
    [() => maxPool2d(x, { kernelSize: 3, padding: 2 }), SotrRangeError, /padding must be at most half the kernel size/],
    [() => avgPool2d(x, { kernelSize: 0 }), SotrRangeError, /avgPool2d: kernelSize must be >= 1/],
    [() => avgPool2d(x, { kernelSize: 7 }), ShapeError, /avgPool2d: output size would be/],
  ];
  await expectTypedErrors(bad);
});

test.run();
