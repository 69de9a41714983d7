import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, groupNorm, ShapeError, SotrRangeError, SotrTypeError, backendInfo } from '../../dist/index.js';
import { loadFixture, nmse } from '../helpers/fixture.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

const fx = loadFixture('group_norm');
const cases = JSON.parse(fx.meta.cases);
const devices = ['cpu', ...(backendInfo().cuda.available ? ['cuda'] : [])];

for (const device of devices) {
  for (const [name, groups, affine, activation] of cases) {
    test(`groupNorm ${name} matches PyTorch on ${device}`, async () => {
      const T = (k) => Tensor.from(fx.tensors[k].data, fx.tensors[k].shape, { device });
      const out = await groupNorm(T(`${name}.x`), groups, {
        weight: affine ? T(`${name}.weight`) : undefined,
        bias: affine ? T(`${name}.bias`) : undefined,
        eps: 1e-5,
        activation,
      });
      assert.equal([...out.shape], fx.tensors[`${name}.out`].shape);
      const e = nmse(await out.data(), fx.tensors[`${name}.out`].data);
      assert.ok(e < 1e-12, `nmse ${e}`);
    });
  }
}

test('groupNorm rejects bad input with typed errors naming the op', async () => {
  const x = Tensor.from(new Float32Array(2 * 6 * 4), [2, 6, 4]);
  const bad = [
    [() => groupNorm(x, 4), ShapeError, /groupNorm: channels \(6\) must be divisible by groups \(4\)/],
    [() => groupNorm(x, 0), SotrRangeError, /groups must be >= 1/],
    [() => groupNorm(x, 'a'), SotrTypeError, /groups must be a number/],
    [() => groupNorm(x, 2, { weight: Tensor.from(new Float32Array(5), [5]) }), ShapeError, /weight must have shape \[6\]/],
    [() => groupNorm(Tensor.from(new Float32Array(3), [3]), 1), ShapeError, /x must be \[N, C, \.\.\.\]/],
    [() => groupNorm(x, 2, { activation: 'sigmoid' }), SotrRangeError, /activation/],
  ];
  await expectTypedErrors(bad);
});

test.run();
