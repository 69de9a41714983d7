// One twin-attention sub-layer (C = 256, 8 heads, parallel mode) on SOTR's
// width-doubled grids, ours vs the released PyTorch module (nn.Linear +
// einsum + softmax; OpenBLAS on the CPU), interleaved rep by rep, threads
// pinned on both sides. PyTorch's side is benchmarks/torch/twin_attention_bench.py's
// module, run by the shared worker benchmarks/torch/worker.py.
//
// Besides wall time (median and min), each side reports the process CPU time
// per call: on a shared, loaded machine wall time also measures the other
// processes, CPU time much less so (but it counts spin-waiting threads, e.g.
// OpenMP's, as work).
//   node benchmarks/twin_attention_bench.mjs [--threads 2] [--reps 7] [--device cpu|cuda]
//        [--precision fp32] [--mode parallel|sequential] [--quick] [--no-torch] [--json FILE]
import os from 'node:os';
import { parseArgs, pinThreads, machine, startTorch, median, spread, writeResults, maxRssMiB, defaultSettleMs, settleAndWarm, torchRunSettled } from './harness.mjs';

const args = parseArgs();
const argv = process.argv.slice(2);
const opt = (k, d) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const precision = opt('--precision', 'fp32');
const mode = opt('--mode', 'parallel');
pinThreads(args.threads);
const { Tensor, twinAttention, backendInfo, synchronize, memoryInfo } = await import('../dist/index.js');

const C = 256;
const heads = 8;
const grids = [
  [40, 80],
  [36, 72],
  [24, 48],
];
const batches = [1, 8];

const rand = (n, s) => Float32Array.from({ length: n }, () => (Math.random() - 0.5) * s);
const r = 1 / Math.sqrt(C);
const T = (shape, s) => Tensor.from(rand(shape.reduce((a, b) => a * b, 1), s), shape, { device: args.device });
const mha = () => ({ q: T([C, C], r), kv: T([2 * C, C], r), out: T([C, C], r), outBias: T([C], r) });
const weights = { col: mha(), row: mha(), gCol: 0.5, gRow: -0.25 };
const cpuMs = (u) => (u.user + u.system) / 1000;

// The shared PyTorch worker (benchmarks/torch/worker.py loads twin_attention_bench.py's bench through
// benches_ops.py; its "run" answers per-rep process CPU time too).
const worker = await startTorch(args);
const deadline = Date.now() + args.budgetS * 1000;
const rows = [];
const loadBefore = os.loadavg();
outer: for (const B of batches) {
  for (const [H, W] of args.quick ? grids.slice(0, 1) : grids) {
    const x = T([B, C, H, W], 2);
    const flops = B * (16 * C * C * H * W + 4 * C * H * W * (H + W));
    const ours = async () => {
      (await twinAttention(x, weights, { heads, mode, precision })).dispose();
      if (args.device !== 'cpu') await synchronize(args.device);
    };
    await ours(); // warm-up (also fills the weight cache)
    let tid = null;
    if (worker) {
      tid = (await worker.call({ cmd: 'setup', bench: 'twin_attention', params: { B, C, H, W, heads, mode, precision }, device: args.device })).id;
    }
    const o = { ms: [], cpu: [] };
    const t = { ms: [], cpu: [], rss: null };
    // Both sides settle and make one untimed call before each timed one (harness.mjs, defaultSettleMs).
    const settle = defaultSettleMs(args.device);
    for (let rep = 0; rep < args.reps; rep++) {
      await settleAndWarm(ours, settle);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await ours();
      o.ms.push(performance.now() - t0);
      o.cpu.push(cpuMs(process.cpuUsage(c0)));
      if (tid !== null) {
        const { ms, cpuMs, raw: res } = await torchRunSettled(worker, tid, settle);
        t.ms.push(ms);
        if (cpuMs !== undefined) t.cpu.push(cpuMs);
        t.rss = res.maxrss_kb ?? t.rss;
      }
      if (Date.now() > deadline && rep >= 2) break;
    }
    if (tid !== null) await worker.call({ cmd: 'free', id: tid });
    const row = {
      name: `B=${B} ${H}x${W}`,
      B, H, W,
      reps: o.ms.length,
      oursMs: median(o.ms),
      oursMinMs: Math.min(...o.ms),
      oursCpuMs: median(o.cpu),
      oursGflops: flops / median(o.ms) / 1e6,
      oursSpread: spread(o.ms),
      imagesPerS: (1000 * B) / median(o.ms),
      oursMaxRssMiB: maxRssMiB(),
    };
    if (args.device !== 'cpu') row.oursDevicePeakMiB = +(memoryInfo(args.device).peakBytes / 2 ** 20).toFixed(1);
    if (t.ms.length) {
      Object.assign(row, {
        torchMs: median(t.ms),
        torchMinMs: Math.min(...t.ms),
        torchCpuMs: t.cpu.length ? median(t.cpu) : undefined,
        speedup: median(t.ms) / median(o.ms),
        speedupMin: Math.min(...t.ms) / Math.min(...o.ms),
        speedupCpu: t.cpu.length ? median(t.cpu) / median(o.cpu) : undefined,
        torchSpread: spread(t.ms),
        torchImagesPerS: (1000 * B) / median(t.ms),
        torchGflops: flops / median(t.ms) / 1e6,
        torchMaxRssMiB: t.rss ? +(t.rss / 1024).toFixed(1) : undefined,
      });
    }
    rows.push(row);
    x.dispose();
    if (Date.now() > deadline) break outer;
  }
}
worker?.close();
const f = (v, d = 1) => (v === undefined ? '-' : v.toFixed(d));
console.log(`twinAttention ${mode} ${precision} C=${C} h=${heads}, ${args.device}, threads ${args.threads}, load ${loadBefore.map((l) => l.toFixed(1)).join(' ')} -> ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log('| case | ours ms (min) | torch ms (min) | speedup median (min) | ours CPU ms | torch CPU ms | CPU-time ratio | ours GFLOP/s |');
console.log('|---|---|---|---|---|---|---|---|');
for (const x of rows) {
  console.log(
    `| ${x.name} | ${f(x.oursMs)} (${f(x.oursMinMs)}) | ${f(x.torchMs)} (${f(x.torchMinMs)}) | ${f(x.speedup, 2)}x (${f(x.speedupMin, 2)}x) | ` +
      `${f(x.oursCpuMs)} | ${f(x.torchCpuMs)} | ${f(x.speedupCpu, 2)}x | ${f(x.oursGflops)} |`,
  );
}
writeResults(args.json, {
  bench: 'twin_attention',
  machine: machine(),
  threads: args.threads,
  load: { before: loadBefore, after: os.loadavg() },
  budgetS: args.budgetS,
  precision,
  mode,
  torch: worker?.config,
  backend: backendInfo(),
  rows,
});
