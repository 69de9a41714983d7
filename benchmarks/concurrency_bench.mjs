// N predict calls on one model at once (a server's burst): when each finishes, the allocator's peak and the
// process's RSS, against the same N one after another. Since predictions take turns (ts/model/admission.ts), the
// first of a burst should finish as fast as a lone prediction and the peak should not grow with N.
// `--dist DIR` runs another build's JavaScript (an A/B against an older checkout's dist/). Reports; never fails.
//   node benchmarks/concurrency_bench.mjs [--preset r50] [--size 640] [--n 4] [--device cpu] [--threads 2]
//        [--dist DIR] [--json FILE]
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { machine, pinThreads, writeResults } from './harness.mjs';

const argv = process.argv.slice(2);
const opt = (k, d) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const preset = opt('--preset', 'r50');
const size = Number(opt('--size', '640'));
const n = Number(opt('--n', '4'));
const device = opt('--device', 'cpu');
pinThreads(Number(opt('--threads', '2')));
const dist = path.resolve(opt('--dist', new URL('../dist', import.meta.url).pathname));
const json = opt('--json', null);
const { Sotr, writeRandomSotrCheckpoint, memoryInfo, resetPeakMemory, synchronize } = await import(pathToFileURL(path.join(dist, 'index.js')).href);

const ck = path.join(os.tmpdir(), `sotr-${preset}-seed1.safetensors`);
if (!existsSync(ck)) await writeRandomSotrCheckpoint(ck, { preset, seed: 1 });
const model = await Sotr.load(ck, { device, minSize: size, maxSize: Math.round((size * 5) / 3), onWarning: () => {} });
const dev = model.device;
const H = size;
const W = Math.round((size * 4) / 3);
const pixels = new Uint8Array(H * W * 3);
for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
const frame = () => ({ data: pixels, width: W, height: H, channels: 3, format: 'bgr' });
await model.predict(frame()); // warm: caches, packed weights

async function round(together) {
  await synchronize(dev);
  resetPeakMemory(dev);
  const live = memoryInfo(dev).liveBytes;
  let maxRss = process.memoryUsage().rss;
  const rssTimer = setInterval(() => (maxRss = Math.max(maxRss, process.memoryUsage().rss)), 10);
  const t0 = performance.now();
  const done = [];
  if (together) await Promise.all(Array.from({ length: n }, () => model.predict(frame()).then(() => done.push(performance.now() - t0))));
  else for (let i = 0; i < n; i++) await model.predict(frame()).then(() => done.push(performance.now() - t0));
  clearInterval(rssTimer);
  await synchronize(dev);
  const r = {
    mode: together ? `${n} at once` : `${n} one after another`,
    firstMs: Math.min(...done),
    meanMs: done.reduce((a, b) => a + b, 0) / n,
    lastMs: Math.max(...done),
    allocatorPeakMB: (memoryInfo(dev).peakBytes - live) / 1e6,
    maxRssMB: maxRss / 1e6,
  };
  console.log(
    `${r.mode.padEnd(24)} first ${r.firstMs.toFixed(0)} ms, mean ${r.meanMs.toFixed(0)}, last ${r.lastMs.toFixed(0)}; ` +
      `allocator peak above live ${r.allocatorPeakMB.toFixed(0)} MB, max RSS ${r.maxRssMB.toFixed(0)} MB`,
  );
  return r;
}

console.log(`${preset} ${W}x${H} on ${dev}, ${n} predictions, JavaScript from ${dist}`);
const rows = [await round(false), await round(true)];
await model.dispose();
writeResults(json, { bench: 'concurrency', machine: machine(), preset, width: W, height: H, device: dev, n, dist, rows });
