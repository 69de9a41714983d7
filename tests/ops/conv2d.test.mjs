import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Tensor, conv2d, setNumThreads, ShapeError, DTypeError, SotrTypeError, SotrRangeError, backendInfo } from '../../dist/index.js';
import { loadFixture, nmse } from '../helpers/fixture.mjs';
import { convGoldenRunner } from '../helpers/conv_golden.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';
import { cpuSimdLevels, atSimdLevel } from '../helpers/simd_levels.mjs';

const fx = loadFixture('conv2d');
const cases = JSON.parse(fx.meta.cases);
const devices = ['cpu', ...(backendInfo().cuda.available ? ['cuda'] : [])];
const T = (k, device) => Tensor.from(fx.tensors[k].data, fx.tensors[k].shape, { device });

const runCase = convGoldenRunner(fx);

for (const device of devices) {
  for (const c of cases) {
    test(`conv2d ${c[0]} matches PyTorch on ${device}`, async () => {
      const out = await runCase(c, device);
      assert.equal([...out.shape], fx.tensors[`${c[0]}.out`].shape);
      const e = nmse(await out.data(), fx.tensors[`${c[0]}.out`].data);
      assert.ok(e < 1e-11, `nmse ${e}`);
    });
  }
  if (device === 'cpu') {
    // 'auto' takes Winograd for the 3x3 stride-1 cases with >= 16 channels; the direct engine is checked too, at
    // every SIMD level (im2col and the GEMM kernels have scalar, AVX2 and AVX-512 code).
    for (const level of cpuSimdLevels()) {
      for (const c of cases) {
        test(`conv2d ${c[0]} matches PyTorch on cpu (${level}) with algorithm 'direct'`, () =>
          atSimdLevel(level, async () => {
            const out = await runCase(c, device, { algorithm: 'direct' });
            const e = nmse(await out.data(), fx.tensors[`${c[0]}.out`].data);
            assert.ok(e < 1e-11, `nmse ${e}`);
          }));
      }
    }
  }
  if (device === 'cuda') {
    for (const precision of ['tf32', 'bf16']) {
      test(`conv2d rows130 ${precision} on cuda stays close`, async () => {
        const c = cases.find((x) => x[0] === 'rows130');
        const out = await runCase(c, device, { precision });
        const e = nmse(await out.data(), fx.tensors['rows130.out'].data);
        assert.ok(e < (precision === 'tf32' ? 1e-5 : 1e-3), `nmse ${e}`);
      });
    }
  }
}

