// Shared helpers of the model tests.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadFixture, nmse } from '../helpers/fixture.mjs';

export const MODEL_FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'model');
export const fixturePath = (name) => path.join(MODEL_FIXTURES, name);
export { loadFixture, nmse };

/** A prediction's instances as comparable values: label, score, box and the mask's COCO RLE. */
export const instanceSummary = (r) => r.instances.map((i) => [i.label, i.score, i.box, i.mask.toRLE()]);

/** Unpacks np.packbits output (big-endian bit order) into 0/1 bytes. */
export function unpackBits(packed, n) {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (packed[i >> 3] >> (7 - (i & 7))) & 1;
  return out;
}

export function iou(a, b) {
  let inter = 0;
  let uni = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] && b[i]) inter++;
    if (a[i] || b[i]) uni++;
  }
  return uni === 0 ? 1 : inter / uni;
}

/** The intermediates of a prediction by the golden's stage names. */
export function stagesOf(it) {
  const st = { input: it.input, maskF: it.maskFeature, tp5: it.transformerP5 };
  it.fpn.forEach((p, i) => (st[`p${i + 2}`] = p));
  it.transformer.forEach((p, i) => (st[`t${i}`] = p));
  it.cateLogits.forEach((p, i) => (st[`cate${i}`] = p));
  it.kernels.forEach((p, i) => (st[`kernel${i}`] = p));
  return st;
}

/** NMSE of each stage at the golden's sampled positions. */
export function stageNmse(golden, name, intermediates) {
  const out = {};
  for (const [k, h] of Object.entries(stagesOf(intermediates))) {
    const idx = golden.tensors[`${name}.${k}.idx`].data;
    const val = golden.tensors[`${name}.${k}.val`].data;
    const ours = Float32Array.from(idx, (i) => h.data[i]);
    out[k] = nmse(ours, val);
  }
  return out;
}

/**
 * Matches the golden instances of one image with ours by label, score (relative tolerance) and mask IoU.
 * Returns { matched, total, worstIoU, worstScoreRel, unmatched: [...] }.
 */
export function matchInstances(golden, name, instances, { scoreRel = 1e-4, minIoU = 0.99, minArea = 20 } = {}) {
  const labels = golden.tensors[`${name}.labels`].data;
  const scores = golden.tensors[`${name}.scores`].data;
  const masks = golden.tensors[`${name}.masks`];
  const meta = Array.from(golden.tensors[`${name}.meta`].data);
  const [H0, W0] = [meta[4], meta[5]];
  const withMask = masks.shape[0];
  const used = new Set();
  const unmatched = [];
  let worstIoU = 1;
  let worstScoreRel = 0;
  for (let i = 0; i < labels.length; i++) {
    const ref = i < withMask ? unpackBits(masks.data.subarray(i * masks.shape[1], (i + 1) * masks.shape[1]), H0 * W0) : null;
    let refArea = 0;
    if (ref) for (const v of ref) refArea += v;
    let best = -1;
    let bestIoU = -1;
    for (let j = 0; j < instances.length; j++) {
      if (used.has(j)) continue;
      const o = instances[j];
      if (o.label !== labels[i]) continue;
      const rel = Math.abs(o.score - scores[i]) / Math.abs(scores[i]);
      if (rel > scoreRel) continue;
      const v = ref ? iou(ref, o.mask.toUint8Array()) : 1;
      if (v > bestIoU) {
        bestIoU = v;
        best = j;
      }
    }
    const need = ref && refArea >= minArea ? minIoU : 0;
    if (best < 0 || bestIoU < need) {
      unmatched.push({ index: i, label: labels[i], score: scores[i], bestIoU });
      continue;
    }
    used.add(best);
    if (ref && refArea >= minArea) worstIoU = Math.min(worstIoU, bestIoU);
    worstScoreRel = Math.max(worstScoreRel, Math.abs(instances[best].score - scores[i]) / Math.abs(scores[i]));
  }
  return { matched: labels.length - unmatched.length, total: labels.length, worstIoU, worstScoreRel, unmatched };
}

/** Resolves when fn() rejects with an error satisfying pred; fails otherwise. */
export async function rejects(fn, pred, msg = 'expected a rejection') {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  if (err === undefined) throw new Error(`${msg}: it resolved`);
  if (pred && !pred(err)) throw new Error(`${msg}: wrong error ${err?.constructor?.name}: ${err?.message}`);
  return err;
}
