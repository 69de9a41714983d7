// predict's `classes` option: only the classes asked for, as if the model had no other (their candidates are dropped
// at selection, before nmsPre, Matrix NMS and maxPerImage). Matrix NMS decays a mask only by masks of its own class,
// so with the caps out of the way the instances must be exactly the unfiltered prediction's instances of those
// classes. Names and labels, the load-time default, and typed errors for what names no class.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Sotr, Tensor, selectCandidates, SotrRangeError, SotrTypeError } from '../../dist/index.js';
import { fixturePath, instanceSummary as summary } from './helpers.mjs';
import { expectTypedErrors } from '../helpers/typed_errors.mjs';

const load = (o = {}) => Sotr.load(fixturePath('tiny_sotr.pth'), { onWarning: () => {}, minSize: 40, maxSize: 400, ...o });
const IMAGES = ['img_ratio3.png', 'img_land.png', 'img_pal.png'].map(fixturePath);
// Caps that never bind, so that filtering before and after selection must agree.
const UNCAPPED = { nmsPre: 1_000_000, maxPerImage: 1_000_000 };

test('classes: exactly the unfiltered instances of those classes (caps lifted), by label or by name', async () => {
  const m = await load();
  try {
    for (const img of IMAGES) {
      const all = await m.predict(img, UNCAPPED);
      const labels = [...new Set(all.instances.map((i) => i.label))];
      assert.ok(labels.length >= 3, `${img}: the fixture gives ${labels.length} classes, the test needs 3`);
      // Two classes present (one by label, one by name) and one absent from the image.
      const absent = m.config.classNames.findIndex((_, l) => !labels.includes(l));
      const keep = [labels[0], labels[2]];
      const want = summary(all).filter(([l]) => keep.includes(l));
      const byLabel = await m.predict(img, { ...UNCAPPED, classes: [labels[2], labels[0], absent] });
      assert.equal(summary(byLabel), want, `${img}: by label`);
      const byName = await m.predict(img, { ...UNCAPPED, classes: [m.config.classNames[labels[0]], labels[2], labels[0]] });
      assert.equal(summary(byName), want, `${img}: by name, with a duplicate`);
      // With the default caps the classes kept get up to maxPerImage of their own.
      const capped = await m.predict(img, { classes: [labels[0]], maxPerImage: 3 });
      assert.ok(capped.instances.length <= 3 && capped.instances.every((i) => i.label === labels[0]));
      assert.equal((await m.predict(img, { classes: [absent] })).instances, [], `${img}: a class absent from the image`);
    }
  } finally {
    await m.dispose();
  }
});

test('classes: [] gives no instances; null keeps every class; the load option is the default', async () => {
  const img = IMAGES[0];
  const m = await load();
  let all;
  try {
    all = summary(await m.predict(img));
    assert.equal(m.config.classes, null);
    assert.equal((await m.predict(img, { classes: [] })).instances, []);
  } finally {
    await m.dispose();
  }
  const label = all[0][0];
  const name = (await load()).config.classNames[label];
  const f = await load({ classes: [name] });
  try {
    assert.equal(f.config.classes, [label], 'resolved to labels');
    const r = await f.predict(img);
    assert.ok(r.instances.length > 0 && r.instances.every((i) => i.label === label));
    assert.equal(summary(await f.predict(img, { classes: null })), all, 'null: every class again');
  } finally {
    await f.dispose();
  }
});

test('classes: what names no class is a typed error naming it, at load and at predict', async () => {
  const m = await load();
  try {
    const n = m.config.classNames.length;
    const img = IMAGES[0];
    const upper = m.config.classNames[0].toUpperCase();
    await expectTypedErrors([
      [() => m.predict(img, { classes: ['no such class'] }), SotrRangeError, /no class is named "no such class"; the model's 80 classes \(model.config.classNames\): person, bicycle, car, /],
      [() => m.predict(img, { classes: [n] }), SotrRangeError, new RegExp(`${n} is not a label of this model \\(integers 0 to ${n - 1}\\)`)],
      [() => m.predict(img, { classes: [-1] }), SotrRangeError, /-1 is not a label/],
      [() => m.predict(img, { classes: [0.5] }), SotrRangeError, /0.5 is not a label/],
      [() => m.predict(img, { classes: m.config.classNames[0] }), SotrTypeError, /classes must be an array/],
      [() => m.predict(img, { classes: [{}] }), SotrTypeError, /labels \(numbers\) or class names \(strings\)/],
      // A misspelt name gets a hint, and one in the wrong case too.
      [() => m.predict(img, { classes: ['persn'] }), SotrRangeError, /did you mean "person"\?/],
      [() => m.predict(img, { classes: [upper] }), SotrRangeError, /did you mean/],
      // predictEach checks its options at the call.
      [() => m.predictEach([img], { classes: 'x' }), SotrTypeError, /classes must be an array/],
    ]);
    assert.equal(summary(await m.predict(img)).length > 0, true, 'the model still predicts');
  } finally {
    await m.dispose();
  }
  await expectTypedErrors([
    [() => load({ classes: ['no such class'] }), SotrRangeError, /^Sotr.load: classes: no class is named/],
    [() => load({ classes: 'person' }), SotrTypeError, /^Sotr.load: classes must be an array/],
  ]);
});

test('selectCandidates classes: the unfiltered candidates of those classes, in the same order', async () => {
  // Random logits over 2 levels, 7 classes: many candidates and point-NMS suppressions.
  let s = 7;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 8 - 5;
  const cate = [5, 3].map((n) => Tensor.from(Float32Array.from({ length: 7 * n * n }, rnd), [7, n, n]));
  const list = async (o) => {
    const c = await selectCandidates(cate, { threshold: 0.3, strides: [8, 16], ...o });
    const [cells, labels, scores] = await Promise.all([c.cells.data(), c.labels.data(), c.scores.data()]);
    for (const t of [c.cells, c.labels, c.scores, c.strides, c.rows, c.distinctCells]) t.dispose();
    return Array.from(cells, (cell, i) => [cell, labels[i], scores[i]]);
  };
  try {
    const all = await list({});
    for (const keep of [[0], [2, 5], [6, 1, 3], []]) {
      const want = all.filter(([, l]) => keep.includes(l));
      assert.equal(await list({ classes: keep }), want, `classes ${keep}`);
    }
    await expectTypedErrors([
      [() => selectCandidates(cate, { threshold: 0.3, strides: [8, 16], classes: [7] }), SotrRangeError, /class indices in \[0, 7\), received 7/],
      [() => selectCandidates(cate, { threshold: 0.3, strides: [8, 16], classes: [-1] }), SotrTypeError, /classes must be an array of class indices/],
    ]);
  } finally {
    for (const t of cate) t.dispose();
  }
});

test.run();
