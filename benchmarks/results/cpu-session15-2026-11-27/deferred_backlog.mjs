// The deferred backlog bound on the CPU: a random R50 with deferred ops forced (the GPU default), the peak of one warm
// prediction and its time, against awaited ops. Run twice, with SOTR_DEFERRED_BACKLOG_MIB unset (256) and huge
// (unbounded), alternated:
//   node benchmarks/results/cpu-session15-2026-11-27/deferred_backlog.mjs <checkpoint>   (from the repository root)
import { Sotr, memoryInfo, resetPeakMemory } from '../../../dist/index.mjs';
const ck = process.argv[2];
const img = 'examples/images/street.jpg';
for (const deferredOps of [false, true]) {
  const m = await Sotr.load(ck, { device: 'cpu', deferredOps });
  await m.predict(img);
  const times = [];
  let peak = 0;
  for (let k = 0; k < 3; k++) {
    resetPeakMemory('cpu');
    const t = performance.now();
    await m.predict(img);
    times.push(performance.now() - t);
    peak = Math.max(peak, memoryInfo('cpu').peakBytes);
  }
  console.log(`deferred ${deferredOps} (backlog ${process.env.SOTR_DEFERRED_BACKLOG_MIB ?? 256} MiB): ${times.map((t) => t.toFixed(0)).join(' / ')} ms, peak ${(peak / 2 ** 20).toFixed(0)} MiB`);
  await m.dispose();
}
