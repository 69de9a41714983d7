// masksToContours (the native maskContours op) against OpenCV: cv2.findContours goldens from
// tests/reference/make_contour_fixtures.py, every case in both modes (external, ccomp) and both approximations
// (simple, none), point for point and in OpenCV's order; the same masks shifted inside a larger canvas (the op
// traces within each mask's bounding box); all cases in one call (masks of many sizes, traced in parallel, the
// output buffer grown on the way); COCO polygons; typed errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Mask, Sotr, masksToContours, contoursToCocoPolygons, approxPolygon, SotrRangeError, SotrTypeError } from '../../dist/index.js';
import { fixturePath } from '../model/helpers.mjs';
import { loadFixture } from '../helpers/fixture.mjs';

const fx = loadFixture('contours');
const count = Number(fx.meta.cases);
const cases = [];
for (let k = 0; k < count; k++) {
  const t = fx.tensors[`case${k}.mask`];
  const [H, W] = t.shape;
  cases.push({ k, H, W, bytes: t.data });
}
const COMBOS = [
  ['external', 'simple'],
  ['external', 'none'],
  ['ccomp', 'simple'],
  ['ccomp', 'none'],
];

// The op's per-mask layout, from the returned objects.
function flatten(list, dx = 0, dy = 0) {
  const out = [list.length];
  for (const c of list) {
    assert.is(c.hole, c.parent >= 0);
    out.push(c.parent, c.points.length / 2);
    for (let i = 0; i < c.points.length; i += 2) out.push(c.points[i] - dx, c.points[i + 1] - dy);
  }
  return out;
}

function expected(k, mode, approx) {
  return Array.from(fx.tensors[`case${k}.${mode}_${approx}`].data);
}

test('every case, mode and approximation equals cv2.findContours', async () => {
  let contours = 0;
  for (const c of cases) {
    const m = Mask.fromUint8Array(c.bytes, c.W, c.H);
    for (const [mode, approx] of COMBOS) {
      const [list] = await masksToContours([m], { mode, approx });
      assert.equal(flatten(list), expected(c.k, mode, approx), `case ${c.k} (${c.H}x${c.W}) ${mode} ${approx}`);
      contours += list.length;
    }
  }
  assert.ok(contours > 500, `the cases hold many contours (${contours})`);
});

test('a mask placed inside a larger canvas: the same contours, shifted', async () => {
  for (const c of cases) {
    const [dx, dy] = [37, 5];
    const W = c.W + dx + 29;
    const H = c.H + dy + 3;
    const big = new Uint8Array(W * H);
    for (let y = 0; y < c.H; y++) big.set(c.bytes.subarray(y * c.W, (y + 1) * c.W), (y + dy) * W + dx);
    const [list] = await masksToContours([Mask.fromUint8Array(big, W, H)], { mode: 'ccomp' });
    assert.equal(flatten(list, dx, dy), expected(c.k, 'ccomp', 'simple'), `case ${c.k} shifted`);
  }
});

test('all cases in one call (many sizes, parallel, the buffer grown)', async () => {
  const masks = cases.map((c) => Mask.fromUint8Array(c.bytes, c.W, c.H));
  // Twice the list, so masks of one size are traced together.
  const lists = await masksToContours([...masks, ...masks], { mode: 'external', approx: 'none' });
  assert.is(lists.length, 2 * masks.length);
  lists.forEach((list, i) => {
    const k = cases[i % masks.length].k;
    assert.equal(flatten(list), expected(k, 'external', 'none'), `mask ${i}`);
  });
});

test('COCO polygons: outer borders of three points or more, flattened', async () => {
  const c = cases.find((x) => x.H >= 40 && x.W >= 60);
  const [list] = await masksToContours([Mask.fromUint8Array(c.bytes, c.W, c.H)], { mode: 'ccomp' });
  const polys = contoursToCocoPolygons(list);
  const want = list.filter((x) => !x.hole && x.points.length >= 6).map((x) => Array.from(x.points));
  assert.ok(polys.length > 0 && polys.length < list.length);
  assert.equal(polys, want);
  assert.equal(await masksToContours([]), []);
  const [empty] = await masksToContours([Mask.fromUint8Array(new Uint8Array(12), 4, 3)]);
  assert.equal(empty, []);
});

