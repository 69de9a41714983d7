// Shared driver of the dense-op microbenchmarks (groupnorm_bench.mjs, interpolate_bench.mjs):
// ours vs the PyTorch twin in benchmarks/torch/benches_conv2d.py, interleaved, threads pinned.
import { parseArgs, pinThreads, machine, startTorch, sideBySide, printTable, writeResults, maxRssMiB } from './harness.mjs';
import os from 'node:os';

/** cases: [{ name, shape: [n, c, h, w], ours: (lib, x, g, b) => Promise<Tensor>, bench, params, bytes }] */
export async function runDense(benchName, cases) {
  const args = parseArgs();
  pinThreads(args.threads);
  const lib = await import('../dist/index.js');
  const { Tensor, backendInfo } = lib;
  const worker = await startTorch(args);
  const rand = (n) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5;
    return a;
  };
  const deadline = Date.now() + args.budgetS * 1000;
  const rows = [];
  try {
    for (const c of args.quick ? cases.slice(0, 2) : cases) {
      const [n, ch, h, w] = c.shape;
      const dev = { device: args.device };
      const x = Tensor.from(rand(n * ch * h * w), c.shape, dev);
      const g = Tensor.from(rand(ch).map((v) => v + 1), [ch], dev);
      const b = Tensor.from(rand(ch), [ch], dev);
      rows.push(
        await sideBySide({
          name: c.name,
          ours: async () => (await c.ours(lib, x, g, b)).dispose(),
          torch: { bench: c.bench, params: { n, c: ch, h, w, ...c.params } },
          worker,
          reps: args.reps,
          device: args.device,
          bytes: c.bytes,
          deadline,
        }),
      );
      const last = rows[rows.length - 1];
      if (c.bytes) {
        last.oursGBps = c.bytes / last.oursMs / 1e6;
        if (last.torchMs) last.torchGBps = c.bytes / last.torchMs / 1e6;
      }
      x.dispose();
      g.dispose();
      b.dispose();
      if (Date.now() > deadline) break;
    }
  } finally {
    worker?.close();
  }
  printTable(rows);
  writeResults(args.json, {
    bench: benchName,
    metric: 'wall time per call, interleaved',
    machine: machine(),
    threads: args.threads,
    budgetS: args.budgetS,
    load: os.loadavg(),
    oursMaxRssMiB: maxRssMiB(),
    torch: worker?.config,
    backend: backendInfo(),
    rows,
  });
}
