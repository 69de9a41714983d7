import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, matmul, ShapeError, DTypeError, SotrTypeError, SotrRangeError, backendInfo } from '../../dist/index.js';
import { loadFixture, nmse } from '../helpers/fixture.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

const fx = loadFixture('matmul');
const cases = JSON.parse(fx.meta.cases);
const devices = ['cpu', ...(backendInfo().cuda.available ? ['cuda'] : [])];

for (const device of devices) {
  for (const [name, , , , , , ta, tb, hasBias, act] of cases) {
    test(`matmul ${name} matches PyTorch on ${device}`, async () => {
      const T = (k) => Tensor.from(fx.tensors[k].data, fx.tensors[k].shape, { device });
      const out = await matmul(T(`${name}.a`), T(`${name}.b`), {
        transA: ta,
        transB: tb,
        bias: hasBias ? T(`${name}.bias`) : undefined,
        alpha: Number(fx.meta.alpha),
        activation: act,
      });
      assert.equal([...out.shape], fx.tensors[`${name}.out`].shape);
      const e = nmse(await out.data(), fx.tensors[`${name}.out`].data);
      assert.ok(e < 1e-12, `nmse ${e}`);
    });
  }
}

test('matmul rejects bad input with typed errors naming the op', async () => {
  const a = Tensor.from(new Float32Array(6), [2, 3]);
  const i = Tensor.from(new Int32Array(6), [3, 2]);
  const bad = [
    [() => matmul(a, a), ShapeError, /matmul: inner dimensions differ/],
    [() => matmul(a, i), DTypeError, /matmul: b must be float32, received int32/],
    [() => matmul(a, null), SotrTypeError, /matmul: b is required/],
    [() => matmul(a, {}), SotrTypeError, /must be a Tensor/],
    [() => matmul(a, a, { transB: true, precision: 'fp64' }), SotrRangeError, /precision/],
    [() => matmul(a, a, { transB: true, activation: 'gelu' }), SotrRangeError, /activation/],
    [() => matmul(a, a, { transB: true, transA: 'yes' }), SotrTypeError, /transA/],
    [() => matmul(a, a, { transB: true, bias: Tensor.from(new Float32Array(3), [3]) }), ShapeError, /bias must have shape \[2\]/],
    [() => matmul(Tensor.from(new Float32Array(2), [2]), a), ShapeError, /a must be/],
  ];
  await expectTypedErrors(bad);
});

test.run();
