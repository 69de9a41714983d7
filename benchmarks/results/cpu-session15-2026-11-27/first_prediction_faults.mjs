// Page faults, RSS and system time of load and of the first three predictions (random R50, street.jpg, CPU).
//   node benchmarks/results/cpu-session15-2026-11-27/first_prediction_faults.mjs <checkpoint>   (from the repository root)
import { Sotr } from '../../../dist/index.mjs';
const ru = () => process.resourceUsage();
let r0 = ru(); let t = performance.now();
const m = await Sotr.load(process.argv[2], { device: 'cpu' });
const report = (what) => { const r = ru(); console.log(what, (performance.now() - t).toFixed(0), 'ms', 'minflt', r.minorPageFault - r0.minorPageFault, 'maxRSS MiB', (r.maxRSS/1024).toFixed(0), 'sys ms', ((r.systemCPUTime - r0.systemCPUTime)/1000).toFixed(0)); r0 = r; t = performance.now(); };
report('load');
for (let i = 0; i < 3; i++) { await m.predict('examples/images/street.jpg'); report('predict ' + i); }
await m.dispose();
