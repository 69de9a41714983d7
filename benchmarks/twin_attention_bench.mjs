// One twin-attention sub-layer (C = 256, 8 heads, parallel mode) on SOTR's
// width-doubled grids, ours vs the released PyTorch module (nn.Linear +
// einsum + softmax; OpenBLAS on the CPU), interleaved rep by rep, threads
// pinned on both sides. PyTorch runs in benchmarks/torch/twin_attention_bench.py
// (--serve: the worker protocol of benchmarks/torch/worker.py).
//   node benchmarks/twin_attention_bench.mjs [--threads 2] [--reps 7] [--device cpu|cuda]
//        [--precision fp32] [--mode parallel|sequential] [--quick] [--no-torch] [--json FILE]
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs, pinThreads, machine, TorchWorker, sideBySide, printTable, writeResults, root } from './harness.mjs';

const args = parseArgs();
const argv = process.argv.slice(2);
const opt = (k, d) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const precision = opt('--precision', 'fp32');
const mode = opt('--mode', 'parallel');
pinThreads(args.threads);
const { Tensor, twinAttention, backendInfo, synchronize } = await import('../dist/index.js');

const C = 256;
const heads = 8;
const grids = [
  [40, 80],
  [36, 72],
  [24, 48],
];
const batches = [1, 8];

async function startTorch() {
  const py = process.env.SOTR_BENCH_PYTHON || (process.platform === 'linux' ? '/usr/bin/python3' : 'python3');
  const child = spawn(py, [path.join(root, 'benchmarks', 'torch', 'twin_attention_bench.py'), '--serve'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const w = new TorchWorker(child);
  try {
    w.config = await w.call({ cmd: 'config' });
  } catch (e) {
    w.close();
    throw e;
  }
  return w;
}

const rand = (n, s) => Float32Array.from({ length: n }, () => (Math.random() - 0.5) * s);
const r = 1 / Math.sqrt(C);
const T = (shape, s) => Tensor.from(rand(shape.reduce((a, b) => a * b, 1), s), shape, { device: args.device });
const mha = () => ({ q: T([C, C], r), kv: T([2 * C, C], r), out: T([C, C], r), outBias: T([C], r) });
const weights = { col: mha(), row: mha(), gCol: 0.5, gRow: -0.25 };

let worker = null;
if (args.torch) {
  try {
    worker = await startTorch();
  } catch (e) {
    console.log(`PyTorch not available (${e.message}); ours only`);
  }
}
const deadline = Date.now() + args.budgetS * 1000;
const rows = [];
outer: for (const B of batches) {
  for (const [H, W] of args.quick ? grids.slice(0, 1) : grids) {
    const x = T([B, C, H, W], 2);
    const flops = B * (16 * C * C * H * W + 4 * C * H * W * (H + W));
    rows.push(
      await sideBySide({
        name: `twinAttention B=${B} ${H}x${W} C=${C} h=${heads} ${mode} ${precision}`,
        ours: async () => {
          (await twinAttention(x, weights, { heads, mode, precision })).dispose();
          if (args.device !== 'cpu') await synchronize?.(args.device);
        },
        torch: { bench: 'twin_attention', params: { B, C, H, W, heads, mode, precision } },
        worker,
        reps: args.reps,
        device: args.device,
        flops,
        deadline,
      }),
    );
    x.dispose();
    if (Date.now() > deadline) break outer;
  }
}
worker?.close();
printTable(rows);
writeResults(args.json, {
  bench: 'twin_attention',
  machine: machine(),
  threads: args.threads,
  precision,
  mode,
  torch: worker?.config,
  backend: backendInfo(),
  rows,
});
