import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Tensor, add, sub, mul, div, relu, leakyRelu, sigmoid, concat, slice, meanWidthHalves,
  ShapeError, SotrRangeError, SotrTypeError, backendInfo,
} from '../../dist/index.js';
import { loadFixture, nmse, maxAbsDiff } from '../helpers/fixture.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

const fx = loadFixture('elementwise');
const devices = ['cpu', ...(backendInfo().cuda.available ? ['cuda'] : [])];

for (const device of devices) {
  const T = (k) => Tensor.from(fx.tensors[k].data, fx.tensors[k].shape, { device });
  const cases = [
    ['add_bcast', () => add(T('a'), T('b')), true],
    ['add_alpha', () => add(T('a'), T('e'), { alpha: 0.5 }), false],
    ['sub_bcast', () => sub(T('a'), T('b'), { alpha: 2 }), false],
    ['mul_outer', () => mul(T('c'), T('d')), true],
    ['div_same', () => div(T('a'), T('e')), true],
    ['add_scalar', () => add(T('a'), 1.5), true],
    ['mul_scalar', () => mul(T('a'), -0.25), true],
    ['relu', () => relu(T('a')), true],
    ['leaky', () => leakyRelu(T('a'), { negativeSlope: 0.2 }), true],
    ['sigmoid', async () => sigmoid(await mul(T('a'), 4)), false],
    ['cat_w', () => concat([T('x'), T('x')], 3), true],
    ['cat_c', async () => concat([T('x'), await slice(T('a'), 0, 0, 1), await slice(T('x'), 1, 0, 2)], 1), true],
    ['slice_w', () => slice(T('x'), -1, 1, 4), true],
    ['halves', () => meanWidthHalves(T('z')), true],
  ];
  for (const [name, fn, exact] of cases) {
    test(`${name} matches PyTorch on ${device}`, async () => {
      const out = await fn();
      assert.equal([...out.shape], fx.tensors[name].shape);
      const got = await out.data();
      if (exact) assert.is(maxAbsDiff(got, fx.tensors[name].data), 0);
      else assert.ok(nmse(got, fx.tensors[name].data) < 1e-13, `nmse ${nmse(got, fx.tensors[name].data)}`);
    });
  }
}

test('element-wise ops reject bad input with typed errors naming the op', async () => {
  const a = Tensor.from(new Float32Array(6), [2, 3]);
  const bad = [
    [() => add(a, Tensor.from(new Float32Array(4), [4])), ShapeError, /add: shapes \[2, 3\] and \[4\] cannot be broadcast together/],
    [() => mul(a, null), SotrTypeError, /mul: b is required/],
    // a scalar b is named b (the attribute that carries it to the native op is not the caller's word)
    [() => mul(a, NaN), SotrRangeError, /mul: b must be a finite number or a Tensor, received NaN/],
    [() => add(a, Infinity), SotrRangeError, /add: b must be a finite number or a Tensor, received Infinity/],
    [() => concat([a, Tensor.from(new Float32Array(4), [2, 2])], 0), ShapeError, /concat: tensors\[1\] has shape \[2, 2\]/],
    [() => concat([a], 2), SotrRangeError, /concat: axis 2 is out of range/],
    [() => concat([], 0), SotrTypeError, /concat: tensors must be a non-empty array/],
    [() => meanWidthHalves(Tensor.from(new Float32Array(3), [3])), ShapeError, /meanWidthHalves: x must have an even last dimension/],
    [() => add(a, Tensor.from(new Float32Array(64), [1, 1, 1, 1, 1, 2, 32])), ShapeError, /at most 6 dimensions/],
  ];
  await expectTypedErrors(bad);
});

test.run();
