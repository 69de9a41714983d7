// Two predictions' instances compared: mask IoU on the bit-packed masks, and a greedy match by label and IoU.
// Shared by scripts/gpu-e2e.mjs (device against the CPU reference), benchmarks/precision_ab_bench.mjs (one model at two
// precisions) and the tests (tests/ops/cpu_bf16.test.mjs).

const r3 = (v) => (v === undefined || v === null || !Number.isFinite(v) ? v : +v.toPrecision(3));

const popcount = (v) => {
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
};
/** IoU of two bit-packed masks of one size, counting only inside the intersection of their boxes. */
export function maskIoU(a, b) {
  const A = a.mask, B = b.mask;
  const areaA = A.area, areaB = B.area;
  if (!areaA && !areaB) return 1;
  const [ax0, ay0, ax1, ay1] = a.box, [bx0, by0, bx1, by1] = b.box;
  const x0 = Math.max(ax0, bx0), y0 = Math.max(ay0, by0), x1 = Math.min(ax1, bx1), y1 = Math.min(ay1, by1);
  let inter = 0;
  if (x0 < x1 && y0 < y1) {
    const stride = A.data.length / A.height;
    const w0 = x0 >>> 5, w1 = (x1 - 1) >>> 5;
    for (let y = y0; y < y1; y++) {
      const base = y * stride;
      for (let w = w0; w <= w1; w++) inter += popcount(A.data[base + w] & B.data[base + w]);
    }
  }
  return inter / (areaA + areaB - inter);
}

export const quant = (xs, q) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))];
};

/**
 * Ref and dev instances (each sorted by score) matched greedily by mask IoU >= 0.5, same label first. Figures are
 * rounded by `round` (3 significant digits by default); `pairs` lists the same-label matches unrounded.
 */
export function compareInstances(ref, dev, round = r3) {
  const used = new Set();
  const pairs = [];
  const unmatched = [];
  for (let i = 0; i < ref.length; i++) {
    let best = -1, bestIoU = 0;
    for (let j = 0; j < dev.length; j++) {
      if (used.has(j) || dev[j].label !== ref[i].label) continue;
      const iou = maskIoU(ref[i], dev[j]);
      if (iou > bestIoU) [best, bestIoU] = [j, iou];
    }
    if (best >= 0 && bestIoU >= 0.5) {
      used.add(best);
      pairs.push({ i, j: best, iou: bestIoU, dScore: Math.abs(ref[i].score - dev[best].score) });
    } else unmatched.push(i);
  }
  let otherLabel = 0;
  for (const i of unmatched) {
    for (let j = 0; j < dev.length; j++) {
      if (!used.has(j) && maskIoU(ref[i], dev[j]) >= 0.5) {
        used.add(j);
        otherLabel++;
        break;
      }
    }
  }
  const ious = pairs.map((p) => p.iou), ds = pairs.map((p) => p.dScore);
  const top = Math.min(20, ref.length);
  const topKept = pairs.filter((p) => p.i < top && p.j < top).length;
  // Order-aligned: instance k against instance k (exact agreement shows here).
  const n = Math.min(ref.length, dev.length);
  let sameLabels = ref.length === dev.length, maxAlignedDScore = 0, minAlignedIoU = 1;
  for (let k = 0; k < n; k++) {
    if (ref[k].label !== dev[k].label) sameLabels = false;
    maxAlignedDScore = Math.max(maxAlignedDScore, Math.abs(ref[k].score - dev[k].score));
    if (k < 20) minAlignedIoU = Math.min(minAlignedIoU, maskIoU(ref[k], dev[k]));
  }
  return {
    pairs,
    ref: ref.length,
    dev: dev.length,
    matched: pairs.length,
    matchedShare: ref.length ? round(pairs.length / ref.length) : 1,
    matchedOtherLabel: otherLabel,
    iou: { min: round(quant(ious, 0)), p10: round(quant(ious, 0.1)), median: round(quant(ious, 0.5)), mean: round(ious.reduce((a, b) => a + b, 0) / (ious.length || 1)) },
    scoreAbsDiff: { median: round(quant(ds, 0.5)), max: round(quant(ds, 1)) },
    top20Kept: `${topKept}/${top}`,
    aligned: { sameCountAndLabels: sameLabels, maxScoreDiff: round(maxAlignedDScore), minIoUTop20: round(n ? minAlignedIoU : 1) },
  };
}

