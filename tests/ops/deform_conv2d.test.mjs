import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, deformConv2d, conv2d, ShapeError, SotrTypeError, backendInfo } from '../../dist/index.js';
import { loadFixture, nmse } from '../helpers/fixture.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

const fx = loadFixture('deform_conv2d');
const cases = JSON.parse(fx.meta.cases);
const devices = ['cpu', ...(backendInfo().cuda.available ? ['cuda'] : [])];

for (const device of devices) {
  const T = (k) => Tensor.from(fx.tensors[k].data, fx.tensors[k].shape, { device });
  for (const [name, stride, padding, dilation, groups, deformGroups, hasMask, hasBias, bn, activation] of cases) {
    test(`deformConv2d ${name} matches the reference on ${device}`, async () => {
      const out = await deformConv2d(T(`${name}.x`), T(`${name}.offset`), hasMask ? T(`${name}.mask`) : null, T(`${name}.weight`), {
        stride,
        padding,
        dilation,
        groups,
        deformGroups,
        bias: hasBias ? T(`${name}.bias`) : undefined,
        scale: bn ? T(`${name}.scale`) : undefined,
        shift: bn ? T(`${name}.shift`) : undefined,
        activation,
      });
      assert.equal([...out.shape], fx.tensors[`${name}.out`].shape);
      const e = nmse(await out.data(), fx.tensors[`${name}.out`].data);
      assert.ok(e < 1e-11, `nmse ${e}`);
    });
  }
  test(`deformConv2d with zero offsets and unit mask equals conv2d on ${device}`, async () => {
    const x = T('basic.x'), w = T('basic.weight');
    const [N, , H, W] = x.shape;
    const off = Tensor.from(new Float32Array(N * 18 * H * W), [N, 18, H, W], { device });
    const mask = Tensor.from(new Float32Array(N * 9 * H * W).fill(1), [N, 9, H, W], { device });
    const a = await (await deformConv2d(x, off, mask, w, { padding: 1 })).data();
    const b = await (await conv2d(x, w, { padding: 1 })).data();
    assert.ok(nmse(a, b) < 1e-12, `nmse ${nmse(a, b)}`);
  });
}

test('deformConv2d rejects bad input with typed errors naming the op', async () => {
  const x = Tensor.from(new Float32Array(1 * 4 * 5 * 5), [1, 4, 5, 5]);
  const w = Tensor.from(new Float32Array(3 * 4 * 9), [3, 4, 3, 3]);
  const off = Tensor.from(new Float32Array(18 * 25), [1, 18, 5, 5]);
  const bad = [
    [() => deformConv2d(x, off, null, w), ShapeError, /deformConv2d: offset must have shape \[1, 18, 3, 3\]/],
    [() => deformConv2d(x, off, null, w, { padding: 1, deformGroups: 3 }), ShapeError, /divisible by deformGroups/],
    [() => deformConv2d(x, off, Tensor.from(new Float32Array(9), [1, 9, 1, 1]), w, { padding: 1 }), ShapeError, /mask must have shape \[1, 9, 5, 5\]/],
    [() => deformConv2d(x, null, null, w), SotrTypeError, /deformConv2d: offset is required/],
  ];
  await expectTypedErrors(bad);
});

test.run();
