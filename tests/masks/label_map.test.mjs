// labelMap: a prediction's instances painted into one image-sized map (1 + instance index, or 1 + label; 0 for
// background; overlaps to the instance listed first), against a pixel-by-pixel reference from toUint8Array, on
// hand-made overlapping masks (windows at odd offsets, whole-image masks, an empty one) and on a real prediction.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Mask, Sotr, labelMap, SotrRangeError, SotrTypeError } from '../../dist/index.js';
import { fixturePath } from '../model/helpers.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

/** The reference: every pixel of every mask, first instance wins. */
function reference(pred, by = 'instance') {
  const out = new Uint16Array(pred.width * pred.height);
  pred.instances.forEach((inst, i) => {
    const bytes = inst.mask.toUint8Array();
    const v = by === 'instance' ? i + 1 : inst.label + 1;
    for (let p = 0; p < bytes.length; p++) if (bytes[p] && out[p] === 0) out[p] = v;
  });
  return out;
}

function disc(W, H, cx, cy, r) {
  const b = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) b[y * W + x] = 1;
  return Mask.fromUint8Array(b, W, H);
}

test('overlapping masks (windows across 64-bit words, a whole-image mask, an empty one): the reference, by instance and by label', async () => {
  const [W, H] = [197, 83];
  const full = new Mask(W, H); // whole-image bits, one set pixel row
  for (let x = 0; x < W; x += 3) full.data[40 * Math.ceil(W / 64) * 2 + (x >>> 5)] |= 1 << (x & 31);
  const pred = {
    width: W,
    height: H,
    instances: [
      { label: 4, mask: disc(W, H, 60, 40, 25) },
      { label: 4, mask: disc(W, H, 80, 45, 30) },
      { label: 0, mask: new Mask(W, H) },
      { label: 9, mask: disc(W, H, 190, 5, 20) },
      { label: 2, mask: full },
    ],
  };
  for (const by of ['instance', 'label']) {
    const m = await labelMap(pred, { by });
    assert.is(m.width, W);
    assert.is(m.height, H);
    assert.ok(m.data instanceof Uint16Array);
    assert.equal(Array.from(m.data), Array.from(reference(pred, by)), by);
  }
  const m = await labelMap(pred);
  assert.is(m.data[40 * W + 60], 1, 'the overlap goes to the first');
  assert.ok(!m.data.includes(3), 'the empty mask paints nothing');
});

test("a real prediction's instances, and every person as one mask", async () => {
  const model = await Sotr.load(fixturePath('tiny_sotr.pth'), { onWarning: () => {}, minSize: 160, maxSize: 300 });
  try {
    const pred = await model.predict(fixturePath('img_land.png'));
    assert.ok(pred.instances.length > 3);
    for (const by of ['instance', 'label']) assert.equal(Array.from((await labelMap(pred, { by })).data), Array.from(reference(pred, by)), by);
    const label = pred.instances[0].label;
    const sem = await labelMap(pred, { by: 'label' });
    const union = Mask.fromUint8Array(sem.data.map((v) => (v === label + 1 ? 1 : 0)), pred.width, pred.height);
    assert.ok(union.area >= pred.instances[0].mask.area);
  } finally {
    await model.dispose();
  }
});

test('bad arguments are typed errors', async () => {
  const m = disc(10, 10, 5, 5, 3);
  await expectTypedErrors([
    [() => labelMap(null), SotrTypeError, /expected a prediction/],
    [() => labelMap({ width: 10, height: 10, instances: [{ label: 0, mask: {} }] }), SotrTypeError, /instance 0 has no Mask/],
    [() => labelMap({ width: 11, height: 10, instances: [{ label: 0, mask: m }] }), SotrRangeError, /mask is 10 x 10, the prediction 11 x 10/],
    [() => labelMap({ width: 10, height: 10, instances: [] }, { by: 'class' }), SotrRangeError, /by must be 'instance' or 'label'/],
    [() => labelMap({ width: 10, height: 10, instances: [] }, { byLabel: true }), SotrTypeError, /byLabel/],
    [() => labelMap({ width: 10, height: 10, instances: [{ label: -1, mask: m }] }, { by: 'label' }), SotrRangeError, /label -1 does not fit/],
    [() => labelMap({ width: 1e6, height: 1e6, instances: [] }), SotrRangeError, /a 1000000 x 1000000 map \(1000000000000 16-bit values\) cannot be allocated/],
  ]);
  assert.equal(Array.from((await labelMap({ width: 0, height: 0, instances: [] })).data), []);
});

test.run();
