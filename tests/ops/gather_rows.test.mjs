// gatherRows against a JavaScript row copy, bit for bit (int32, uint8, float32 with NaN payloads and -0; ranks 1-3;
// no rows, one source row, repeated indices, rows of 1, 3, 5 and 4000 bytes, a source view at an odd offset), and
// its contract: typed errors, every index checked before anything is written, the index on the host whatever the
// source's device. The CUDA variants register only where CUDA is available.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Tensor, gatherRows, backendInfo, DeviceMismatchError, DisposedError, DTypeError, ShapeError, SotrRangeError, SotrTypeError,
} from '../../dist/index.js';
import { listOps, runOp } from '../../dist/ops/run.js';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

const devices = ['cpu', ...(backendInfo().cuda.available ? ['cuda'] : [])];

function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

const CTOR = { int32: Int32Array, uint8: Uint8Array, float32: Float32Array };
const bytesOf = (a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Random elements of `dtype`, as raw bytes (float32: any bit pattern, NaN payloads and -0 included). */
function randomData(dtype, n, r) {
  const a = new CTOR[dtype](n);
  const b = bytesOf(a);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
  return a;
}

/** The JavaScript reference: row index[i] of src as row i of the result. */
function gatherRef(src, shape, index) {
  const row = shape.slice(1).reduce((a, d) => a * d, 1);
  const out = new src.constructor(index.length * row);
  index.forEach((k, i) => out.set(src.subarray(k * row, (k + 1) * row), i * row));
  return out;
}

const CASES = [
  // [name, dtype, src shape, m, repeats]
  ['no rows (m = 0)', 'float32', [4, 3], 0, false],
  ['rank 1, one row', 'int32', [1], 1, false],
  ['one source row taken 7 times', 'uint8', [1, 5], 7, true],
  ['rows of 1 byte, repeats', 'uint8', [9, 1], 17, true],
  ['rows of 3 bytes', 'uint8', [7, 3], 11, false],
  ['rows of 5 bytes', 'uint8', [13, 5], 64, false],
  ['rank 1 int32', 'int32', [1000], 777, false],
  ['float32 rows of 12 bytes, repeats', 'float32', [5, 3], 9, true],
  ['int32 rows of 4000 bytes', 'int32', [37, 1000], 301, false],
  ['float32 [n, 10, 100] (4000-byte rows)', 'float32', [6, 10, 100], 5, false],
  ['uint8 rows of 4000 bytes', 'uint8', [4, 4000], 3, false],
  ['empty rows', 'int32', [2, 0, 4], 3, false],
  ['bit-packed masks [300, 50, 12]', 'int32', [300, 50, 12], 120, false],
];

for (const device of devices) {
  for (const [i, [name, dtype, shape, m, repeats]] of CASES.entries()) {
    test(`gatherRows ${name} = the JavaScript row copy on ${device}`, async () => {
      const r = rng(17 + i);
      const n = shape[0];
      const data = randomData(dtype, shape.reduce((a, d) => a * d, 1), r);
      const index = Int32Array.from({ length: m }, (_, k) => (k === 0 ? 0 : k === 1 ? n - 1 : Math.floor(r() * (repeats ? Math.min(n, 3) : n))));
      const src = Tensor.from(data, shape, { device });
      const idx = Tensor.from(index, [m]);
      const out = await gatherRows(src, idx);
      try {
        assert.is(out.device, src.device);
        assert.is(out.dtype, dtype);
        assert.equal(out.shape, [m, ...shape.slice(1)]);
        const got = await out.data();
        assert.ok(Buffer.compare(bytesOf(got), bytesOf(gatherRef(data, shape, index))) === 0, 'bytes differ');
      } finally {
        for (const t of [src, idx, out]) t.dispose();
      }
    });
  }

  test(`gatherRows of a view at an odd offset (unaligned rows) on ${device}`, async () => {
    // Rows of 16 bytes, but the view starts 4 bytes in (no 16-byte vectors on CUDA), and rows of 3 bytes 1 byte in.
    for (const [dtype, shape, start] of [['int32', [9, 4], 1], ['uint8', [8, 3], 1]]) {
      const r = rng(5);
      const data = randomData(dtype, shape.reduce((a, d) => a * d, 1), r);
      const whole = Tensor.from(data, shape, { device });
      const view = whole.narrow(start, shape[0]);
      const vshape = [shape[0] - start, ...shape.slice(1)];
      const index = Int32Array.from([0, vshape[0] - 1, 2, 2, 1]);
      const idx = Tensor.from(index, [index.length]);
      const out = await gatherRows(view, idx);
      try {
        const row = shape.slice(1).reduce((a, d) => a * d, 1);
        const want = gatherRef(data.subarray(start * row), vshape, index);
        assert.ok(Buffer.compare(bytesOf(await out.data()), bytesOf(want)) === 0, `${dtype}: bytes differ`);
      } finally {
        for (const t of [whole, view, idx, out]) t.dispose();
      }
    }
  });

  test(`gatherRows rejects bad arguments with typed errors on ${device}`, async () => {
    const src = Tensor.from(Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2], { device });
    const idx = Tensor.from(Int32Array.from([2, 0]), [2]);
    const idxF = Tensor.from(Float32Array.from([0, 1]), [2]);
    const idx2d = Tensor.from(Int32Array.from([0, 1]), [1, 2]);
    const far = Tensor.from(Int32Array.from([0, 1, 3]), [3]);
    const neg = Tensor.from(Int32Array.from([-1]), [1]);
    const half = Tensor.from(new Uint16Array(6), [3, 2], { dtype: 'float16', device });
    const scalar = Tensor.from(Float32Array.from([1]), [], { device });
    const gone = Tensor.from(Int32Array.from([0]), [1]);
    gone.dispose();
    await expectTypedErrors([
      [() => gatherRows(src, idxF), DTypeError, /gatherRows: index must be int32, received float32/],
      [() => gatherRows(src, idx2d), ShapeError, /gatherRows: index/],
      [() => gatherRows(src, far), SotrRangeError, /gatherRows: index\[2\] = 3 is outside src's 3 rows/],
      [() => gatherRows(src, neg), SotrRangeError, /gatherRows: index\[0\] = -1 is outside/],
      [() => gatherRows(half, idx), DTypeError, /gatherRows: src must be int32, uint8 or float32, received float16/],
      [() => gatherRows(scalar, idx), ShapeError, /gatherRows: src must have at least 1 dimension/],
      [() => gatherRows(src, undefined), SotrTypeError, /gatherRows: index is required/],
      [() => gatherRows([1, 2], idx), SotrTypeError, /gatherRows: src must be a Tensor/],
      [() => gatherRows(src, gone), DisposedError, /index/],
    ]);
    // A failed call leaves the device usable, and the same tensors work with a good index.
    const out = await gatherRows(src, idx);
    assert.equal([...(await out.data())], [5, 6, 1, 2]);
    for (const t of [src, idx, idxF, idx2d, far, neg, half, scalar, out]) t.dispose();
  });
}

test('gatherRows has a CUDA kernel in CUDA builds', () => {
  const ops = listOps().filter((o) => o.name === 'gatherRows');
  assert.equal(ops, [{ name: 'gatherRows', cuda: backendInfo().cuda.compiled === true }]);
});

if (devices.includes('cuda')) {
  test('gatherRows on CUDA: the index must stay on the host (the wrapper and the native registry both say so)', async () => {
    const src = Tensor.from(Float32Array.from([1, 2, 3, 4]), [2, 2], { device: 'cuda' });
    const cpuSrc = Tensor.from(Float32Array.from([1, 2, 3, 4]), [2, 2]);
    const idx = Tensor.from(Int32Array.from([1]), [1], { device: 'cuda' });
    await expectTypedErrors([
      [() => gatherRows(src, idx), DeviceMismatchError, /gatherRows: index must be a CPU tensor/],
      // past the wrapper: OpDef::hostInputs in the registry
      [() => runOp('gatherRows', [src, idx], {}), DeviceMismatchError, /gatherRows: input 1 is on cuda:0 but must be on the cpu/],
      [() => runOp('gatherRows', [cpuSrc, idx], {}), DeviceMismatchError, /gatherRows: input 1 is on cuda:0 but must be on the cpu/],
    ]);
    for (const t of [src, cpuSrc, idx]) t.dispose();
  });
}

test.run();
