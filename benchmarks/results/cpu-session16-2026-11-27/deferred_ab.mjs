// CPU R50: awaited vs deferred ops (backlog bound from SOTR_DEFERRED_BACKLOG_MIB, fixed per process), interleaved.
import { Sotr, memoryInfo, resetPeakMemory } from '/work/main/dist/index.js';
import { syntheticImage } from '/work/main/dist/model/sotr.js';
const ck = '/tmp/sotr-node-bench/sotr-r50-seed1-v0.1.0.safetensors';
const reps = Number(process.argv[2] || 5);
const img = syntheticImage(1333, 800);
const A = await Sotr.load(ck, { device: 'cpu', deferredOps: false });
const B = await Sotr.load(ck, { device: 'cpu', deferredOps: true });
await A.warmup({ width: 1333, height: 800 }); await B.warmup({ width: 1333, height: 800 });
const res = { awaited: [], deferred: [] }, peaks = { awaited: [], deferred: [] };
for (let r = 0; r < reps; r++) {
  for (const [name, m] of r % 2 ? [['deferred', B], ['awaited', A]] : [['awaited', A], ['deferred', B]]) {
    resetPeakMemory('cpu');
    const live0 = memoryInfo('cpu').liveBytes;
    const t0 = performance.now();
    await m.predict(img);
    res[name].push(performance.now() - t0);
    peaks[name].push((memoryInfo('cpu').peakBytes - live0) / 2 ** 20);
  }
}
const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
for (const k of Object.keys(res)) console.log(`backlog ${process.env.SOTR_DEFERRED_BACKLOG_MIB || 256} MiB ${k}: median ${med(res[k]).toFixed(0)} ms [${res[k].map((x) => x.toFixed(0)).join(' ')}], peak over live ${med(peaks[k]).toFixed(0)} MiB`);