// The fixtures' dilations are the same along both axes: a kernel row's offset taken with the column dilation (or
// the reverse) passes them. Unequal dilation, stride and padding per axis, against a direct reference, at every
// SIMD level (im2col has scalar, AVX2 and AVX-512 code).
test("conv2d 'direct' with unequal per-axis dilation, stride and padding matches a reference at every SIMD level", async () => {
  const rnd = (n, seed) => {
    let s = seed;
    return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5);
  };
  const [N, C, H, W, O, kh, kw] = [1, 3, 11, 13, 4, 3, 2];
  const [sh, sw, ph, pw, dh, dw] = [1, 2, 2, 1, 2, 3];
  const xs = rnd(N * C * H * W, 11), ws = rnd(O * C * kh * kw, 12);
  const Ho = Math.floor((H + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const Wo = Math.floor((W + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const want = new Float64Array(N * O * Ho * Wo);
  for (let o = 0; o < O; ++o)
    for (let oh = 0; oh < Ho; ++oh)
      for (let ow = 0; ow < Wo; ++ow) {
        let acc = 0;
        for (let c = 0; c < C; ++c)
          for (let i = 0; i < kh; ++i)
            for (let j = 0; j < kw; ++j) {
              const ih = oh * sh - ph + i * dh, iw = ow * sw - pw + j * dw;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              acc += xs[(c * H + ih) * W + iw] * ws[((o * C + c) * kh + i) * kw + j];
            }
        want[(o * Ho + oh) * Wo + ow] = acc;
      }
  const x = Tensor.from(xs, [N, C, H, W]);
  const w = Tensor.from(ws, [O, C, kh, kw]);
  for (const level of cpuSimdLevels()) {
    const got = await atSimdLevel(level, async () =>
      (await conv2d(x, w, { stride: [sh, sw], padding: [ph, pw], dilation: [dh, dw], algorithm: 'direct' })).data(),
    );
    assert.equal(got.length, want.length);
    assert.ok(nmse(got, want) < 1e-12, `${level}: nmse ${nmse(got, want)}`);
  }
});

test('conv2d reuses a packed weight only while its tensor lives', async () => {
  // Same shapes, different weights, run alternately and after disposal (the
  // allocator may hand the freed storage to the next weight).
  const c = cases.find((x) => x[0] === 'basic3x3');
  for (let i = 0; i < 4; i++) {
    const w = T('basic3x3.weight');
    const scaled = Tensor.from(fx.tensors['basic3x3.weight'].data.map((v) => v * (i + 1)), fx.tensors['basic3x3.weight'].shape);
    const a = await conv2d(T('basic3x3.x'), w, { padding: 1 });
    const b = await conv2d(T('basic3x3.x'), scaled, { padding: 1 });
    const da = await a.data(), db = await b.data();
    for (let j = 0; j < da.length; j++) assert.ok(Math.abs(db[j] - (i + 1) * da[j]) <= 1e-4 * (1 + Math.abs(db[j])), `i=${i} j=${j}`);
    w.dispose();
    scaled.dispose();
  }
  const out = await runCase(c, 'cpu');
  assert.ok(nmse(await out.data(), fx.tensors['basic3x3.out'].data) < 1e-11);
});

test('conv2d results do not depend on the thread count (CPU)', async () => {
  let seed = 1;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) - 0.5;
  const x = Tensor.from(Float32Array.from({ length: 40 * 5 * 9 }, rnd), [1, 40, 5, 9]);
  const w = Tensor.from(Float32Array.from({ length: 130 * 40 * 9 }, rnd), [130, 40, 3, 3]);
  const runs = [];
  try {
    for (const n of [1, 2, 3]) {
      setNumThreads(n);
      runs.push(await (await conv2d(x, w, { padding: 1, activation: 'relu' })).data());
    }
  } finally {
    setNumThreads(0);
  }
  assert.equal([...runs[1]], [...runs[0]]);
  assert.equal([...runs[2]], [...runs[0]]);
});

test("conv2d algorithm 'winograd' and 'direct' agree on a transformer-sized map", async () => {
  const rnd = (n, seed) => {
    let s = seed;
    return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5);
  };
  const x = Tensor.from(rnd(64 * 13 * 27, 1), [1, 64, 13, 27]);
  const w = Tensor.from(rnd(48 * 64 * 9, 2).map((v) => v / 12), [48, 64, 3, 3]);
  const bias = Tensor.from(rnd(48, 3), [48]);
  const residual = Tensor.from(rnd(48 * 13 * 27, 4), [1, 48, 13, 27]);
  const opts = { bias, padding: 1, residual, alpha: 0.5, activation: 'leakyRelu' };
  const a = await (await conv2d(x, w, { ...opts, algorithm: 'winograd' })).data();
  const b = await (await conv2d(x, w, { ...opts, algorithm: 'direct' })).data();
  const c = await (await conv2d(x, w, opts)).data();
  assert.ok(nmse(a, b) < 1e-12, `nmse ${nmse(a, b)}`);
  assert.equal(Array.from(c), Array.from(a), "'auto' is Winograd here");
});

test("conv2d 'winograd4' and 'winograd2' agree with 'direct'; 'winograd' is one of them", async () => {
  const rnd = (n, seed) => {
    let s = seed;
    return Float32Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5);
  };
  // 34 x 37 output: partial 4x4 tiles in both directions, tile rows of 10 tiles (tasks cross rows).
  const x = Tensor.from(rnd(2 * 40 * 34 * 37, 5), [2, 40, 34, 37]);
  const w = Tensor.from(rnd(24 * 40 * 9, 6).map((v) => v / 10), [24, 40, 3, 3]);
  const bias = Tensor.from(rnd(24, 7), [24]);
  const opts = { bias, padding: 1, activation: 'relu' };
  const d = await (await conv2d(x, w, { ...opts, algorithm: 'direct' })).data();
  const w2 = await (await conv2d(x, w, { ...opts, algorithm: 'winograd2' })).data();
  const w4 = await (await conv2d(x, w, { ...opts, algorithm: 'winograd4' })).data();
  const best = await (await conv2d(x, w, { ...opts, algorithm: 'winograd' })).data();
  assert.ok(nmse(w2, d) < 1e-12, `winograd2 nmse ${nmse(w2, d)}`);
  assert.ok(nmse(w4, d) < 1e-11, `winograd4 nmse ${nmse(w4, d)}`);
  const same = (a, b) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
  assert.ok(same(best, w2) || same(best, w4), "'winograd' runs one of the two tiles");
});

