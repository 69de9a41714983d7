// console.md: each 3x3/1x1 conv shape of a random R50 prediction, its time and rate counted as direct convolution.
//   node benchmarks/results/cpu-session14-2026-11-27/conv_rates_in_model.mjs <checkpoint>   (from the repository root)
import { Sotr, startOpProfile, stopOpProfile } from '../../../dist/index.mjs';
const model = await Sotr.load(process.argv[2], { device: 'cpu' });
await model.warmup();
await model.predict('examples/images/street.jpg');
startOpProfile({ byShape: true });
await model.predict('examples/images/street.jpg');
const p = stopOpProfile();
const rows = [];
for (const o of p.ops) {
  if (o.op !== 'conv2d') continue;
  const [x, w] = o.shape.split(',');
  const [n, c, h, wd] = x.split('x').map(Number);
  const [O, C, kh, kw] = w.split('x').map(Number);
  // output size: assume stride 1 'same' unless the profile says otherwise: approximate via stride guess
  rows.push({ shape: o.shape.slice(0, 60), calls: o.calls, ms: o.totalMs, mean: o.meanMs, gmacDirect: n * O * C * kh * kw * h * wd / 1e9 });
}
rows.sort((a, b) => b.ms - a.ms);
for (const r of rows.slice(0, 30)) console.log(r.ms.toFixed(1).padStart(7), String(r.calls).padStart(3), r.mean.toFixed(2).padStart(7), (2 * r.gmacDirect / (r.mean / 1000)).toFixed(0).padStart(6), 'GF/s(in-size)', r.shape);
await model.dispose();
