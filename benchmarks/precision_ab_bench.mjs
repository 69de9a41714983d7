// One model, two precisions: predictions of a calibrated random checkpoint loaded at a reference precision (fp32)
// and at another (bf16 by default), on the same synthetic image, interleaved; medians, and how far the second's
// instances are from the first's: each reference instance matched greedily to the unused instance of the same label
// with the highest mask IoU (a match needs IoU >= 0.5), then the IoU and |score difference| of the matches.
// Reports; never fails.
//   node benchmarks/precision_ab_bench.mjs [--preset r50] [--size 800] [--device cpu] [--precision bf16]
//        [--reference fp32] [--reps 3] [--threads 2] [--json FILE]
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { machine, median, pinThreads, writeResults } from './harness.mjs';

const argv = process.argv.slice(2);
const opt = (k, d) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const preset = opt('--preset', 'r50');
const size = Number(opt('--size', '800'));
const device = opt('--device', 'cpu');
const precision = opt('--precision', 'bf16');
const reference = opt('--reference', 'fp32');
const reps = Number(opt('--reps', '3'));
pinThreads(Number(opt('--threads', '2')));
const json = opt('--json', null);
const { Sotr, writeRandomSotrCheckpoint, backendInfo } = await import('../dist/index.js');

const ck = path.join(os.tmpdir(), `sotr-${preset}-seed1.safetensors`);
if (!existsSync(ck)) await writeRandomSotrCheckpoint(ck, { preset, seed: 1 });
const H = size;
const W = Math.round((size * 4) / 3);
const data = new Uint8Array(H * W * 3);
for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
const raw = { data, width: W, height: H, channels: 3, format: 'bgr' };

const models = {};
for (const p of [reference, precision]) {
  models[p] = await Sotr.load(ck, { device, precision: p, minSize: size, onWarning: () => {} });
  await models[p].predict(raw); // warm: caches, packed weights
}
const times = { [reference]: [], [precision]: [] };
const last = {};
for (let i = 0; i < reps; i++)
  for (const p of [reference, precision]) {
    const t0 = performance.now();
    last[p] = await models[p].predict(raw);
    times[p].push(performance.now() - t0);
  }
for (const m of Object.values(models)) await m.dispose();

const popcount = (v) => {
  v -= (v >>> 1) & 0x55555555;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
};
const iou = (a, b) => {
  const x = a.mask.data;
  const y = b.mask.data;
  let inter = 0;
  let union = 0;
  for (let k = 0; k < x.length; k++) {
    inter += popcount(x[k] & y[k]);
    union += popcount(x[k] | y[k]);
  }
  return union ? inter / union : 1;
};
const A = last[reference].instances;
const B = last[precision].instances;
const used = new Set();
const matches = [];
for (const a of A) {
  let best = -1;
  let at = -1;
  for (let j = 0; j < B.length; j++) {
    if (used.has(j) || B[j].label !== a.label) continue;
    const v = iou(a, B[j]);
    if (v > best) [best, at] = [v, j];
  }
  if (at >= 0 && best >= 0.5) {
    used.add(at);
    matches.push({ iou: best, dScore: Math.abs(a.score - B[at].score) });
  }
}
const ious = matches.map((m) => m.iou).sort((x, y) => x - y);
const row = {
  preset,
  image: { width: W, height: H },
  device,
  reference,
  precision,
  cpuBf16: backendInfo().cpu.bf16,
  referenceMs: median(times[reference]),
  precisionMs: median(times[precision]),
  times,
  speedup: median(times[reference]) / median(times[precision]),
  instances: { [reference]: A.length, [precision]: B.length },
  matched: matches.length,
  iouMin: ious[0] ?? null,
  iouMedian: ious.length ? ious[ious.length >> 1] : null,
  dScoreMax: matches.length ? Math.max(...matches.map((m) => m.dScore)) : null,
};
console.log(
  `${preset} ${W}x${H} on ${device}: ${reference} ${row.referenceMs.toFixed(0)} ms, ${precision} ${row.precisionMs.toFixed(0)} ms ` +
    `(${row.speedup.toFixed(2)}x; CPU bf16 computes in ${row.cpuBf16}); instances ${A.length} / ${B.length}, matched ${matches.length}, ` +
    `mask IoU min ${row.iouMin?.toFixed(5)} median ${row.iouMedian?.toFixed(5)}, |dscore| max ${row.dScoreMax?.toExponential(2)}`,
);
writeResults(json, { bench: 'precision_ab', machine: machine(), ...row });
