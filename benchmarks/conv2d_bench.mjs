// The convolution engine (public op `conv2d`) vs torch.nn.functional.conv2d
// (oneDNN on the CPU), side by side and interleaved rep by rep, on the conv
// shapes SOTR runs at 800x1333 (padded 800x1344: P2 200x336 ... P5 25x42).
//   node benchmarks/conv2d_bench.mjs [--threads 2] [--reps 7] [--budget 600]
//        [--json benchmarks/results/conv2d-cpu.json] [--no-torch] [--quick] [--only substring]
//        [--cpu-time] [--dense] [--device cpu|cuda] [--pipelined] [--precision fp32|tf32|bf16|fp16]
// Both sides get the bias and the activation (PyTorch's in place). Results: docs/conv.md.
// --dense: also the dense ops around the convs (groupNorm, interpolate, maxPool2d; wall time).
// --cpu-time: one thread on both sides, and each call is measured by the CPU
// time its process consumed (process.cpuUsage / time.process_time) instead of
// wall time: on a shared, loaded machine that still measures the kernels.
// --device cuda: against cuDNN (TF32 off on both sides unless SOTR_BENCH_TORCH_TF32=1). Our call is timed up to
// a synchronize (op + sync round trip; PyTorch's side is timed by CUDA events), and each row also gets
// oursPipelinedMs: 20 calls queued at once and one synchronize, per call (the device time without the
// per-call round trip; --pipelined measures it on the CPU too).
// --precision: our convs at that precision (default fp32); for bf16 / fp16 PyTorch's side runs on
// bf16 / fp16 tensors (cuDNN reads 16-bit operands, ours float32 ones rounded on the device).
// SOTR_CUDA_CONV_WINOGRAD=1 runs our CUDA side's 3x3 stride-1 convs through the opt-in Winograd F(2x2) kernels.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, pinThreads, machine, TorchWorker, sideBySide, printTable, writeResults, median, torchMallocEnv } from './harness.mjs';

const args = parseArgs();
const flag = (k) => process.argv.includes(k);
const only = (() => {
  const i = process.argv.indexOf('--only');
  return i > 0 ? process.argv[i + 1] : null;
})();
const cpuTime = flag('--cpu-time');
const precision = (() => {
  const i = process.argv.indexOf('--precision');
  return i > 0 ? process.argv[i + 1] : 'fp32';
})();
if (cpuTime) args.threads = 1;
pinThreads(args.threads);
const { Tensor, conv2d, groupNorm, interpolate, maxPool2d, backendInfo, synchronize } = await import('../dist/index.js');
// Ops resolve once queued on a GPU: a timed call there ends with a synchronize.
const sync = args.device === 'cpu' ? async () => {} : () => synchronize(args.device);

// name, N, C, H, W, O, k, stride, activation
const shapes = [
  ['res2 3x3 64->64 @200x336', 1, 64, 200, 336, 64, 3, 1, 'relu'],
  ['res3 3x3 128->128 @100x168', 1, 128, 100, 168, 128, 3, 1, 'relu'],
  ['res4 3x3 256->256 @50x84', 1, 256, 50, 84, 256, 3, 1, 'relu'],
  ['res5 3x3 512->512 @25x42', 1, 512, 25, 42, 512, 3, 1, 'relu'],
  ['stem 7x7/2 3->64 @800x1344', 1, 3, 800, 1344, 64, 7, 2, 'relu'],
  ['res2 1x1 256->64 @200x336', 1, 256, 200, 336, 64, 1, 1, 'relu'],
  ['res4 1x1 1024->256 @50x84', 1, 1024, 50, 84, 256, 1, 1, 'relu'],
  ['res3 1x1/2 256->128 @200x336', 1, 256, 200, 336, 128, 1, 2, 'relu'],
  ['fpn 3x3 256->256 @P2 200x336', 1, 256, 200, 336, 256, 3, 1, 'none'],
  ['fpn 3x3 256->256 @P4 50x84', 1, 256, 50, 84, 256, 3, 1, 'none'],
  ['twin 3x3 256->256 @40x80', 1, 256, 40, 80, 256, 3, 1, 'leakyRelu'],
  ['twin 3x3 256->256 @36x72', 1, 256, 36, 72, 256, 3, 1, 'leakyRelu'],
  ['twin 3x3 256->256 @24x48', 1, 256, 24, 48, 256, 3, 1, 'leakyRelu'],
  ['twin 3x3 256->256 @16x32', 1, 256, 16, 32, 256, 3, 1, 'leakyRelu'],
  ['twin 3x3 256->256 @12x24', 1, 256, 12, 24, 256, 3, 1, 'leakyRelu'],
  ['twin 3x3 256->256 @P5 25x68', 1, 256, 25, 68, 256, 3, 1, 'leakyRelu'],
  ['mask 3x3 256->128 @200x336', 1, 256, 200, 336, 128, 3, 1, 'none'],
  ['mask 3x3 128->128 @100x168', 1, 128, 100, 168, 128, 3, 1, 'none'],
  ['mask 1x1 128->256 @200x336', 1, 128, 200, 336, 256, 1, 1, 'none'],
];

