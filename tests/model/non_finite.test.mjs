// NaN and infinite weights (a damaged file, a diverged training run): the network then gives wrong instances or
// none with nothing to say why, as the official code does. Sotr.load warns naming the tensors and how many values,
// `strict` refuses the file (CheckpointFormatError with the list in details), inspectCheckpoint and `sotr inspect`
// list them. Every float dtype a checkpoint holds is read: float32, float64, float16 and bfloat16 bit patterns.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Sotr, CheckpointFormatError, CheckpointKeyError, inspectCheckpoint, readCheckpoint, writeSafetensors } from '../../dist/index.js';
import { nonFiniteTensors } from '../../dist/checkpoint/finite.js';
import { fixturePath } from './helpers.mjs';
import { sotr } from '../cli/helpers/run.mjs';

const dir = mkdtempSync(path.join(tmpdir(), 'sotr-nonfinite-'));
const tiny = fixturePath('tiny_sotr.pth');

async function poisoned(name, edit) {
  const m = await readCheckpoint(tiny);
  edit(m);
  const file = path.join(dir, name);
  await writeSafetensors(file, m);
  return file;
}

test('nonFiniteTensors: NaN, +Inf and -Inf in float32, float64, float16 and bfloat16 are found and counted; finite extremes are not', async () => {
  const e = (dtype, data) => ({ dtype, shape: [data.length], data });
  const entries = new Map([
    ['f32', e('float32', Float32Array.from([1, NaN, 3.4e38, -Infinity, Infinity, -0, 1e-45]))],
    ['f32-ok', e('float32', Float32Array.from([3.4028234e38, -3.4028234e38, 1e-45, 0]))],
    ['f64', e('float64', Float64Array.from([1e308, NaN]))],
    ['f64-ok', e('float64', Float64Array.from([1.7e308, -5e-324]))],
    ['f16', e('float16', Uint16Array.from([0x3c00, 0x7c00, 0xfc00, 0x7e00, 0x7bff]))], // 1, +Inf, -Inf, NaN, 65504
    ['f16-ok', e('float16', Uint16Array.from([0x7bff, 0xfbff, 0x0001]))],
    ['bf16', e('bfloat16', Uint16Array.from([0x3f80, 0x7fc0]))], // 1, NaN
    ['bf16-ok', e('bfloat16', Uint16Array.from([0x7f7f, 0xff7f]))], // ±3.39e38
    ['ints', e('int64', new BigInt64Array(2))],
  ]);
  // A long tensor with its one NaN at the very end (past the unrolled loop's last full step, past the first slice).
  const long = new Float32Array((1 << 19) + 3);
  long[long.length - 1] = NaN;
  entries.set('long', e('float32', long));
  assert.equal(await nonFiniteTensors(entries), [
    { key: 'bf16', count: 1 },
    { key: 'f16', count: 3 },
    { key: 'f32', count: 3 },
    { key: 'f64', count: 1 },
    { key: 'long', count: 1 },
  ]);
  assert.equal(await nonFiniteTensors(entries, ['f32-ok', 'f16', 'absent']), [{ key: 'f16', count: 3 }]);
});

test('Sotr.load warns naming the tensors; strict refuses; inspectCheckpoint lists them; an ignored key does not count', async () => {
  const file = await poisoned('poisoned.safetensors', (m) => {
    const w = m.get('backbone.bottom_up.stem.conv1.weight').data;
    w[3] = NaN;
    w[4] = Infinity;
    m.get('cate_head.kernel_pred.bias').data[0] = -Infinity;
    m.set('extra.weight', { dtype: 'float32', shape: [1], data: Float32Array.from([NaN]) });
  });
  const warnings = [];
  const model = await Sotr.load(file, { onWarning: (w) => warnings.push(w), device: 'cpu' });
  model.dispose();
  const nf = warnings.find((w) => w.includes('NaN or infinite'));
  assert.ok(nf, warnings.join('\n'));
  assert.match(nf, /in 2 tensors: backbone\.bottom_up\.stem\.conv1\.weight \(2 values\), cate_head\.kernel_pred\.bias \(1 value\): its predictions will be wrong/);
  assert.not.match(nf, /extra\.weight/);
  try {
    await Sotr.load(file, { strict: true, device: 'cpu' });
    assert.unreachable('strict accepted it');
  } catch (e) {
    // strict refuses the unexpected key first (CheckpointKeyError); without it, the values.
    assert.instance(e, CheckpointKeyError);
    assert.match(e.message, /1 unexpected key: extra\.weight/);
  }
  const clean = await poisoned('poisoned-no-extra.safetensors', (m) => {
    m.get('cate_head.kernel_pred.bias').data[5] = NaN;
  });
  try {
    await Sotr.load(clean, { strict: true, device: 'cpu' });
    assert.unreachable('strict accepted it');
  } catch (e) {
    assert.instance(e, CheckpointFormatError);
    assert.is(e.code, 'SOTR_CHECKPOINT_FORMAT');
    assert.equal(e.details.nonFinite, [{ key: 'cate_head.kernel_pred.bias', count: 1 }]);
  }
  const x = await inspectCheckpoint(file);
  assert.equal(x.nonFinite, [
    { key: 'backbone.bottom_up.stem.conv1.weight', count: 2 },
    { key: 'cate_head.kernel_pred.bias', count: 1 },
  ]);
  assert.ok(x.loadable, 'loadable: it only warns');
  // A clean checkpoint: no warning, nothing listed.
  const quiet = [];
  (await Sotr.load(tiny, { onWarning: (w) => quiet.push(w), device: 'cpu' })).dispose();
  assert.equal(quiet, []);
  assert.equal((await inspectCheckpoint(tiny)).nonFinite, []);
});

test('sotr inspect: a .pth file\'s values are always read; a .safetensors file\'s with --verify (its header alone has none)', async () => {
  const st = await poisoned('p.safetensors', (m) => {
    m.get('cate_head.kernel_pred.bias').data[1] = NaN;
  });
  let r = await sotr(['inspect', st]);
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stdout, /NaN/);
  r = await sotr(['inspect', st, '--verify']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /NaN or infinite values in 1 tensor: cate_head\.kernel_pred\.bias \(1 value\)/);
  r = await sotr(['inspect', st, '--verify', '--json']);
  assert.equal(JSON.parse(r.stdout).nonFinite, [{ key: 'cate_head.kernel_pred.bias', count: 1 }]);
  r = await sotr(['inspect', tiny, '--json']);
  assert.equal(JSON.parse(r.stdout).nonFinite, []);
});

test.run();
