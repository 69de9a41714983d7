// evaluateCoco's event-loop stalls: total time, and the lateness of a 2 ms interval timer (the worst gap between
// two ticks, the 99th percentile of the gaps) while it runs, on session 13's synthetic val2017-like set
// (benchmarks/synthetic_coco.mjs with ties, crowds and an id 0, as results/cpu-session13-2026-11-27/eval_ab.mjs made
// it: 640x480 images, 7 star-polygon objects an image, 80 categories, 100 results an image).
// The GC pauses (perf_hooks 'gc' entries) that fall inside the gaps above 10 ms are summed next to them, to tell a
// collection from a long turn.
//   node eval_stalls.mjs [N=1000] [reps=3] [iouTypes=segm,bbox] [dist=../../../dist]
// A fourth argument names another build's dist/ (a copy of the old one); SHOW_GAPS=1 lists the gaps; CHECK_AGAINST=
// another dist/ evaluates once with that build too (untimed) and compares the outputs as JSON. Under node --expose-gc
// each run starts after a full collection (the input settled in the old generation): without it, the first run's
// scavenges also promote the input the generator has just made, as `sotr eval`'s first ones promote the parsed JSON.
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { syntheticCocoSet } from '../../synthetic_coco.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const N = Number(process.argv[2] || 1000);
const reps = Number(process.argv[3] || 3);
const iouTypes = (process.argv[4] || 'segm,bbox').split(',');
const dist = path.resolve(process.argv[5] || path.join(here, '../../../dist'));
const load = (p) => import(pathToFileURL(path.join(dist, p)).href);
const { evaluateCoco } = await load('eval/coco_eval.js');
const { rleFromPolygon, rleArea, rleToBox } = await load('masks/coco_mask.js');
const { encodeRleCounts } = await load('masks/rle.js');

// GC pauses: [start, end] in performance.now()'s time.
const gcs = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration, e.detail?.kind ?? e.kind]);
}).observe({ entryTypes: ['gc'] });

async function measure(fn) {
  if (globalThis.gc) {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 10)); // its observer entry, before the count starts
  }
  const gaps = []; // [gap ms, tick time]
  let last = performance.now();
  const iv = setInterval(() => {
    const t = performance.now();
    gaps.push([t - last, t]);
    last = t;
  }, 2);
  gcs.length = 0;
  const t0 = performance.now();
  const out = await fn();
  const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(iv);
  await new Promise((r) => setTimeout(r, 0)); // the observer's last entries
  const sorted = gaps.map((g) => g[0]).sort((a, b) => a - b);
  const p99 = sorted[Math.floor(0.99 * (sorted.length - 1))] ?? 0;
  const worst = sorted[sorted.length - 1] ?? 0;
  // The gaps above 10 ms, with the GC pause time inside each.
  const long = gaps
    .filter(([g]) => g > 10)
    .map(([g, t]) => {
      let gc = 0;
      for (const [s, e] of gcs) gc += Math.max(0, Math.min(e, t) - Math.max(s, t - g));
      return { gap: g, gc, at: t - t0 };
    });
  const gcMax = gcs.reduce((m, [s, e]) => Math.max(m, e - s), 0);
  return { out, ms, worst, p99, long, gcMax, gcCount: gcs.length };
}

const { gt, results } = syntheticCocoSet(N, { rleFromPolygon, rleArea, rleToBox, encodeRleCounts }, { ties: true, crowds: true, zeroId: true });

if (process.env.CHECK_AGAINST) {
  const other = await import(pathToFileURL(path.join(path.resolve(process.env.CHECK_AGAINST), 'eval/coco_eval.js')).href);
  for (const iouType of iouTypes) {
    const [a, b] = [await evaluateCoco(gt, results, iouType), await other.evaluateCoco(gt, results, iouType)];
    console.log(`${iouType}: outputs equal to ${process.env.CHECK_AGAINST}'s: ${JSON.stringify(a) === JSON.stringify(b)}`);
  }
}
console.log(`N ${N}, ${results.length} results, dist ${dist}, node ${process.version}${globalThis.gc ? ', gc() before each run' : ''}`);
for (const iouType of iouTypes) {
  for (let rep = 0; rep < reps; rep++) {
    const r = await measure(() => evaluateCoco(gt, results, iouType));
    const gcIn = r.long.reduce((s, l) => s + (l.gc > l.gap / 2 ? 1 : 0), 0);
    console.log(
      `${iouType} rep ${rep}: ${r.ms.toFixed(0)} ms, worst gap ${r.worst.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, ` +
        `gaps > 10 ms: ${r.long.length} (${gcIn} mostly GC), longest GC ${r.gcMax.toFixed(1)} ms of ${r.gcCount}, AP ${r.out.stats[0].toFixed(4)}`,
    );
    if (process.env.SHOW_GAPS) for (const l of r.long) console.log(`    at ${l.at.toFixed(0)} ms: gap ${l.gap.toFixed(1)} ms, GC inside ${l.gc.toFixed(1)} ms`);
  }
}