test('approxPolygon equals cv2.approxPolyDP (closed and open, several epsilons)', async () => {
  const eps = JSON.parse(fx.meta.epsilons);
  let checked = 0;
  for (const c of cases) {
    const m = Mask.fromUint8Array(c.bytes, c.W, c.H);
    const want = fx.tensors[`case${c.k}.dp`].data;
    let at = 0;
    for (const [mode, approx] of [['ccomp', 'none'], ['external', 'simple']]) {
      const [list] = await masksToContours([m], { mode, approx });
      for (const contour of list.slice(0, 8)) {
        for (const e of eps) {
          for (const closed of [true, false]) {
            const got = approxPolygon(contour.points, e, closed);
            const n = want[at++];
            const exp = Array.from(want.subarray(at, at + 2 * n));
            at += 2 * n;
            assert.equal(Array.from(got), exp, `case ${c.k} ${mode}/${approx} eps ${e} closed ${closed}`);
            checked++;
          }
        }
      }
    }
    assert.is(at, want.length, `case ${c.k}: every golden read`);
  }
  assert.ok(checked > 1000, `${checked} simplifications`);
  assert.equal(Array.from(approxPolygon([], 1)), []);
  assert.equal(Array.from(approxPolygon([3, 4], 1)), [3, 4]);
  assert.throws(() => approxPolygon([1, 2, 3], 1), (e) => e instanceof SotrRangeError);
  assert.throws(() => approxPolygon([1, 2], -1), (e) => e instanceof SotrRangeError);
  assert.throws(() => approxPolygon('x', 1), (e) => e instanceof SotrTypeError);
});

test("predict's contours option: each instance's contours, as masksToContours gives them", async () => {
  const model = await Sotr.load(fixturePath('tiny_sotr.pth'), { onWarning: () => {}, minSize: 160, maxSize: 300, device: 'auto' });
  try {
    const img = fixturePath('img_land.png');
    const plain = await model.predict(img);
    assert.ok(plain.instances.length > 0);
    assert.ok(plain.instances.every((i) => i.contours === undefined), 'off by default');
    for (const [opt, mode, approx] of [[true, 'external', 'simple'], [{ mode: 'ccomp', approx: 'none' }, 'ccomp', 'none']]) {
      const r = await model.predict(img, { contours: opt });
      const want = await masksToContours(r.instances.map((i) => i.mask), { mode, approx });
      assert.is(r.instances.length, plain.instances.length);
      r.instances.forEach((inst, k) => assert.equal(flatten(inst.contours), flatten(want[k]), `instance ${k} ${mode}/${approx}`));
      // JSON.stringify writes each contour's points as an array of numbers, and nothing else changes shape.
      const json = JSON.parse(JSON.stringify(r));
      json.instances.forEach((inst, k) => {
        const c = r.instances[k].contours;
        assert.equal(inst.contours, c.map((x) => ({ points: Array.from(x.points), hole: x.hole, parent: x.parent })), `instance ${k} in JSON`);
      });
      assert.equal(Object.keys(r.instances[0].contours[0]), ['points', 'hole', 'parent'], 'toJSON is not an own key');
    }
    await rejects(() => model.predict(img, { contours: 'yes' }), SotrTypeError, /contours must be a boolean or \{ mode, approx \}/);
    await rejects(() => model.predict(img, { contours: { mode: 'tree' } }), SotrRangeError, /contours.mode must be 'external' or 'ccomp'/);
  } finally {
    await model.dispose();
  }
});

async function rejects(fn, Cls, re) {
  try {
    await fn();
  } catch (e) {
    assert.instance(e, Cls);
    assert.match(e.message, re);
    return;
  }
  assert.unreachable('expected a rejection');
}

test('bad arguments are typed errors', async () => {
  const m = Mask.fromUint8Array(new Uint8Array(6).fill(1), 3, 2);
  await rejects(() => masksToContours([m], { mode: 'tree' }), SotrRangeError, /mode must be 'external' or 'ccomp'/);
  await rejects(() => masksToContours([m], { approx: 'tc89' }), SotrRangeError, /approx must be 'simple' or 'none'/);
  await rejects(() => masksToContours([m, {}]), SotrTypeError, /masks\[1\] is not a Mask/);
  await rejects(() => masksToContours(m), SotrTypeError, /expected an array of Mask/);
  assert.throws(() => contoursToCocoPolygons(null), (e) => e instanceof SotrTypeError);
});

test.run();
