// One model, two precisions: predictions of a calibrated random checkpoint loaded at a reference precision (fp32)
// and at another (bf16 by default), on the same synthetic image, interleaved; medians, and how far the second's
// instances are from the first's (instance_compare.mjs: greedy by label and mask IoU >= 0.5, as the GPU check
// compares a device with the CPU), then the IoU and |score difference| of the matches.
// Reports; never fails.
//   node benchmarks/precision_ab_bench.mjs [--preset r50] [--size 800] [--device cpu] [--precision bf16]
//        [--reference fp32] [--reps 3] [--threads 2] [--json FILE]
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { machine, median, pinThreads, writeResults } from './harness.mjs';
import { compareInstances } from './instance_compare.mjs';

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

const A = last[reference].instances;
const B = last[precision].instances;
const cmp = compareInstances(A, B, (v) => v);
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
  matched: cmp.matched,
  iouMin: cmp.iou.min,
  iouMedian: cmp.iou.median,
  dScoreMax: cmp.scoreAbsDiff.max,
};
console.log(
  `${preset} ${W}x${H} on ${device}: ${reference} ${row.referenceMs.toFixed(0)} ms, ${precision} ${row.precisionMs.toFixed(0)} ms ` +
    `(${row.speedup.toFixed(2)}x; CPU bf16 computes in ${row.cpuBf16}); instances ${A.length} / ${B.length}, matched ${cmp.matched}, ` +
    `mask IoU min ${row.iouMin?.toFixed(5)} median ${row.iouMedian?.toFixed(5)}, |dscore| max ${row.dScoreMax?.toExponential(2)}`,
);
writeResults(json, { bench: 'precision_ab', machine: machine(), ...row });
