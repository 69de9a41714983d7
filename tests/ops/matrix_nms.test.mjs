// matrixNms against the PyTorch goldens of tests/reference/make_mask_fixtures.py
// (SOTR's utils.matrix_nms, with the documented rules for its NaN cases), on
// every input form (uint8 tensor, BitMasks, DeviceBitMasks), exact
// intersection counts, SIMD paths against each other, and the contract.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Tensor, BitMasks, matrixNms, runOp, backendInfo,
  SotrRangeError, SotrTypeError, ShapeError, DTypeError,
} from '../../dist/index.js';
import { loadFixture, nmse } from '../helpers/fixture.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';
import { cpuSimdLevels, atSimdLevel } from '../helpers/simd_levels.mjs';

const fx = loadFixture('mask_nms');
const cases = JSON.parse(fx.meta.cases);
const devices = ['cpu', ...(backendInfo().cuda.available ? ['cuda'] : [])];
const get = (k) => fx.tensors[k];

function close(out, ref, msg) {
  assert.is(out.length, ref.length, msg);
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(out[i] - ref[i]);
    assert.ok(d <= 1e-6 * Math.abs(ref[i]) + 1e-9, `${msg}: [${i}] ${out[i]} vs ${ref[i]}`);
  }
}

for (const device of devices) {
  for (const [name, kernel, sigma, src] of cases) {
    test(`matrixNms ${name} (${kernel}, sigma ${sigma}) matches PyTorch on ${device}`, async () => {
      const m = get(`${src}.masks`);
      const [n, h, w] = m.shape;
      const labels = get(`${src}.labels`).data;
      const scores = get(`${src}.scores`).data;
      const ref = get(`${name}.decayed`).data;
      const masks = Tensor.from(m.data, m.shape, { device });
      const a = await matrixNms(masks, labels, scores, { kernel, sigma });
      close(a, ref, 'uint8 tensor');
      const bm = BitMasks.fromUint8Array(m.data, n, h, w);
      close(await matrixNms(bm, labels, scores, { kernel, sigma, device }), ref, 'BitMasks');
      // labels / scores as tensors too
      const lt = Tensor.from(Int32Array.from(labels), [n], { device });
      const st = Tensor.from(Float32Array.from(scores), [n], { device });
      close(await matrixNms(masks, lt, st, { kernel, sigma }), ref, 'tensor labels/scores');
      // exact intersections (pairs i < j of one class), through the op itself
      // (both CUDA intersection kernels; the CPU ignores the choice)
      for (const algorithm of n ? ['auto', 'popcount', 'mma', 'bmma'] : []) {
        const [dec, inter] = await runOp('matrix_nms', [bm.toTensor(device), lt, st], { kernel, sigma, intersections: true, width: w, algorithm });
        assert.equal([...inter.shape], [n, n]);
        assert.equal(await inter.data(), get(`${src}.inter`).data, algorithm);
        close(await dec.data(), ref, `runOp ${algorithm}`);
      }
      masks.dispose();
      lt.dispose();
      st.dispose();
    });
  }
}

for (const device of devices) {
  test(`matrixNms reads areas and boxes given as views at any offset on ${device}`, async () => {
    // The CUDA tiles load each box as one 16-byte int4: boxes that are a view 1, 2 or 3 int32 into their storage
    // must be copied first, not read misaligned (a sticky device error).
    const src = cases.find((c) => c[3] && get(`${c[3]}.masks`).shape[0] > 2)[3];
    const m = get(`${src}.masks`);
    const [n, h, w] = m.shape;
    const bm = BitMasks.fromUint8Array(m.data, n, h, w);
    const bits = bm.toTensor(device);
    const labels = Tensor.from(Int32Array.from(get(`${src}.labels`).data), [n], { device });
    const scores = Tensor.from(Float32Array.from(get(`${src}.scores`).data), [n], { device });
    const [ref] = await runOp('matrix_nms', [bits, labels, scores], { width: w });
    const want = await ref.data();
    for (const offset of [0, 1, 2, 3]) {
      const flatAreas = new Int32Array(n + offset);
      flatAreas.set(bm.areas, offset);
      const flatBoxes = new Int32Array(4 * n + offset);
      flatBoxes.set(bm.boxes, offset);
      const areas = Tensor.from(flatAreas, [n + offset], { device }).narrow(offset, n + offset);
      const boxes = Tensor.from(flatBoxes, [4 * n + offset], { device }).narrow(offset, 4 * n + offset).reshape([n, 4]);
      const [out] = await runOp('matrix_nms', [bits, labels, scores, areas, boxes], { width: w });
      assert.equal(await out.data(), want, `offset ${offset}`);
    }
  });
}

