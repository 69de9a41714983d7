// Cold start: what a one-image run pays. Each run is a fresh process that loads a calibrated random checkpoint and
// predicts the synthetic image three times: load, first predict (the weights packed and transformed on first use,
// host memory first touched), then warm. Runs alternate between the addons given (A/B), medians per addon.
// Reports; never fails.
//   node benchmarks/cold_start_bench.mjs [--preset r50] [--size 800] [--precision fp32] [--runs 3] [--threads 2]
//        [--native A.node,B.node] [--json FILE]
// --native: addons to alternate (SOTR_NATIVE_PATH of each child); default: this checkout's build.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, median, writeResults } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (k, d) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);

if (process.env.SOTR_COLD_CHILD) {
  // Child: one cold run.
  const { Sotr } = await import('../dist/index.js');
  const size = Number(process.env.SOTR_COLD_SIZE);
  const H = size;
  const W = Math.round((size * 4) / 3);
  const data = new Uint8Array(H * W * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
  const raw = { data, width: W, height: H, channels: 3, format: 'bgr' };
  let t = performance.now();
  const m = await Sotr.load(process.env.SOTR_COLD_CHILD, { device: 'cpu', minSize: size, precision: process.env.SOTR_COLD_PRECISION, onWarning: () => {} });
  const loadMs = performance.now() - t;
  const predictMs = [];
  for (let i = 0; i < 3; i++) {
    t = performance.now();
    await m.predict(raw);
    predictMs.push(performance.now() - t);
  }
  await m.dispose();
  console.log(JSON.stringify({ loadMs, predictMs }));
  process.exit(0);
}

const preset = opt('--preset', 'r50');
const size = opt('--size', '800');
const precision = opt('--precision', 'fp32');
const runs = Number(opt('--runs', '3'));
const threads = opt('--threads', '2');
const natives = (opt('--native', '') || '').split(',').filter(Boolean);
const addons = natives.length ? natives.map((p) => path.resolve(p)) : [null];
const { writeRandomSotrCheckpoint } = await import('../dist/index.js');
const ck = path.join(os.tmpdir(), `sotr-${preset}-seed1.safetensors`);
if (!existsSync(ck)) await writeRandomSotrCheckpoint(ck, { preset, seed: 1 });

const results = addons.map((addon) => ({ addon, runs: [] }));
for (let r = 0; r < runs; r++)
  for (const res of results) {
    const env = { ...process.env, SOTR_COLD_CHILD: ck, SOTR_COLD_SIZE: size, SOTR_COLD_PRECISION: precision, SOTR_NUM_THREADS: threads };
    if (res.addon) env.SOTR_NATIVE_PATH = res.addon;
    const p = spawnSync(process.execPath, [path.join(here, 'cold_start_bench.mjs')], { env, encoding: 'utf8' });
    if (p.status !== 0) throw new Error(`child failed: ${p.stderr}`);
    res.runs.push(JSON.parse(p.stdout.trim().split('\n').pop()));
  }
for (const res of results) {
  res.loadMs = median(res.runs.map((x) => x.loadMs));
  res.firstMs = median(res.runs.map((x) => x.predictMs[0]));
  res.warmMs = median(res.runs.map((x) => Math.min(x.predictMs[1], x.predictMs[2])));
  console.log(
    `${res.addon ?? 'this build'}: load ${res.loadMs.toFixed(0)} ms, first predict ${res.firstMs.toFixed(0)} ms, warm ${res.warmMs.toFixed(0)} ms ` +
      `(cold overhead ${(res.firstMs - res.warmMs).toFixed(0)} ms; ${runs} processes, medians)`,
  );
}
writeResults(opt('--json', null), { bench: 'cold_start', machine: machine(), preset, size: Number(size), precision, threads: Number(threads), results });
