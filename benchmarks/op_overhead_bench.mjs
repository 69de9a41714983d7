// Per-call time of small CPU ops awaited one after another (what a model's
// small layers see), with inline runs on (the default) and off (every call
// through the device queue: two thread hops), interleaved round by round in
// one process; medians of wall and process CPU time per call. Ours only (the
// side-by-side rows of tiny GEMMs vs PyTorch are in gemm_bench.mjs).
//   node benchmarks/op_overhead_bench.mjs [--threads 2] [--reps 11] [--json FILE]
import { parseArgs, pinThreads, machine, writeResults } from './harness.mjs';

const args = parseArgs();
pinThreads(args.threads);
const { Tensor, matmul, add, relu, conv2d, backendInfo } = await import('../dist/index.js');
const { native } = await import('../dist/native.js');

const rand = (n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
const A = Tensor.from(rand(84 * 32), [84, 32]);
const B = Tensor.from(rand(32 * 84), [32, 84]);
const x = Tensor.from(rand(64 * 64), [64, 64]);
const cx = Tensor.from(rand(16 * 12 * 12), [1, 16, 12, 12]);
const cw = Tensor.from(rand(16 * 16 * 9), [16, 16, 3, 3]);
const cases = {
  'matmul 84x84x32': async () => (await matmul(A, B)).dispose(),
  'add 64x64': async () => (await add(x, x)).dispose(),
  'relu 64x64': async () => (await relu(x)).dispose(),
  'conv2d 16->16 3x3 @12x12': async () => (await conv2d(cx, cw, { padding: 1 })).dispose(),
  'data() 64x64': async () => void (await x.data()),
};
const budget = native()._inlineRunInfo().budgetUs;
const iters = 500;
const median = (a) => a.slice().sort((p, q) => p - q)[a.length >> 1];
const rows = [];
for (const [name, f] of Object.entries(cases)) {
  const res = { inline: [], queued: [], inlineCpu: [], queuedCpu: [] };
  for (let i = 0; i < 300; i++) await f();
  for (let r = 0; r < args.reps; r++) {
    for (const mode of r % 2 ? ['queued', 'inline'] : ['inline', 'queued']) {
      native()._inlineRunInfo(mode === 'inline' ? budget : 0);
      for (let i = 0; i < 20; i++) await f();
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < iters; i++) await f();
      res[mode].push(Number(process.hrtime.bigint() - t0) / 1e3 / iters);
      const c = process.cpuUsage(c0);
      res[`${mode}Cpu`].push((c.user + c.system) / iters);
    }
  }
  native()._inlineRunInfo(budget);
  const row = { name, inlineUs: median(res.inline), queuedUs: median(res.queued), inlineCpuUs: median(res.inlineCpu), queuedCpuUs: median(res.queuedCpu) };
  rows.push(row);
  console.log(
    `${name.padEnd(26)} inline ${row.inlineUs.toFixed(1).padStart(6)} us (cpu ${row.inlineCpuUs.toFixed(1)})` +
      `   queued ${row.queuedUs.toFixed(1).padStart(6)} us (cpu ${row.queuedCpuUs.toFixed(1)})   ${(row.queuedUs / row.inlineUs).toFixed(2)}x`,
  );
}
writeResults(args.json, { bench: 'op_overhead', machine: machine(), threads: args.threads, inlineBudgetUs: budget, backend: backendInfo(), rows });
