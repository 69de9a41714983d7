// Every registered native op (public and internal: listOps) called thousands of times with bad or odd input, each
// call to resolve or to reject with one of the library's typed errors: never a crash, a hang, or a plain JavaScript
// error. The calls start from real ones: the ops' calls during a tiny model's predictions (the DCN model too), its
// masks' RLE and contours, and a few direct calls, are recorded (op, input dtypes and shapes, attributes); each is
// then replayed with fresh random data and one or two mutations (a dimension changed, a dtype swapped, an input
// dropped, added or swapped, an attribute given a random value (negative, fractional, NaN, infinite, an int32 edge,
// a list, a string, a boolean), deleted, or an unknown one added), so that the checks past the first one are
// reached too. Index inputs get values in and out of range. Ops with no recorded call get random calls. With a
// usable GPU the calls are recorded from models on it too and replayed there (inputs on the GPU). Seeded: a
// failure names the call. (scripts/sanitize-check.sh with SANITIZE_CHECK_NODE=1 runs this under AddressSanitizer.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Sotr,
  Tensor,
  backendInfo,
  listOps,
  runOp,
  masksToRLE,
  masksToContours,
  matmul,
  matrixNms,
  relu,
  leakyRelu,
  slice,
  linear,
  SotrRangeError,
} from '../../dist/index.js';
import { native } from '../../dist/native.js';
import { fixturePath } from '../model/helpers.mjs';
import { seededRandom, isTypedError } from '../helpers/fuzz.mjs';

const CALLS = Number(process.env.SOTR_FUZZ_CALLS || 300); // a op
const STRINGS = ['nearest', 'bilinear', 'external', 'ccomp', 'simple', 'none', 'gaussian', 'linear', 'relu', 'sigmoid', 'auto', 'winograd4', '', 'x'];
const SPECIAL = [NaN, Infinity, -Infinity, -1, -(2 ** 31), 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 1, 0.5, -0.5, 1e-30, 0];
const DTYPES = ['float32', 'int32', 'uint8', 'float16', 'bfloat16'];
// On a machine with a usable GPU the calls are recorded from a model on it and replayed there as well.
const DEVICES = ['cpu', ...(backendInfo().cuda.available ? ['cuda'] : [])];

const { r01, pick, int, state } = seededRandom(20261127);

function number() {
  const r = r01();
  if (r < 0.6) return int(-2, 9);
  if (r < 0.75) return int(10, 70);
  if (r < 0.85) return +(r01() * 4 - 1).toFixed(3);
  return pick(SPECIAL);
}

function attrValue(like) {
  const r = r01();
  // Often a value of the same kind as the recorded one, one element changed.
  if (Array.isArray(like) && like.length && r < 0.5) {
    const v = [...like];
    v[int(0, v.length - 1)] = number();
    return r01() < 0.2 ? v.slice(0, int(0, v.length)) : v;
  }
  if (r < 0.55) return number();
  if (r < 0.8) return Array.from({ length: int(0, 6) }, number);
  if (r < 0.9) return pick(STRINGS);
  return r01() < 0.5;
}

function randomData(dtype, n) {
  if (dtype === 'float32') {
    const v = Float32Array.from({ length: n }, () => (r01() < 0.02 ? pick([NaN, Infinity, -1e30]) : r01() * 4 - 2));
    return r01() < 0.3 ? v.sort().reverse() : v; // sorted descending at times: scores (matrix_nms) want that
  }
  // Index-like values: half the tensors all small (indices that fit, so the op runs past its index checks), the
  // rest with some negative or far out of range.
  if (dtype === 'int32') {
    if (r01() < 0.5) return Int32Array.from({ length: n }, () => int(0, 2));
    return Int32Array.from({ length: n }, () => (r01() < 0.9 ? int(0, 6) : pick([-1, -(2 ** 31), 2 ** 31 - 1, 1000])));
  }
  if (dtype === 'uint8') return Uint8Array.from({ length: n }, () => int(0, 255));
  return Uint16Array.from({ length: n }, () => int(0x3000, 0x4400)); // float16 / bfloat16 bits
}

function tensorOf({ dtype, shape, device = 'cpu' }) {
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.from(randomData(dtype, n), shape, { dtype, device });
}

function randomSpec() {
  return { dtype: pick(DTYPES), shape: Array.from({ length: int(0, 4) }, () => (r01() < 0.1 ? 0 : int(1, 7))) };
}

