// dynamicConv and dynamicConvMasks against the PyTorch goldens of
// tests/reference/make_mask_fixtures.py (conv2d + sigmoid; binary masks,
// areas, soft sums and boxes) on CUDA and at every CPU SIMD level,
// keepOnDevice chaining into matrixNms, and the contract.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Tensor, BitMasks, DeviceBitMasks, dynamicConv, dynamicConvMasks, matrixNms, backendInfo,
  ShapeError, DTypeError, SotrRangeError, SotrTypeError,
} from '../../dist/index.js';
import { loadFixture, nmse } from '../helpers/fixture.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';
import { cpuSimdLevels, atSimdLevel } from '../helpers/simd_levels.mjs';

const fx = loadFixture('mask_dynconv');
const cases = JSON.parse(fx.meta.cases);
const devices = ['cpu', ...(backendInfo().cuda.available ? ['cuda'] : [])];
const T = (k, device) => Tensor.from(fx.tensors[k].data, fx.tensors[k].shape, { device });

// The CPU at each SIMD level (the post-processing has scalar, AVX2 and AVX-512 paths), then CUDA.
const targets = [...cpuSimdLevels().map((level) => ['cpu', level]), ...devices.filter((d) => d !== 'cpu').map((d) => [d, null])];
for (const [device, level] of targets) {
  const where = level ? `${device} (${level})` : device;
  const run = (fn) => (level ? () => atSimdLevel(level, fn) : fn);
  for (const [name, k, sigmoid, threshold, exact] of cases) {
    test(`dynamicConv ${name} (k ${k}) matches PyTorch on ${where}`, run(async () => {
      const out = await dynamicConv(T(`${name}.features`, device), T(`${name}.kernels`, device), { sigmoid });
      const ref = fx.tensors[`${name}.out`];
      assert.equal([...out.shape], ref.shape);
      const e = nmse(await out.data(), ref.data);
      assert.ok(e < 1e-11, `nmse ${e}`);
    }));

    test(`dynamicConvMasks ${name} (k ${k}, threshold ${threshold}) matches PyTorch on ${where}`, run(async () => {
      const f = T(`${name}.features`, device);
      const kern = T(`${name}.kernels`, device);
      const bm = await dynamicConvMasks(f, kern, { threshold });
      assert.instance(bm, BitMasks);
      const refMasks = fx.tensors[`${name}.masks`];
      const [n, h, w] = refMasks.shape;
      assert.equal([bm.count, bm.height, bm.width, bm.wordsPerRow], [n, h, w, Math.ceil(w / 64)]);
      const dense = bm.toUint8Array();
      const soft = fx.tensors[`${name}.out`].data; // sigmoid values (all cases with sigmoid)
      const refAreas = fx.tensors[`${name}.areas`].data;
      const refSoft = fx.tensors[`${name}.softSums`].data;
      if (exact) {
        // integer-valued products: the same logits in any order, so exact bits
        assert.equal(dense, refMasks.data);
        assert.equal(bm.areas, refAreas);
        assert.equal(bm.boxes, fx.tensors[`${name}.boxes`].data);
        for (let i = 0; i < n; i++) assert.ok(Math.abs(bm.softSums[i] - refSoft[i]) <= 1e-5 * Math.max(1, refSoft[i]), `soft ${i}`);
      } else if (sigmoid) {
        // float inputs: a pixel may flip only where the sigmoid is at the threshold within rounding
        let flips = 0;
        for (let i = 0; i < dense.length; i++) {
          if (dense[i] !== refMasks.data[i]) {
            flips++;
            assert.ok(Math.abs(soft[i] - threshold) < 1e-6, `pixel ${i} flipped at sigmoid ${soft[i]}`);
          }
        }
        for (let i = 0; i < n; i++) {
          assert.ok(Math.abs(bm.areas[i] - refAreas[i]) <= flips, `area ${i}`);
          assert.ok(Math.abs(bm.softSums[i] - refSoft[i]) <= 1e-5 * Math.max(1, refSoft[i]) + flips, `soft ${i}`);
        }
      }
      // the stats always describe the bits
      const again = new BitMasks({ count: n, height: h, width: w, data: bm.words.slice() });
      assert.equal(again.areas, bm.areas);
      assert.equal(again.boxes, bm.boxes);
    }));
  }
}

