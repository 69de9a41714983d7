// Mask ops side by side with SOTR's PyTorch reference, interleaved rep by rep
// (benchmarks/torch/mask_ops_bench.py's benches, run by the shared persistent
// worker benchmarks/torch/worker.py), threads pinned on both sides:
//   dynamicConv        vs torch.sigmoid(F.conv2d(...))                500 x 256 @ 200 x 336
//   dynamicConvMasks   vs conv2d + sigmoid + (> 0.5, areas, maskness sums)
//   matrixNms          vs utils.matrix_nms (torch.mm on float masks)  500 masks of 200 x 336
// on realistic blob masks (each kernel picks a Gaussian bump of the features)
// and on dense random ones (random features and kernels: about half the pixels set).
//   node benchmarks/mask_ops_bench.mjs [--threads 2] [--reps 7] [--device cpu|cuda]
//        [--json benchmarks/results/mask-ops-cpu.json] [--no-torch] [--quick]
// Results: docs/masks.md.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, pinThreads, machine, startTorch, sideBySide, printTable, writeResults, maxRssMiB } from './harness.mjs';

const args = parseArgs();
pinThreads(args.threads);
const { Tensor, dynamicConv, dynamicConvMasks, matrixNms, synchronize, backendInfo } = await import('../dist/index.js');

const N = args.quick ? 100 : 500, C = 256, H = args.quick ? 100 : 200, W = args.quick ? 168 : 336;
const device = args.device;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'sotr-mask-bench-'));
const file = (name, arr) => {
  const p = path.join(tmp, name);
  writeFileSync(p, new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
  return p;
};

let seed = 2024;
const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);

function blobInputs() {
  // Channels 0..C-2: a Gaussian bump each; channel C-1: ones (the bias).
  const f = new Float32Array(C * H * W);
  for (let c = 0; c < C - 1; c++) {
    const cx = rnd() * W, cy = rnd() * H, s = W / 40 + rnd() * (W / 8 - W / 40), k = -0.5 / (s * s);
    const base = c * H * W;
    for (let y = 0; y < H; y++) {
      const dy2 = (y - cy) * (y - cy);
      for (let x = 0; x < W; x++) f[base + y * W + x] = Math.exp(k * ((x - cx) * (x - cx) + dy2)) + 0.02 * (rnd() - 0.5);
    }
  }
  f.fill(1, (C - 1) * H * W);
  // Kernel n: 4 x bump(c_n) - 2 + small noise: a blob where the bump is above 1/2.
  const kern = new Float32Array(N * C);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) kern[n * C + c] = 0.02 * (rnd() - 0.5);
    kern[n * C + Math.floor(rnd() * (C - 1))] += 4;
    kern[n * C + C - 1] -= 2;
  }
  return [f, kern];
}

function denseInputs() {
  const f = new Float32Array(C * H * W);
  for (let i = 0; i < f.length; i++) f[i] = 2 * rnd() - 1;
  const kern = new Float32Array(N * C);
  for (let i = 0; i < kern.length; i++) kern[i] = 0.25 * (rnd() - 0.5);
  return [f, kern];
}

// The shared PyTorch worker (benchmarks/torch/worker.py; its benches_ops.py loads mask_ops_bench.py's benches).
const worker = await startTorch(args);

const sync = async () => {
  if (device !== 'cpu') await synchronize(device);
};
const rows = [];
const notes = {};
const reps = args.reps;
const deadline = Date.now() + args.budgetS * 1000;
try {
  for (const kind of ['blobs', 'dense']) {
    const [f, kern] = kind === 'blobs' ? blobInputs() : denseInputs();
    const params = { features: file(`f-${kind}.bin`, f), kernels: file(`k-${kind}.bin`, kern), C, H, W, N };
    const F = Tensor.from(f, [C, H, W], { device });
    const K = Tensor.from(kern, [N, C], { device });
    const flops = 2 * N * C * H * W;
    const tag = `${N}x${C} @${H}x${W}`;
    rows.push(
      await sideBySide({
        name: `dynamicConv ${tag} (${kind})`,
        ours: async () => {
          const y = await dynamicConv(F, K);
          await sync();
          y.dispose();
        },
        torch: { bench: 'conv_sigmoid', params },
        worker, reps, device, flops, deadline,
      }),
    );
    rows.push(
      await sideBySide({
        name: `dynamicConvMasks ${tag} (${kind})`,
        ours: async () => {
          const m = await dynamicConvMasks(F, K, { keepOnDevice: true });
          await sync();
          m.dispose();
        },
        torch: { bench: 'conv_masks', params },
        worker, reps, device, flops, deadline,
      }),
    );

    // Matrix NMS on these masks.
    const dev = await dynamicConvMasks(F, K, { keepOnDevice: true });
    const host = await dev.toHost();
    const dense = host.toUint8Array();
    const density = host.areas.reduce((a, b) => a + b, 0) / (N * H * W);
    const U8 = Tensor.from(dense, [N, H, W], { device });
    const maskFile = file(`m-${kind}.bin`, dense);
    for (const classes of kind === 'blobs' ? [1, 80] : [1]) {
      // 80 classes: skewed toward a few (as in a typical image); scores sorted descending.
      const labels = Int32Array.from({ length: N }, () => (classes === 1 ? 0 : Math.floor(classes * rnd() ** 3)));
      const scores = Float32Array.from({ length: N }, () => rnd()).sort().reverse();
      let samePairs = 0;
      for (let j = 0; j < N; j++) for (let i = 0; i < j; i++) samePairs += labels[i] === labels[j];
      const nmsParams = { masks: maskFile, labels: file(`l-${kind}-${classes}.bin`, labels), scores: file(`s-${kind}-${classes}.bin`, scores), N, H, W };
      const name = `matrixNms ${N} @${H}x${W} (${kind}, ${classes === 1 ? '1 class' : `${classes} classes`})`;
      notes[name] = { maskDensity: +density.toFixed(4), sameClassPairs: samePairs };
      rows.push(
        await sideBySide({
          name,
          ours: () => matrixNms(dev, labels, scores),
          torch: { bench: 'matrix_nms', params: nmsParams },
          worker, reps, device, deadline,
        }),
      );
      rows.push(
        await sideBySide({
          name: `${name} u8 input`,
          ours: () => matrixNms(U8, labels, scores),
          torch: { bench: 'matrix_nms', params: nmsParams },
          worker, reps, device, deadline,
        }),
      );
    }
    dev.dispose();
    U8.dispose();
    F.dispose();
    K.dispose();
  }
} finally {
  worker?.close();
  rmSync(tmp, { recursive: true, force: true });
}

printTable(rows);
const info = backendInfo();
writeResults(args.json, {
  bench: 'mask_ops',
  machine: machine(),
  device,
  deviceName: device === 'cpu' ? info.cpu.simd : info.cuda.devices?.[0]?.name,
  threads: args.threads,
  simd: info.cpu.simd,
  torch: worker?.config ?? null,
  notes,
  load: os.loadavg(),
  oursMaxRssMiB: maxRssMiB(),
  budgetS: args.budgetS,
  rows,
  results: rows,
});
