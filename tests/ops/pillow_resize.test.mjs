// pillowResize: Pillow's Image.resize(BILINEAR) bit for bit on Pillow's own outputs (awkward sizes, L / RGB / RGBX),
// the fused normalisation and padding bit for bit against the float32 formula, on the CPU queue; typed errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, pillowResize, AbortError, DTypeError, ShapeError, SotrRangeError, SotrTypeError } from '../../dist/index.js';
import { loadFixture } from '../helpers/fixture.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

// The op's goldens, and the model's (tests/reference/make_model_fixtures.py), both straight from Pillow.
const goldens = [loadFixture('pillow_resize'), loadFixture('model/pillow_resize')];

function* cases() {
  for (const fx of goldens) {
    for (let k = 0; k < Number(fx.meta.cases); k++) {
      const src = fx.tensors[`case${k}.src`];
      const dst = fx.tensors[`case${k}.dst`];
      const shape = src.shape.length === 2 ? [...src.shape, 1] : src.shape;
      yield { name: `${fx.meta.script.split('/').pop()} case ${k}`, src: src.data, shape, dst: dst.data, out: [dst.shape[0], dst.shape[1]] };
    }
  }
}

const countDiff = (a, b) => {
  let bad = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) bad++;
  return bad;
};

test('pillowResize equals Pillow bit for bit (1-pixel images, rows, columns, same size, 2x, large factors, 1/3/4 channels, random sizes)', async () => {
  let n = 0;
  for (const c of cases()) {
    const x = Tensor.from(c.src, c.shape);
    const y = await pillowResize(x, { size: c.out });
    x.dispose();
    assert.equal([...y.shape], [...c.out, c.shape[2]], c.name);
    assert.is(y.dtype, 'uint8');
    const got = await y.data();
    y.dispose();
    assert.is(countDiff(got, c.dst), 0, `${c.name}: ${c.shape} -> ${c.out}: ${countDiff(got, c.dst)} of ${got.length} values differ`);
    n++;
  }
  assert.ok(n >= 40, `${n} cases`);
});

test('with mean and std: the float32 network input, (v - mean) / std in float32, zero padded', async () => {
  const mean = [103.53, 116.28, 123.675, 99.5];
  const std = [57.375, 57.12, 58.395, 61.25];
  const f = Math.fround;
  for (const c of cases()) {
    const C = c.shape[2];
    for (const pad of [1, 32]) {
      const x = Tensor.from(c.src, c.shape);
      const y = await pillowResize(x, { size: c.out, mean: mean.slice(0, C), std: std.slice(0, C), padMultiple: pad });
      x.dispose();
      const [h, w] = c.out;
      const Hp = Math.ceil(h / pad) * pad;
      const Wp = Math.ceil(w / pad) * pad;
      assert.equal([...y.shape], [1, C, Hp, Wp]);
      assert.is(y.dtype, 'float32');
      const got = await y.data();
      y.dispose();
      let bad = 0;
      for (let ch = 0; ch < C; ch++) {
        for (let yy = 0; yy < Hp; yy++) {
          for (let xx = 0; xx < Wp; xx++) {
            const want = yy < h && xx < w ? f(f(c.dst[(yy * w + xx) * C + ch] - f(mean[ch])) / f(std[ch])) : 0;
            if (!Object.is(got[(ch * Hp + yy) * Wp + xx], want)) bad++;
          }
        }
      }
      assert.is(bad, 0, `${c.name} pad ${pad}: ${bad} values differ`);
    }
  }
});

test('pillowResize rejects bad input with typed errors naming the op', async () => {
  const x = Tensor.from(new Uint8Array(4 * 5 * 3), [4, 5, 3]);
  const bad = [
    [() => pillowResize(Tensor.from(new Float32Array(60), [4, 5, 3]), { size: [2, 2] }), DTypeError, /pillowResize: x must be uint8/],
    [() => pillowResize(Tensor.from(new Uint8Array(60), [60]), { size: [2, 2] }), ShapeError, /x must be uint8 \[H, W, C\]/],
    [() => pillowResize(Tensor.from(new Uint8Array(100), [4, 5, 5]), { size: [2, 2] }), ShapeError, /C 1\.\.4/],
    [() => pillowResize(Tensor.from(new Uint8Array(0), [0, 5, 3]), { size: [2, 2] }), ShapeError, /must not be empty/],
    [() => pillowResize(x, {}), SotrTypeError, /size \[h, w\] is required/],
    [() => pillowResize(x, { size: [0, 3] }), SotrRangeError, /size must be in 1\.\./],
    [() => pillowResize(x, { size: [2, 2.5] }), SotrRangeError, /size must hold integers/],
    [() => pillowResize(x, { size: [2, 1e300] }), SotrRangeError, /size must be in 1\.\./],
    [() => pillowResize(x, { size: [2] }), SotrRangeError, /size must be \[h, w\]/],
    [() => pillowResize(x, { size: [2, 2], mean: [1, 2, 3] }), SotrTypeError, /both mean and std/],
    [() => pillowResize(x, { size: [2, 2], mean: [1, 2], std: [1, 2] }), SotrRangeError, /must hold 3 numbers/],
    [() => pillowResize(x, { size: [2, 2], mean: [1, 2, 3], std: [1, 0, 1] }), SotrRangeError, /non-zero/],
    [() => pillowResize(x, { size: [2, 2], padMultiple: 32 }), SotrTypeError, /padMultiple needs mean and std/],
    [() => pillowResize(x, { size: [2, 2], mean: [1, 2, 3], std: [1, 1, 1], padMultiple: 0 }), SotrRangeError, /padMultiple must be an integer in/],
    [() => pillowResize(x, null), SotrTypeError, /options \{ size/],
    [() => pillowResize(x, { size: 3 }), SotrTypeError, /size must be an array/],
  ];
  await expectTypedErrors(bad);
});

test('pillowResize honours an AbortSignal and returns a fresh tensor for the same size', async () => {
  const src = new Uint8Array(6 * 7 * 3).map((_, i) => (i * 31) & 255);
  const x = Tensor.from(src, [6, 7, 3]);
  const ac = new AbortController();
  ac.abort();
  try {
    await pillowResize(x, { size: [3, 3], signal: ac.signal });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.instance(e, AbortError);
  }
  const y = await pillowResize(x, { size: [6, 7] });
  assert.equal(await y.data(), src);
  x.dispose();
  y.dispose();
});

test.run();