// --cpu-time: a dedicated PyTorch process reporting process CPU time per call.
class CpuTimeTorch {
  constructor() {
    const py = process.env.SOTR_BENCH_PYTHON || '/usr/bin/python3';
    const here = path.dirname(fileURLToPath(import.meta.url));
    this.child = spawn(py, [path.join(here, 'torch', 'conv2d_cputime.py')], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...torchMallocEnv() } });
    this.pending = [];
    createInterface({ input: this.child.stdout }).on('line', (l) => this.pending.shift()?.(JSON.parse(l)));
  }
  call(msg) {
    return new Promise((resolve) => {
      this.pending.push(resolve);
      this.child.stdin.write(JSON.stringify(msg) + '\n');
    });
  }
  close() {
    this.child.stdin.end();
  }
}

async function sideBySideCpu({ name, ours, torchParams, reps, flops, deadline }) {
  const cpuMs = async (fn) => {
    const u0 = process.cpuUsage();
    await fn();
    const u = process.cpuUsage(u0);
    return (u.user + u.system) / 1000;
  };
  await ours();
  const t = args.torch ? new CpuTimeTorch() : null;
  if (t) await t.call({ cmd: 'setup', params: torchParams });
  const a = [];
  const b = [];
  for (let r = 0; r < reps; r++) {
    a.push(await cpuMs(ours));
    if (t) b.push(...(await t.call({ cmd: 'run', reps: 1 })).ms);
    if (deadline && Date.now() > deadline && r >= 2) break;
  }
  t?.close();
  const res = { name, reps: a.length, oursMs: median(a), metric: 'process CPU ms, 1 thread' };
  if (b.length) Object.assign(res, { torchMs: median(b), speedup: median(b) / median(a) });
  res.oursGflops = flops / res.oursMs / 1e6;
  if (b.length) res.torchGflops = flops / res.torchMs / 1e6;
  return res;
}

