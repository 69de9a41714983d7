// Ours against ONNX Runtime for Node.js (onnxruntime-node, the usual way to run an exported PyTorch model from
// Node), side by side: the SOTR network (backbone, FPN, twin transformer, heads, mask branch; no pre- or
// post-processing, which ONNX does not give) on the same weights and the same normalised input, interleaved rep by
// rep with the harness's settle pause and untimed call before each timed call, threads pinned on both sides.
// The ONNX file is the reference model (tests/reference/sotr_reference.py) exported by
// benchmarks/onnxruntime/export_onnx.py. onnxruntime-node is not a dependency: install it anywhere and pass its folder.
//
//   node benchmarks/onnxruntime_bench.mjs --ort DIR/node_modules/onnxruntime-node [--preset r50] [--seed 1]
//        [--threads 2] [--reps 3] [--json FILE]
//   (first: npm install --prefix DIR onnxruntime-node --ignore-scripts   # the CPU build ships in the package)
// It writes the random checkpoint and exports the ONNX file into /tmp/sotr-bench when missing (needs torch there).
// Reports each side's forward time (ours: the profile's backbone + transformer + heads + maskBranch stages), their
// ratio, each output's NMSE between the two, session/model load times and peak RSS of this process.
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs, pinThreads, machine, writeResults, maxRssMiB, median, spread, settleAndWarm, defaultSettleMs } from './harness.mjs';
import { syntheticImage } from './synthetic_image.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = parseArgs();
const argv = process.argv.slice(2);
const opt = (k, d) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const ortDir = opt('--ort', null);
if (!ortDir) {
  console.error('usage: node benchmarks/onnxruntime_bench.mjs --ort <path to the onnxruntime-node package> [--preset r50] [--reps 3]');
  process.exit(2);
}
const preset = opt('--preset', 'r50');
const seed = Number(opt('--seed', '1'));
const reps = argv.includes('--reps') ? args.reps : 3;
const settleMs = defaultSettleMs('cpu');
pinThreads(args.threads);
const ort = createRequire(import.meta.url)(path.resolve(ortDir));
const { Sotr, writeRandomSotrCheckpoint } = await import('../dist/index.js');

const W = 1333, H = 800;
const dir = path.join(os.tmpdir(), 'sotr-bench');
mkdirSync(dir, { recursive: true });
const ck = path.join(dir, `${preset}-seed${seed}.safetensors`);
if (!existsSync(ck)) await writeRandomSotrCheckpoint(ck, { preset, seed });
const raw = { data: syntheticImage(W, H), width: W, height: H, channels: 3, format: 'bgr' };

let t0 = performance.now();
const model = await Sotr.load(ck, { device: 'cpu', minSize: H });
const oursLoadMs = performance.now() - t0;
// Our outputs and the network input, once; the input goes to ONNX Runtime as it is.
const first = await model.predict(raw, { intermediates: true });
const inter = first.intermediates;
const [, , hp, wp] = inter.input.shape;
const onnx = path.join(dir, `${preset}-seed${seed}-${hp}x${wp}.onnx`);
if (!existsSync(onnx)) {
  const r = spawnSync('/usr/bin/python3', [path.join(here, 'onnxruntime', 'export_onnx.py'), ck, onnx, String(hp), String(wp)], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('the ONNX export failed (needs torch: /usr/bin/python3 with python3-torch)');
}
t0 = performance.now();
const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: args.threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' });
const ortLoadMs = performance.now() - t0;
const feeds = { image: new ort.Tensor('float32', inter.input.data, inter.input.shape) };
const outs = await session.run(feeds);

// Same computation: each ONNX output against ours.
const nmse = (a, b) => {
  let se = 0, ss = 0;
  for (let i = 0; i < b.length; i++) {
    se += (a[i] - b[i]) ** 2;
    ss += b[i] ** 2;
  }
  return ss ? se / ss : se;
};
const ours = [...inter.cateLogits, ...inter.kernels, inter.maskFeature];
const agreement = session.outputNames.map((name, i) => {
  const o = outs[name];
  const same = o.dims.join('x') === ours[i].shape.join('x');
  return { name, shape: o.dims, nmse: same ? nmse(o.data, ours[i].data) : null };
});

const forwardMs = (p) => p.backbone + p.transformer + p.heads + p.maskBranch;
const a = [], b = [], aTotal = [];
for (let r = 0; r < reps; r++) {
  await settleAndWarm(() => model.predict(raw), settleMs);
  const p = (await model.predict(raw, { profile: true })).profile;
  a.push(forwardMs(p));
  aTotal.push(p.total);
  await settleAndWarm(() => session.run(feeds), settleMs);
  t0 = performance.now();
  await session.run(feeds);
  b.push(performance.now() - t0);
  console.log(`rep ${r + 1}/${reps}: ours ${a[r].toFixed(0)} ms (whole predict ${aTotal[r].toFixed(0)}), onnxruntime ${b[r].toFixed(0)} ms`);
}
await model.dispose();
const row = {
  name: `SOTR ${preset} network ${W}x${H} (input ${hp}x${wp}), batch 1, cpu fp32, ${args.threads} threads`,
  oursMs: median(a),
  oursSpread: spread(a),
  oursPredictMs: median(aTotal),
  ortMs: median(b),
  ortSpread: spread(b),
  speedup: median(b) / median(a),
  oursLoadMs,
  ortSessionMs: ortLoadMs,
  agreement,
  ortVersion: ort.env?.versions?.common ?? null,
  maxRssMiB: maxRssMiB(),
  reps: a.length,
  settleMs,
};
console.log(`\nours ${row.oursMs.toFixed(0)} ms, onnxruntime-node ${row.ortVersion} ${row.ortMs.toFixed(0)} ms: ${row.speedup.toFixed(2)}x`);
console.log(`outputs' NMSE (ONNX Runtime vs ours): max ${Math.max(...agreement.map((x) => x.nmse ?? Infinity)).toExponential(2)}`);
const out = args.json ?? path.join(here, 'results', `onnxruntime-${preset}-cpu-${new Date().toISOString().slice(0, 10)}.json`);
writeResults(out, { bench: 'onnxruntime', machine: machine(), threads: args.threads, checkpoint: ck, onnx, rows: [row] });