// Records the first few distinct calls of each op (input dtypes and shapes, attributes) while fn runs.
async function record(fn) {
  const addon = native();
  const seen = new Map();
  const keep = (name, handles, attrs) => {
    const inputs = handles.map((h) => (h ? { dtype: h.dtype, shape: [...h.shape], device: h.device } : null));
    const flat = Array.isArray(attrs) ? attrs : Object.entries(attrs).flat();
    const a = {};
    for (let i = 0; i + 1 < flat.length; i += 2) a[flat[i]] = ArrayBuffer.isView(flat[i + 1]) ? Array.from(flat[i + 1]) : flat[i + 1];
    // Small calls only: the replays must stay cheap.
    if (inputs.some((s) => s && s.shape.reduce((x, y) => x * y, 1) > 1 << 18)) return;
    const list = seen.get(name) ?? [];
    const key = JSON.stringify([inputs, a]);
    if (list.length < 4 * DEVICES.length && !list.some((c) => c.key === key)) list.push({ key, inputs, attrs: a });
    seen.set(name, list);
  };
  const { runOp: run, submitOp: submit } = addon;
  addon.runOp = (name, handles, attrs, ...rest) => (keep(name, handles, attrs), run.call(addon, name, handles, attrs, ...rest));
  addon.submitOp = (name, handles, attrs, ...rest) => (keep(name, handles, attrs), submit.call(addon, name, handles, attrs, ...rest));
  try {
    await fn();
  } finally {
    addon.runOp = run;
    addon.submitOp = submit;
  }
  return seen;
}

function mutate(template) {
  const inputs = template.inputs.map((s) => s && { dtype: s.dtype, shape: [...s.shape], device: s.device });
  const attrs = { ...template.attrs };
  for (let m = int(0, 2); m > 0; m--) {
    const r = r01();
    const live = inputs.map((s, i) => (s ? i : -1)).filter((i) => i >= 0);
    if (r < 0.3 && live.length) {
      const s = inputs[pick(live)];
      if (s.shape.length) {
        const d = int(0, s.shape.length - 1);
        s.shape[d] = pick([0, 1, s.shape[d] + 1, Math.max(0, s.shape[d] - 1), s.shape[d] * 2, int(1, 9)]);
      } else s.shape = [int(0, 5)];
    } else if (r < 0.4 && live.length) inputs[pick(live)].dtype = pick(DTYPES);
    else if (r < 0.45 && live.length) inputs[pick(live)].shape.push(int(1, 3));
    else if (r < 0.5 && live.length) inputs[pick(live)].shape.pop();
    else if (r < 0.55) inputs.splice(int(0, inputs.length), 0, r01() < 0.3 ? null : randomSpec());
    else if (r < 0.6 && inputs.length) inputs.splice(int(0, inputs.length - 1), 1);
    else if (r < 0.63 && live.length) inputs[pick(live)] = null;
    else if (r < 0.64 && live.length) inputs[pick(live)].device = pick(DEVICES);
    else if (r < 0.66 && inputs.length > 1) {
      const [i, j] = [int(0, inputs.length - 1), int(0, inputs.length - 1)];
      [inputs[i], inputs[j]] = [inputs[j], inputs[i]];
    } else {
      const keys = Object.keys(attrs);
      const q = r01();
      if (keys.length && q < 0.7) {
        const k = pick(keys);
        attrs[k] = attrValue(attrs[k]);
      } else if (keys.length && q < 0.9) delete attrs[pick(keys)];
      else attrs[pick(['noSuchAttribute', 'width', 'height', 'stride', 'padding', 'groups', 'size', 'windows'])] = attrValue();
    }
  }
  return { inputs, attrs };
}

const templates = await record(async () => {
  const models = [['tiny_sotr.pth', [48, 64], {}], ['tiny_dcn.pth', [40, 56], { heads: 2, groupNormGroups: 4 }]];
  for (const device of DEVICES) {
    for (const [file, [h, w], extra] of models) {
      const model = await Sotr.load(fixturePath(file), { device, onWarning: () => {}, minSize: 64, maxSize: 96, ...extra });
      try {
        const data = new Uint8Array(h * w * 3);
        for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 255;
        const image = { data, width: w, height: h, channels: 3 };
        const r = await model.predict(image, { contours: { mode: 'ccomp', approx: 'none' }, scoreThreshold: 0.01 });
        const plain = (await model.predict(image, { rle: false })).instances.map((i) => i.mask);
        await masksToRLE(plain);
        await masksToContours(r.instances.map((i) => i.mask));
      } finally {
        await model.dispose();
      }
    }
  }
  const a = Tensor.from(new Float32Array(6), [2, 3]);
  const b = Tensor.from(new Float32Array(6), [3, 2]);
  (await matmul(a, b)).dispose();
  for (const op of ['sub', 'div', 'mul', 'sigmoid']) for (const t of await runOp(op, op === 'sigmoid' ? [a] : [a, a], {})) t.dispose();
  for (const t of await runOp('avgPool2d', [Tensor.from(new Float32Array(32), [1, 2, 4, 4])], { kernelSize: 2, stride: 2 })) t.dispose();
  (await relu(a)).dispose();
  (await leakyRelu(a, { negativeSlope: 0.1 })).dispose();
  (await slice(a, 1, 1, 3)).dispose();
  (await linear(a, Tensor.from(new Float32Array(12), [4, 3]))).dispose();
  // matrix_nms wants scores sorted in descending order: a call whose random replays sometimes are.
  const nmsMasks = Tensor.from(new Uint8Array(3 * 4 * 4).fill(1), [3, 4, 4], { dtype: 'uint8' });
  await matrixNms(nmsMasks, [0, 1, 0], [0.9, 0.5, 0.2]);
  nmsMasks.dispose();
  a.dispose();
  b.dispose();
});