test('conv2d rejects bad input with typed errors naming the op', async () => {
  const x = Tensor.from(new Float32Array(2 * 3 * 5 * 5), [2, 3, 5, 5]);
  const w = Tensor.from(new Float32Array(4 * 3 * 3 * 3), [4, 3, 3, 3]);
  const i = Tensor.from(new Int32Array(4 * 3 * 3 * 3), [4, 3, 3, 3]);
  const bad = [
    [() => conv2d(x, i), DTypeError, /conv2d: weight must be float32, received int32/],
    [() => conv2d(x, Tensor.from(new Float32Array(8), [2, 4])), ShapeError, /conv2d: weight must be \[O, C\/groups, kh, kw\]/],
    [() => conv2d(Tensor.from(new Float32Array(8), [2, 4]), w), ShapeError, /conv2d: x must be \[N, C, H, W\]/],
    [() => conv2d(x, Tensor.from(new Float32Array(4 * 2 * 9), [4, 2, 3, 3])), ShapeError, /C\/groups = 3/],
    [() => conv2d(x, w, { groups: 2 }), ShapeError, /divisible by groups/],
    [() => conv2d(x, w, { stride: 0 }), SotrRangeError, /stride must be >= 1/],
    [() => conv2d(x, w, { padding: [1, 2, 3] }), SotrRangeError, /padding must be a number or \[h, w\]/],
    [() => conv2d(x, w, { dilation: 4 }), ShapeError, /smaller than the dilated kernel/],
    [() => conv2d(x, w, { bias: Tensor.from(new Float32Array(3), [3]) }), ShapeError, /bias must have shape \[4\]/],
    [() => conv2d(x, w, { residual: Tensor.from(new Float32Array(3), [3]) }), ShapeError, /residual must have shape \[2, 4, 3, 3\]/],
    [() => conv2d(x, w, { activation: 'gelu' }), SotrRangeError, /activation/],
    [() => conv2d(x, w, { stride: 'x' }), SotrTypeError, /stride/],
    [() => conv2d(x, null), SotrTypeError, /conv2d: weight is required/],
    [() => conv2d(x, w, { algorithm: 'fft' }), SotrRangeError, /conv2d: algorithm must be 'auto', 'direct', 'winograd', 'winograd2' or 'winograd4', received 'fft'/],
    [() => conv2d(x, w, { algorithm: 'winograd' }), SotrRangeError, /algorithm 'winograd' needs a 3x3 kernel.*3 -> 4 channels/],
    [() => conv2d(x, w, { algorithm: 'winograd2' }), SotrRangeError, /algorithm 'winograd2' needs a 3x3 kernel.*3 -> 4 channels/],
    [() => conv2d(x, w, { algorithm: 'winograd4' }), SotrRangeError, /algorithm 'winograd4' needs a 3x3 kernel.*3 -> 4 channels/],
  ];
  await expectTypedErrors(bad);
});

test.run();
