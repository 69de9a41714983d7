// GEMM core (public op `matmul`) vs torch.matmul (OpenBLAS on the CPU), side by side.
//   node benchmarks/gemm_bench.mjs [--threads 2] [--reps 7] [--json benchmarks/results/gemm-cpu.json] [--no-torch]
import { parseArgs, pinThreads, machine, TorchWorker, sideBySide, printTable, writeResults } from './harness.mjs';

const args = parseArgs();
pinThreads(args.threads);
const { Tensor, matmul, backendInfo } = await import('../dist/index.js');

const shapes = [
  [1024, 1024, 1024],
  [2048, 2048, 2048],
  [256, 4096, 2304],
  [256, 3200, 256],
  [500, 67200, 256],
  [84, 84, 32],
];
let worker = null;
if (args.torch) {
  try {
    worker = await TorchWorker.start();
  } catch (e) {
    console.log(`PyTorch not available (${e.message}); ours only`);
  }
}
const deadline = Date.now() + args.budgetS * 1000;
const rows = [];
for (const [M, N, K] of args.quick ? shapes.slice(0, 1) : shapes) {
  const a = Tensor.from(Float32Array.from({ length: M * K }, () => Math.random() - 0.5), [M, K], { device: args.device });
  const b = Tensor.from(Float32Array.from({ length: K * N }, () => Math.random() - 0.5), [K, N], { device: args.device });
  rows.push(
    await sideBySide({
      name: `matmul ${M}x${N}x${K}`,
      ours: async () => (await matmul(a, b)).dispose(),
      torch: { bench: 'matmul', params: { M, N, K } },
      worker,
      reps: args.reps,
      flops: 2 * M * N * K,
      deadline,
    }),
  );
  a.dispose();
  b.dispose();
  if (Date.now() > deadline) break;
}
worker?.close();
printTable(rows);
writeResults(args.json, { bench: 'gemm', machine: machine(), threads: args.threads, torch: worker?.config, backend: backendInfo(), rows });