// The two bugs the fuzzing found (2026-11-27), as fixed cases.
test('matrix_nms with boxes that do not describe the masks (outside them) runs, clipped to the masks', async () => {
  const n = 6;
  const bits = Tensor.from(new Int32Array(n * 16 * 2).fill(0x00ffffff), [n, 16, 2], { dtype: 'int32' }); // 16 x 24 masks, all set
  const labels = Tensor.from(new Int32Array(n), [n], { dtype: 'int32' });
  const scores = Tensor.from(Float32Array.from({ length: n }, (_, i) => 1 - i / 10), [n]);
  const areas = Tensor.from(new Int32Array(n).fill(384), [n], { dtype: 'int32' });
  const boxes = Tensor.from(Int32Array.from({ length: 4 * n }, (_, i) => [-(2 ** 31), -1000, 2 ** 31 - 1, 1000][i % 4]), [n, 4], { dtype: 'int32' });
  const outs = await runOp('matrix_nms', [bits, labels, scores, areas, boxes], { width: 24 });
  const decayed = await outs[0].data();
  assert.ok(decayed.every((v) => Number.isFinite(v)), String(decayed));
  for (const t of [...outs, bits, labels, scores, areas, boxes]) t.dispose();
});

test('an op whose output shape would overflow fails with a typed range error', async () => {
  const x = Tensor.from(new Float32Array(16 * 30), [1, 16, 5, 6]);
  try {
    await runOp('interpolate', [x], { size: [2 ** 32 + 1, 2 ** 32 + 1], mode: 'nearest' });
    assert.unreachable('no error');
  } catch (e) {
    assert.instance(e, SotrRangeError, String(e));
    assert.match(e.message, /more than 2\^63 bytes/);
  } finally {
    x.dispose();
  }
});

for (const { name } of listOps()) {
  const recorded = templates.get(name) ?? [];
  test(`${name}: ${recorded.length ? `${recorded.length} recorded call(s) mutated` : 'random calls'}, each resolves or fails with a typed error`, async () => {
    let ran = 0;
    for (let k = 0; k < CALLS; k++) {
      const callSeed = state();
      const { inputs: specs, attrs } = recorded.length ? mutate(pick(recorded)) : { inputs: Array.from({ length: int(0, 5) }, () => (r01() < 0.1 ? null : randomSpec())), attrs: {} };
      if (!recorded.length) for (let a = int(0, 5); a > 0; a--) attrs[pick(['width', 'height', 'stride', 'padding', 'size', 'kernelSize', 'capacity', 'windows', 'axis', 'start', 'end'])] = attrValue();
      // Mutations stay small: skip any call whose inputs would exceed 4 M elements.
      if (specs.some((s) => s && s.shape.reduce((x, y) => x * y, 1) > 1 << 22)) continue;
      const inputs = specs.map((s) => s && tensorOf(s));
      if (process.env.SOTR_FUZZ_TRACE) process.stderr.write(`${name} seed ${callSeed} ${JSON.stringify(specs)} ${JSON.stringify(attrs)}\n`);
      try {
        const outs = await runOp(name, inputs, attrs);
        for (const t of outs) t.dispose();
        ran++;
      } catch (e) {
        if (!isTypedError(e)) {
          const shapes = specs.map((s) => (s ? `${s.dtype}[${s.shape}]` : 'null')).join(', ');
          assert.unreachable(`${name} (seed ${callSeed}) with (${shapes}) ${JSON.stringify(attrs)}: untyped ${e?.constructor?.name}: ${e?.message}`);
        }
      } finally {
        for (const t of inputs) t?.dispose();
      }
    }
    if (process.env.SOTR_FUZZ_STATS) console.log(`\n${name}: ${recorded.length} templates, ${ran} of ${CALLS} calls ran`);
  });
}

test.run();
