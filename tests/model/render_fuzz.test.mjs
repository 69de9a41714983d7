// renderPrediction on damaged predictions (a field of the result or of an instance replaced by an odd value: null,
// NaN, a huge number, a string, a list of the wrong length, an object, a mask of another size) must give an image or
// a typed error; and class names with characters XML cannot hold (the labels are SVG text) must still render. Before
// 2026-11-27 a box or score of the wrong type threw a plain TypeError, and a control character in a class name an
// untyped SVG parse error from sharp. Seeded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Sotr, Mask, renderPrediction } from '../../dist/index.js';
import { seededRandom, isTypedError } from '../helpers/fuzz.mjs';
import { fixturePath } from './helpers.mjs';

const model = await Sotr.load(fixturePath('tiny_sotr.pth'), { device: 'cpu', onWarning: () => {}, minSize: 48, maxSize: 96 });
const [w, h] = [64, 48];
const img = { data: new Uint8Array(w * h * 3).map((_, i) => (i * 37) & 255), width: w, height: h, channels: 3 };
const base = await model.predict(img, { scoreThreshold: 0.01 });

test('class names with characters XML cannot hold render', async () => {
  for (const name of ['R&D', 'a<b>', '"quoted"', "it's", ']]>', 'naïve ✓ 猫', '\u0000bell\u0007', '\ud800lone', 'tab\there']) {
    const res = { ...base, instances: base.instances.slice(0, 3).map((i) => ({ ...i, category: name })) };
    const png = await renderPrediction(img, res);
    assert.ok(png.length > 100, JSON.stringify(name));
  }
});

test('damaged predictions: an image or a typed error', async () => {
  const { r01, pick } = seededRandom(9);
  const ODD = [null, undefined, -1, NaN, Infinity, 1e12, 'x', '', [], [1, 2], [NaN, 0, 5, 5], [0, 0, 1e9, 1e9], {}, true, 0, new Mask(10, 10), new Mask(w, h)];
  let ok = 0;
  for (let k = 0; k < 300; k++) {
    const res = { ...base, instances: base.instances.map((i) => ({ ...i })) };
    const target = pick([res, ...res.instances.slice(0, 3)]);
    const key = pick(Object.keys(target));
    target[key] = pick(ODD);
    try {
      await renderPrediction(img, res, { format: pick(['png', 'jpeg']) });
      ok++;
    } catch (e) {
      if (!isTypedError(e)) assert.unreachable(`${key} = ${String(target[key])}: ${e?.constructor?.name}: ${e?.message}`);
    }
  }
  assert.ok(ok > 50, `only ${ok} rendered`);
});

test.after(() => model.dispose());
test.run();
