// End-to-end: Sotr.load(a calibrated random checkpoint written to /tmp) + predict on a synthetic 800x1333 image,
// vs the PyTorch reference forward (tests/reference/sotr_reference.py: pre-processing, model, SOTR's
// post-processing with Matrix NMS) on the same weights (the same safetensors file) and the same BGR pixels,
// batch 1, interleaved rep by rep, threads pinned on both sides. Each side costs seconds per rep on a CPU.
// Reports medians and spread, the ratio, the candidate count and the Matrix NMS input size on both sides
// (and whether they agree), our per-stage profile, load times and peak RSS.
//   node benchmarks/e2e_bench.mjs [--presets r50,r101] [--threads 2] [--reps 3] [--budget 600]
//        [--device cpu|cuda] [--precision fp32|bf16] [--seed 1] [--json FILE] [--no-torch] [--quick]
// --precision bf16: ours with precision 'bf16', PyTorch under torch.autocast(bfloat16).
// --quick: the r50-tiny preset (R50 structure, tiny widths) at 800x1333: seconds, for checking the script.
import { existsSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, pinThreads, machine, startTorch, sideBySide, writeResults, maxRssMiB } from './harness.mjs';
import { syntheticImage } from './synthetic_image.mjs';

const args = parseArgs();
const argv = process.argv.slice(2);
const opt = (k, d) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const presets = args.quick ? ['r50-tiny'] : opt('--presets', 'r50').split(',');
const precision = opt('--precision', 'fp32');
const seed = Number(opt('--seed', '1'));
if (!argv.includes('--reps')) args.reps = 3;
if (!argv.includes('--budget')) args.budgetS = 600;
pinThreads(args.threads);
const { Sotr, writeRandomSotrCheckpoint, backendInfo, memoryInfo } = await import('../dist/index.js');

const W = 1333, H = 800;
const dir = path.join(os.tmpdir(), 'sotr-bench');
mkdirSync(dir, { recursive: true });

const bgr = syntheticImage(W, H);
const imageFile = path.join(dir, `image-${W}x${H}.bgr`);
writeFileSync(imageFile, bgr);
const raw = { data: bgr, width: W, height: H, channels: 3, format: 'bgr' };

const worker = await startTorch(args);
const deadline = Date.now() + args.budgetS * 1000;
const rows = [];
try {
  for (const preset of presets) {
    const ck = path.join(dir, `${preset}-seed${seed}.safetensors`);
    let t0 = performance.now();
    if (!existsSync(ck)) await writeRandomSotrCheckpoint(ck, { preset, seed });
    const writeMs = performance.now() - t0;
    t0 = performance.now();
    const model = await Sotr.load(ck, { device: args.device, precision, minSize: H });
    const loadMs = performance.now() - t0;
    // Warm-up (outside the timing): once with the post-processing trace and the stage profile.
    t0 = performance.now();
    const first = await model.predict(raw, { intermediates: true, profile: true });
    const firstMs = performance.now() - t0;
    const trace = first.intermediates.trace;
    const profile = first.profile;
    const inputShape = first.intermediates.input?.shape;
    const row = await sideBySide({
      name: `SOTR ${preset} ${W}x${H} batch 1 (${args.device}, ${precision})`,
      ours: async () => {
        await model.predict(raw);
      },
      warmup: false,
      torch: { bench: 'sotr_reference', params: { checkpoint: ck, image: imageFile, height: H, width: W, min_size: H, precision } },
      worker,
      reps: args.reps,
      device: args.device,
      deadline,
      minReps: 1,
    });
    const tinfo = row.torchInfo;
    Object.assign(row, {
      preset,
      checkpoint: ck,
      checkpointWriteMs: writeMs,
      oursLoadMs: loadMs,
      oursFirstMs: firstMs,
      oursProfileMs: profile,
      input: inputShape,
      oursImagesPerS: 1000 / row.oursMs,
      candidates: trace.candidates,
      afterAreaFilter: trace.afterAreaFilter,
      nmsInput: trace.beforeNms,
      afterNms: trace.afterNms,
      instances: first.instances.length,
      fallbackOps: model.fallbackOps,
    });
    if (tinfo) {
      Object.assign(row, {
        torchLoadMs: tinfo.load_ms,
        torchImagesPerS: 1000 / row.torchMs,
        torchCandidates: tinfo.trace.candidates,
        torchNmsInput: tinfo.trace.before_nms,
        torchAfterNms: tinfo.trace.after_nms,
        torchInstances: tinfo.instances,
        countsAgree:
          tinfo.trace.candidates === trace.candidates && tinfo.trace.before_nms === trace.beforeNms && tinfo.instances === first.instances.length,
      });
    }
    if (args.device !== 'cpu') row.oursDevicePeakMiB = +(memoryInfo(args.device).peakBytes / 2 ** 20).toFixed(1);
    await model.dispose();
    rows.push(row);
    const f = (v, d = 0) => (v === undefined ? '-' : v.toFixed(d));
    console.log(
      `${row.name}: ours ${f(row.oursMs)} ms [${f(row.oursSpread.min)}..${f(row.oursSpread.max)}], torch ${f(row.torchMs)} ms` +
        (row.torchSpread ? ` [${f(row.torchSpread.min)}..${f(row.torchSpread.max)}]` : '') +
        `, ratio ${f(row.speedup, 2)}x, reps ${row.reps}; candidates ${row.candidates} (torch ${row.torchCandidates ?? '-'}), ` +
        `NMS input ${row.nmsInput} (torch ${row.torchNmsInput ?? '-'}), instances ${row.instances} (torch ${row.torchInstances ?? '-'}); ` +
        `peak RSS ours ${row.oursMaxRssMiB} MiB, torch ${row.torchMaxRssMiB ?? '-'} MiB; load ${row.load.join(' -> ')}`,
    );
    console.log('  our stages (ms):', Object.entries(profile).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', '));
    if (Date.now() > deadline) {
      if (presets.indexOf(preset) < presets.length - 1) console.log(`budget spent: skipping ${presets.slice(presets.indexOf(preset) + 1).join(', ')}`);
      break;
    }
  }
} finally {
  worker?.close();
}
writeResults(args.json, {
  bench: 'e2e',
  metric: 'wall time per predict (decode of raw pixels, preprocessing, model, post-processing), batch 1, interleaved',
  machine: machine(),
  threads: args.threads,
  budgetS: args.budgetS,
  image: { width: W, height: H, synthetic: true },
  seed,
  precision,
  load: os.loadavg(),
  oursMaxRssMiB: maxRssMiB(),
  torch: worker?.config,
  backend: backendInfo(),
  rows,
});
