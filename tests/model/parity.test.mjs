// The SOTR forward pass against the PyTorch reference (tests/reference/sotr_reference.py, golden fixtures of
// tests/reference/make_model_fixtures.py): every stage by NMSE at sampled positions, post-processing counts, and the
// final instances matched by label, score (1e-4 relative) and mask IoU (>= 0.99 for masks of >= 20 pixels).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Sotr } from '../../dist/index.js';
import { fixturePath, loadFixture, matchInstances, stageNmse } from './helpers.mjs';

const golden = loadFixture(fixturePath('model_golden.safetensors'));
const goldenDcn = loadFixture(fixturePath('model_golden_dcn.safetensors'));
const quiet = { onWarning: () => {} };

// fp32 on the CPU: the reference and we differ by summation order only.
const STAGE_NMSE = 1e-9;

async function checkImage(g, name, checkpoint, extra = {}) {
  const meta = Array.from(g.tensors[`${name}.meta`].data);
  const [h, w, Hp, Wp, H0, W0, ratio, minSize, maxSize, candidates, afterArea, beforeNms, afterNms] = meta;
  const model = await Sotr.load(fixturePath(checkpoint), { minSize, maxSize, ...quiet, ...extra });
  try {
    const r = await model.predict(fixturePath(`img_${name}.png`), { intermediates: true });
    assert.is(r.width, W0, `${name}: width`);
    assert.is(r.height, H0, `${name}: height`);
    const it = r.intermediates;
    assert.equal(it.input.shape, [1, 3, Hp, Wp], `${name}: padded input size`);
    assert.equal(it.maskFeature.shape.slice(2), [Hp / 4, Wp / 4], `${name}: mask feature size`);
    const e = stageNmse(g, name, it);
    assert.is(e.input, 0, `${name}: the network input (Pillow resize, mean, padding) is bit-exact`);
    for (const [k, v] of Object.entries(e)) assert.ok(v <= STAGE_NMSE, `${name}: stage ${k} NMSE ${v} > ${STAGE_NMSE}`);
    assert.is(it.trace.ratio, ratio, `${name}: ratio`);
    assert.equal(
      [it.trace.candidates, it.trace.afterAreaFilter, it.trace.beforeNms, it.trace.afterNms],
      [candidates, afterArea, beforeNms, afterNms],
      `${name}: post-processing counts`,
    );
    void h;
    void w;
    const m = matchInstances(g, name, r.instances);
    assert.is(r.instances.length, m.total, `${name}: instance count`);
    assert.equal(m.unmatched, [], `${name}: unmatched reference instances`);
    for (let i = 1; i < r.instances.length; i++) assert.ok(r.instances[i - 1].score >= r.instances[i].score, 'sorted by score');
    for (const inst of r.instances) {
      assert.equal(inst.box, inst.mask.box, 'box derived from the mask');
      assert.is(inst.mask.width, W0);
      assert.is(inst.mask.height, H0);
    }
    return { nmse: e, match: m };
  } finally {
    await model.dispose();
  }
}

for (const name of JSON.parse(golden.meta.images)) {
  test(`tiny model, image '${name}': stages, counts and instances match the reference`, async () => {
    await checkImage(golden, name, 'tiny_sotr.pth');
  });
}

const dcnNames = JSON.parse(goldenDcn.meta.images);
const dcnClasses = Array.from({ length: 8 }, (_, i) => `thing${i}`);
for (const name of dcnNames) {
  test(`DCN model with overridden constants (heads 2, GroupNorm 4 groups, 8 classes), image '${name}'`, async () => {
    await checkImage(goldenDcn, name, 'tiny_dcn.pth', { heads: 2, groupNormGroups: 4, classNames: dcnClasses });
  });
}

test('the legacy-format training checkpoint gives the same predictions as the zip one', async () => {
  const a = await Sotr.load(fixturePath('tiny_sotr.pth'), { minSize: 40, maxSize: 400, ...quiet });
  const b = await Sotr.load(fixturePath('tiny_sotr_legacy.pth'), { minSize: 40, maxSize: 400, ...quiet });
  try {
    const ra = await a.predict(fixturePath('img_ratio3.png'));
    const rb = await b.predict(fixturePath('img_ratio3.png'));
    assert.ok(ra.instances.length > 0);
    assert.equal(
      rb.instances.map((i) => [i.label, i.score, i.mask.toRLE()]),
      ra.instances.map((i) => [i.label, i.score, i.mask.toRLE()]),
    );
  } finally {
    await a.dispose();
    await b.dispose();
  }
});

test('80-class models name classes from COCO', async () => {
  const m = await Sotr.load(fixturePath('tiny_sotr.pth'), { minSize: 40, maxSize: 400, ...quiet });
  try {
    const r = await m.predict(fixturePath('img_ratio3.png'));
    for (const i of r.instances) {
      assert.is(i.category, m.config.classNames[i.label]);
      assert.type(i.cocoCategoryId, 'number');
    }
    assert.is(m.config.classNames[0], 'person');
    assert.is(m.config.cocoCategoryIds[79], 90);
  } finally {
    await m.dispose();
  }
});

test.run();