let worker = null;
if (args.torch && !cpuTime) {
  try {
    worker = await TorchWorker.start();
  } catch (e) {
    console.log(`PyTorch not available (${e.message}); ours only`);
  }
}
const rand = (n) => {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5;
  return a;
};
const deadline = Date.now() + args.budgetS * 1000;
const rows = [];
const list = shapes.filter((s) => !only || s[0].includes(only));
for (const [name, n, c, h, w, o, k, stride, activation] of args.quick ? list.slice(0, 2) : list) {
  const dev = { device: args.device };
  const x = Tensor.from(rand(n * c * h * w), [n, c, h, w], dev);
  const wt = Tensor.from(rand(o * c * k * k).map((v) => v * 0.1), [o, c, k, k], dev);
  const b = Tensor.from(rand(o), [o], dev);
  const pad = k >> 1;
  const ho = Math.floor((h + 2 * pad - k) / stride) + 1, wo = Math.floor((w + 2 * pad - k) / stride) + 1;
  const call = async () => (await conv2d(x, wt, { bias: b, stride, padding: pad, activation, precision })).dispose();
  const ours = args.device === 'cpu'
    ? call
    : async () => {
        await call();
        await sync();
      };
  const torchParams = { n, c, h, w, o, kh: k, kw: k, stride, padding: pad, activation };
  if (precision === 'bf16' || precision === 'fp16') torchParams.dtype = precision;
  const flops = 2 * n * o * c * k * k * ho * wo;
  const row = cpuTime
    ? await sideBySideCpu({ name, ours, torchParams, reps: args.reps, flops, deadline })
    : await sideBySide({ name, ours, torch: { bench: 'conv2d', params: torchParams }, worker, reps: args.reps, device: args.device, flops, precision, deadline });
  if (args.device !== 'cpu' || flag('--pipelined')) {
    const K = 20;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: K }, call));
    await sync();
    row.oursPipelinedMs = (performance.now() - t0) / K;
    row.oursPipelinedGflops = flops / row.oursPipelinedMs / 1e6;
    if (row.torchMs) row.speedupPipelined = row.torchMs / row.oursPipelinedMs;
  }
  rows.push(row);
  x.dispose();
  wt.dispose();
  b.dispose();
  if (Date.now() > deadline) break;
}
if (flag('--dense') && !cpuTime) {
  // name, [n, c, h, w], ours(x), torch bench, params
  const dense = [
    ['groupNorm(32)+relu 128ch @200x336', [1, 128, 200, 336], (x, w, b) => groupNorm(x, 32, { weight: w, bias: b, activation: 'relu' }), 'groupNorm', { groups: 32 }],
    ['bilinear x2 128ch 100x168', [1, 128, 100, 168], (x) => interpolate(x, { scaleFactor: 2, mode: 'bilinear' }), 'interpolate', { scale: 2, mode: 'bilinear' }],
    ['bilinear 256ch 50x84 -> 40x40', [1, 256, 50, 84], (x) => interpolate(x, { size: [40, 40], mode: 'bilinear' }), 'interpolate', { size: [40, 40], mode: 'bilinear' }],
    ['nearest x2 256ch 50x84', [1, 256, 50, 84], (x) => interpolate(x, { size: [100, 168], mode: 'nearest' }), 'interpolate', { size: [100, 168], mode: 'nearest' }],
    ['maxPool 3/2/1 64ch @400x672', [1, 64, 400, 672], (x) => maxPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }), 'maxPool2d', { k: 3, stride: 2, padding: 1 }],
  ];
  for (const [name, [n, c, h, w], fn, bench, extra] of dense.filter((d) => !only || d[0].includes(only))) {
    const x = Tensor.from(rand(n * c * h * w), [n, c, h, w], { device: args.device });
    const g = Tensor.from(rand(c).map((v) => v + 1), [c], { device: args.device });
    const b = Tensor.from(rand(c), [c], { device: args.device });
    rows.push(
      await sideBySide({
        name,
        ours: async () => {
          (await fn(x, g, b)).dispose();
          await sync();
        },
        torch: { bench, params: { n, c, h, w, ...extra } },
        worker,
        reps: args.reps,
        device: args.device,
        deadline,
      }),
    );
    x.dispose();
    g.dispose();
    b.dispose();
  }
}
worker?.close();
printTable(rows);
const speedups = rows.filter((r) => r.speedup).map((r) => r.speedup);
if (speedups.length) {
  const geo = Math.exp(speedups.reduce((s, v) => s + Math.log(v), 0) / speedups.length);
  console.log(`geometric mean speedup vs PyTorch: ${geo.toFixed(2)}x over ${speedups.length} shapes`);
}
const pipedMs = rows.filter((r) => r.oursPipelinedMs).map((r) => r.oursPipelinedMs);
if (pipedMs.length) {
  // One number to compare runs of this script (e.g. an opt-in GEMM variant against the default).
  const geo = Math.exp(pipedMs.reduce((s, v) => s + Math.log(v), 0) / pipedMs.length);
  console.log(`ours pipelined (${precision}): geometric mean ${geo.toFixed(3)} ms/call over ${pipedMs.length} shapes, total ${pipedMs.reduce((s, v) => s + v, 0).toFixed(2)} ms`);
}
const piped = rows.filter((r) => r.speedupPipelined);
if (piped.length) {
  for (const r of piped) console.log(`${r.name.padEnd(44)} pipelined ${r.oursPipelinedMs.toFixed(3)} ms/call, ${r.speedupPipelined.toFixed(2)}x vs PyTorch`);
  const geo = Math.exp(piped.reduce((s, r) => s + Math.log(r.speedupPipelined), 0) / piped.length);
  console.log(`geometric mean speedup vs PyTorch, ours pipelined: ${geo.toFixed(2)}x over ${piped.length} shapes`);
}
writeResults(args.json, {
  bench: 'conv2d',
  metric: cpuTime ? 'process CPU time per call, 1 thread each side' : 'wall time per call, interleaved',
  machine: machine(),
  threads: args.threads,
  precision,
  torch: worker?.config,
  backend: backendInfo(),
  rows,
});
