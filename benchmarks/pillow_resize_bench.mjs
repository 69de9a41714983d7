// Preprocessing resize: the native pillowResize op (1 and 2 threads; pixels out, and the fused normalised, padded
// network input) at the model's input sizes; with --js FILE also the JavaScript implementation it replaced
// (ts/model/resize_pillow.ts, deleted after commit 8a8511c: `git show 8a8511c:ts/model/resize_pillow.ts`, compiled
// to CommonJS) and the old normalisation loop, both on the JS thread. Reps interleaved; medians. Never fails.
//   node benchmarks/pillow_resize_bench.mjs [--reps 9] [--json FILE] [--js resize_pillow.js] [--pillow [python]]
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs, machine } from './harness.mjs';

const args = parseArgs();
const reps = Number(process.argv.includes('--reps') ? args.reps : 9);
const jsAt = process.argv.indexOf('--js');
const lib = await import('../dist/index.js');
const { Tensor, pillowResize, setNumThreads, shortestEdgeSize, SOTR_DEFAULTS } = lib;
const jsResize = jsAt > 0 ? createRequire(import.meta.url)(path.resolve(process.argv[jsAt + 1])).resizePillowBilinear : undefined;

const MEAN = SOTR_DEFAULTS.pixelMean;
const STD = SOTR_DEFAULTS.pixelStd;
const inputs = [
  [1080, 1920, '1080p photo'],
  [480, 640, 'COCO-size 640x480 (upscaled)'],
  [3024, 4032, '12 MP phone photo'],
];

/** The old prepareImage's normalisation loop (JS, main thread). */
function jsNormalize(px, h, w) {
  const Hp = Math.ceil(h / 32) * 32;
  const Wp = Math.ceil(w / 32) * 32;
  const out = new Float32Array(3 * Hp * Wp);
  const f = Math.fround;
  for (let ch = 0; ch < 3; ch++) {
    const mean = f(MEAN[ch]);
    const std = f(STD[ch]);
    const plane = ch * Hp * Wp;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[plane + y * Wp + x] = f(f(px[(y * w + x) * 3 + ch] - mean) / std);
  }
  return out;
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const results = [];
for (const [H, W, label] of inputs) {
  const [h, w] = shortestEdgeSize(H, W, 800, SOTR_DEFAULTS.maxSize);
  const src = new Uint8Array(H * W * 3);
  for (let i = 0; i < src.length; i++) src[i] = (i * 2654435761) >>> 24;
  const t = {};
  const add = (k, v) => (t[k] ??= []).push(v);
  for (let r = 0; r < reps + 1; r++) {
    const keep = r > 0; // the first rep warms up
    for (const threads of [1, 2]) {
      setNumThreads(threads);
      for (const norm of [false, true]) {
        const t0 = performance.now();
        const x = Tensor.from(src, [H, W, 3]);
        const p = pillowResize(x, norm ? { size: [h, w], mean: MEAN, std: STD, padMultiple: 32 } : { size: [h, w] });
        const t1 = performance.now();
        const y = await p;
        const t2 = performance.now();
        x.dispose();
        y.dispose();
        if (keep) {
          add(`native ${norm ? 'resize + normalise' : 'resize'} ${threads}T`, t2 - t0);
          add(`native ${norm ? 'resize + normalise' : 'resize'} ${threads}T, JS thread`, t1 - t0);
        }
      }
    }
    // The JS path last: its garbage must not be collected inside a native row's timing.
    if (jsResize) {
      const t0 = performance.now();
      const px = jsResize(src, W, H, 3, w, h);
      const t1 = performance.now();
      jsNormalize(px, h, w);
      const t2 = performance.now();
      if (keep) {
        add('js resize', t1 - t0);
        add('js resize + normalise', t2 - t0);
      }
    }
  }
  setNumThreads(0);
  const med = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, +median(v).toFixed(2)]));
  results.push({ input: `${W}x${H}`, output: `${w}x${h}`, label, medianMs: med });
  console.log(`${label}: ${W}x${H} -> ${w}x${h}`);
  for (const [k, v] of Object.entries(med)) console.log(`  ${k.padEnd(40)} ${v.toFixed(2)} ms`);
}
// Pillow itself (the reference; one thread, its C resample), when a Python with Pillow is at hand: --pillow [python].
const pyAt = process.argv.indexOf('--pillow');
if (pyAt > 0) {
  const py = process.argv[pyAt + 1] && !process.argv[pyAt + 1].startsWith('--') ? process.argv[pyAt + 1] : '/usr/bin/python3';
  const script = `
import json, sys, time
import numpy as np
from PIL import Image
out = {}
for (H, W, h, w) in json.loads(sys.argv[1]):
    a = ((np.arange(H * W * 3, dtype=np.uint64) * 2654435761) % 2**32 >> 24).astype(np.uint8).reshape(H, W, 3)
    im = Image.fromarray(a)
    ts = []
    for r in range(${reps + 1}):
        t = time.perf_counter(); im.resize((w, h), Image.BILINEAR); ts.append((time.perf_counter() - t) * 1e3)
    out[f"{W}x{H}"] = sorted(ts[1:])[len(ts[1:]) // 2]
print(json.dumps(out))`;
  const sizes = results.map((r) => {
    const [W, H] = r.input.split('x').map(Number);
    const [w, h] = r.output.split('x').map(Number);
    return [H, W, h, w];
  });
  try {
    const pil = JSON.parse(execFileSync(py, ['-c', script, JSON.stringify(sizes)], { encoding: 'utf8' }));
    for (const r of results) {
      r.medianMs['Pillow resize (Python, 1 thread)'] = +pil[r.input].toFixed(2);
      console.log(`Pillow ${r.input} -> ${r.output}: ${pil[r.input].toFixed(2)} ms`);
    }
  } catch (e) {
    console.log(`Pillow timing skipped: ${String(e.message).split('\n')[0]}`);
  }
}
const report = { bench: 'pillow_resize', machine: machine(), reps, jsReference: jsAt > 0 ? process.argv[jsAt + 1] : null, results };
if (args.json) writeFileSync(args.json, JSON.stringify(report, null, 2));