test('matrixNms: N = 0 and N = 1; zero union gives IoU 0 (no NaN)', async () => {
  assert.equal(await matrixNms(Tensor.zeros([0, 3, 4], { dtype: 'uint8' }), [], []), new Float32Array(0));
  assert.equal([...(await matrixNms(Tensor.zeros([1, 3, 4], { dtype: 'uint8' }), [2], [0.7]))], [Math.fround(0.7)]);
  const out = await matrixNms(Tensor.zeros([3, 2, 2], { dtype: 'uint8' }), [1, 1, 1], [0.9, 0.5, 0.5]);
  assert.equal([...out], [0.9, 0.5, 0.5].map(Math.fround));
});

test('matrixNms: the linear kernel with identical masks (compensation 1) gives 0, not NaN', async () => {
  const one = [1, 1, 0, 0, 1, 1, 0, 0, 0];
  const masks = Tensor.from(Uint8Array.from([...one, ...one, ...one]), [3, 3, 3]);
  const out = await matrixNms(masks, [0, 0, 0], [0.9, 0.8, 0.7], { kernel: 'linear' });
  // mask 1 duplicates 0: (1 - 1) / (1 - 0) = 0; mask 2 too (row 1 has comp 1 and is skipped)
  assert.equal([...out], [Math.fround(0.9), 0, 0]);
  const g = await matrixNms(masks, [0, 0, 0], [0.9, 0.8, 0.7]);
  assert.ok(Math.abs(g[1] - 0.8 * Math.exp(-2)) < 1e-7);
  // another class is not suppressed
  const c = await matrixNms(masks, [0, 1, 0], [0.9, 0.8, 0.7]);
  assert.is(c[1], Math.fround(0.8));
});

test('matrixNms: SIMD paths (AVX-512 VPOPCNTDQ / popcnt) give the same counts', async () => {
  const n = 90, h = 23, w = 333;
  let s = 99;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const px = new Uint8Array(n * h * w);
  for (let i = 0; i < n; i++) {
    const cx = rnd() * w, cy = rnd() * h, rx = 2 + rnd() * w / 2, ry = 1 + rnd() * h / 2;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const u = (x - cx) / rx, v = (y - cy) / ry;
      px[(i * h + y) * w + x] = u * u + v * v <= 1 || rnd() < 0.02 ? 1 : 0;
    }
  }
  const masks = Tensor.from(px, [n, h, w]);
  const labels = Tensor.from(Int32Array.from({ length: n }, (_, i) => i % 3), [n]);
  const scores = Tensor.from(Float32Array.from({ length: n }, (_, i) => 1 - i / n), [n]);
  const results = [];
  for (const level of cpuSimdLevels()) {
    const [d, inter] = await atSimdLevel(level, () => runOp('matrix_nms', [masks, labels, scores], { intersections: true }));
    results.push([level, await d.data(), await inter.data()]);
  }
  for (const [level, d, inter] of results.slice(1)) {
    assert.equal(inter, results[0][2], level);
    assert.equal(d, results[0][1], level);
  }
});

test('matrixNms rejects bad input with typed errors', async () => {
  const m = Tensor.zeros([3, 2, 2], { dtype: 'uint8' });
  const bad = [
    [() => matrixNms(m, [0, 0, 0], [0.5, 0.9, 0.1]), SotrRangeError, /sorted in descending order/],
    [() => matrixNms(m, [0, 0, 0], [0.9, NaN, 0.1]), SotrRangeError, /NaN/],
    [() => matrixNms(m, [0, 0], [0.9, 0.5, 0.1]), ShapeError, /labels must hold 3/],
    [() => matrixNms(m, [0, 0.5, 0], [0.9, 0.5, 0.1]), SotrRangeError, /int32/],
    [() => matrixNms(m, [0, 0, 0], [0.9, 0.5, 0.1], { kernel: 'box' }), SotrRangeError, /kernel/],
    [() => matrixNms(m, [0, 0, 0], [0.9, 0.5, 0.1], { sigma: -1 }), SotrRangeError, /sigma/],
    [() => matrixNms(Tensor.zeros([3, 2, 2]), [0, 0, 0], [0.9, 0.5, 0.1]), DTypeError, /uint8/],
    [() => matrixNms(Tensor.zeros([3, 4], { dtype: 'uint8' }), [0, 0, 0], [0.9, 0.5, 0.1]), ShapeError, /\[N, H, W\]/],
    [() => matrixNms({}, [0], [0.9]), SotrTypeError, /masks must be/],
    [() => matrixNms(m, Tensor.zeros([3]), [0.9, 0.5, 0.1]), DTypeError, /labels must be int32/],
    [() => runOp('matrix_nms', [m, Tensor.from(new Int32Array(3), [3]), Tensor.zeros([3])], { algorithm: 'tc' }), SotrRangeError, /algorithm/],
  ];
  await expectTypedErrors(bad);
  // the native op checks the order as well
  const l = Tensor.from(new Int32Array(3), [3]);
  const sc = Tensor.from(Float32Array.from([0.1, 0.9, 0.5]), [3]);
  try {
    await runOp('matrix_nms', [m, l, sc], {});
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.instance(e, RangeError);
    assert.match(e.message, /matrix_nms: scores must be sorted/);
  }
});

test.run();
