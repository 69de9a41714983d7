import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, linear, ShapeError, DTypeError, backendInfo } from '../../dist/index.js';
import { loadFixture, nmse } from '../helpers/fixture.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

const fx = loadFixture('linear');
const cases = JSON.parse(fx.meta.cases);
const devices = ['cpu', ...(backendInfo().cuda.available ? ['cuda'] : [])];

for (const device of devices) {
  for (const [name, hasBias, activation] of cases) {
    test(`linear ${name} matches PyTorch on ${device}`, async () => {
      const T = (k) => Tensor.from(fx.tensors[k].data, fx.tensors[k].shape, { device });
      const out = await linear(T(`${name}.x`), T(`${name}.weight`), { bias: hasBias ? T(`${name}.bias`) : undefined, activation });
      assert.equal([...out.shape], fx.tensors[`${name}.out`].shape);
      const e = nmse(await out.data(), fx.tensors[`${name}.out`].data);
      assert.ok(e < 1e-12, `nmse ${e}`);
    });
  }
}

test('linear rejects bad input with typed errors naming the op', async () => {
  const x = Tensor.from(new Float32Array(6), [2, 3]);
  const bad = [
    [() => linear(x, Tensor.from(new Float32Array(8), [2, 4])), ShapeError, /linear: weight \[2, 4\] must have 3 input features/],
    [() => linear(x, Tensor.from(new Float32Array(3), [3])), ShapeError, /weight must be \[out, in\]/],
    [() => linear(x, Tensor.from(new Int32Array(6), [2, 3])), DTypeError, /weight must be float32/],
    [() => linear(x, Tensor.from(new Float32Array(6), [2, 3]), { bias: Tensor.from(new Float32Array(3), [3]) }), ShapeError, /bias must have shape \[2\]/],
  ];
  await expectTypedErrors(bad);
});

test.run();