for (const device of devices) {
  test(`dynamicConvMasks keepOnDevice chains into matrixNms on ${device}`, async () => {
    const name = 'q1x1';
    const dev = await dynamicConvMasks(T(`${name}.features`, device), T(`${name}.kernels`, device), { keepOnDevice: true });
    assert.instance(dev, DeviceBitMasks);
    assert.is(dev.device, dev.bits.device);
    assert.ok(dev.device.startsWith(device));
    const host = await dev.toHost();
    assert.equal(host.toUint8Array(), fx.tensors[`${name}.masks`].data);
    const n = host.count;
    const labels = Int32Array.from({ length: n }, (_, i) => i % 2);
    const scores = Float32Array.from({ length: n }, (_, i) => 1 - i / 10);
    const a = await matrixNms(dev, labels, scores);
    const b = await matrixNms(host, labels, scores);
    const c = await matrixNms(Tensor.from(host.toUint8Array(), [n, host.height, host.width]), labels, scores);
    assert.equal(b, c);
    // CUDA's expf and the CPU's exp may differ by an ulp in the Gaussian decay.
    assert.is(a.length, b.length);
    for (let i = 0; i < a.length; i++) {
      assert.ok(Math.abs(a[i] - b[i]) <= 2e-7 * Math.max(1, Math.abs(b[i])), `decayed score ${i}: ${a[i]} vs ${b[i]}`);
    }
    if (device === 'cpu') assert.equal(a, b);
    dev.dispose();
    assert.ok(dev.disposed);
  });
}

test('dynamicConv: no channels, empty maps, N = 0', async () => {
  const y = await dynamicConv(Tensor.zeros([0, 2, 3]), Tensor.zeros([2, 0]));
  assert.equal([...(await y.data())], new Array(12).fill(0.5));
  const z = await dynamicConv(Tensor.zeros([4, 0, 3]), Tensor.zeros([2, 4]));
  assert.equal([...z.shape], [2, 0, 3]);
  const bm = await dynamicConvMasks(Tensor.zeros([4, 5, 3]), Tensor.zeros([0, 4]));
  assert.is(bm.count, 0);
  const e = await dynamicConvMasks(Tensor.zeros([4, 0, 3]), Tensor.zeros([2, 4]));
  assert.equal([...e.areas], [0, 0]);
  assert.equal([...e.boxes], new Array(8).fill(0));
});

test('dynamicConv rejects bad input with typed errors naming the op', async () => {
  const f = Tensor.zeros([4, 5, 6]);
  const bad = [
    [() => dynamicConv(f, Tensor.zeros([2, 3])), ShapeError, /dynamic_conv: kernels have 3 channels but features have 4/],
    [() => dynamicConv(f, Tensor.zeros([2, 4, 2, 2])), ShapeError, /square odd k/],
    [() => dynamicConv(f, Tensor.zeros([2, 4, 3])), ShapeError, /kernels must be/],
    [() => dynamicConv(Tensor.zeros([4, 5]), Tensor.zeros([2, 4])), ShapeError, /features must be \[C, H, W\]/],
    [() => dynamicConv(f, Tensor.from(new Int32Array(8), [2, 4])), DTypeError, /kernels must be float32/],
    [() => dynamicConv(f, Tensor.zeros([2, 4]), { sigmoid: 'yes' }), SotrTypeError, /sigmoid/],
    [() => dynamicConv(f, null), SotrTypeError, /kernels is required/],
    [() => dynamicConvMasks(f, Tensor.zeros([2, 4]), { threshold: 1.5 }), SotrRangeError, /threshold/],
    [() => dynamicConvMasks(f, Tensor.zeros([2, 4]), { threshold: '0.5' }), SotrTypeError, /threshold/],
    [() => dynamicConvMasks(f, Tensor.zeros([2, 4]), { precision: 'fp64' }), SotrRangeError, /precision/],
  ];
  await expectTypedErrors(bad);
});

test.run();
