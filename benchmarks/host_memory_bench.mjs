// Host memory of CPU predictions: a calibrated random checkpoint (R50 by default) at 800x1333, the synthetic image
// of the end-to-end benchmark, N predictions after Sotr.load. The peak RSS is VmHWM with the high-water mark reset
// after the load (/proc/self/clear_refs 5, Linux), so it is the predictions' peak, not the loader's. Per prediction:
// peak and current RSS, the allocator's live / peak / free-kept bytes, the weight cache, JavaScript's external
// memory (results not yet collected). Each configuration runs in its own process (a fresh address space):
// by default the host arena and SOTR_CPU_ARENA=0 (the whole-block cache), interleaved when --rounds > 1. The
// children run with --expose-gc and collect after each prediction, so that results awaiting JavaScript's collector
// (the masks, ~15 MB a prediction) do not blur the comparison.
//   node benchmarks/host_memory_bench.mjs [--preset r50] [--predictions 5] [--rounds 1] [--threads 2]
//        [--configs arena,blocks,f2,bf16] [--json FILE]
// Configurations: arena (default settings), blocks (SOTR_CPU_ARENA=0), f2 (SOTR_CONV_WINOGRAD4=0), bf16 (the model
// loaded with precision 'bf16': bfloat16 weights in the weight cache where the CPU has AVX512-BF16).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { machine, writeResults } from './harness.mjs';
import { syntheticImage } from './synthetic_image.mjs';

const argv = process.argv.slice(2);
const opt = (k, d) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : d);
const preset = opt('--preset', 'r50');
const predictions = Number(process.env.SOTR_HOST_MEMORY_PREDICTIONS || opt('--predictions', '5'));
const rounds = Number(opt('--rounds', '1'));
const threads = opt('--threads', process.env.SOTR_NUM_THREADS || '2');
const CONFIGS = { arena: {}, blocks: { SOTR_CPU_ARENA: '0' }, f2: { SOTR_CONV_WINOGRAD4: '0' }, bf16: { SOTR_HOST_MEMORY_PRECISION: 'bf16' } };
const configs = opt('--configs', 'arena,blocks').split(',');
const W = 1333, H = 800;
const MiB = (b) => Math.round(b / 1048576);

if (process.env.SOTR_HOST_MEMORY_CHILD) {
  // One configuration: load, reset the high-water mark, predict, report JSON on the last line.
  const { Sotr, memoryInfo, weightCacheInfo } = await import('../dist/index.js');
  const status = () => {
    const s = readFileSync('/proc/self/status', 'utf8');
    return { hwm: Number(/VmHWM:\s+(\d+)/.exec(s)[1]) * 1024, rss: Number(/VmRSS:\s+(\d+)/.exec(s)[1]) * 1024 };
  };
  const model = await Sotr.load(process.env.SOTR_HOST_MEMORY_CHILD, {
    device: 'cpu',
    minSize: H,
    precision: process.env.SOTR_HOST_MEMORY_PRECISION || 'fp32',
  });
  const afterLoad = status();
  writeFileSync('/proc/self/clear_refs', '5');
  const raw = { data: syntheticImage(W, H), width: W, height: H, channels: 3, format: 'bgr' };
  const rows = [];
  for (let i = 0; i < predictions; i++) {
    const t0 = performance.now();
    let r = await model.predict(raw);
    const ms = performance.now() - t0;
    const instances = r.instances.length;
    r = null;
    globalThis.gc?.(); // the previous results' masks: JavaScript's collection, not the library's memory
    const s = status(), m = memoryInfo('cpu'), wc = weightCacheInfo();
    rows.push({ ms: Math.round(ms), instances, peakRssMiB: MiB(s.hwm), rssMiB: MiB(s.rss), liveMiB: MiB(m.liveBytes),
      allocatorPeakMiB: MiB(m.peakBytes), keptFreeMiB: MiB(m.cachedBytes), weightCacheMiB: MiB(wc.bytes), jsExternalMiB: MiB(process.memoryUsage().external) });
  }
  model.dispose();
  console.log(JSON.stringify({ rssAfterLoadMiB: MiB(afterLoad.rss), rows }));
  process.exit(0);
}

const dir = path.join(os.tmpdir(), 'sotr-bench');
mkdirSync(dir, { recursive: true });
const ck = path.join(dir, `${preset}-seed1.safetensors`);
if (!existsSync(ck)) {
  const { writeRandomSotrCheckpoint } = await import('../dist/index.js');
  await writeRandomSotrCheckpoint(ck, { preset, seed: 1 });
}
const results = Object.fromEntries(configs.map((c) => [c, []]));
for (let round = 0; round < rounds; round++) {
  for (const c of configs) {
    if (!CONFIGS[c]) throw new Error(`unknown configuration ${c} (${Object.keys(CONFIGS).join(', ')})`);
    const env = { ...process.env, ...CONFIGS[c], SOTR_HOST_MEMORY_CHILD: ck, SOTR_HOST_MEMORY_PREDICTIONS: String(predictions), SOTR_NUM_THREADS: String(threads) };
    const r = spawnSync(process.execPath, ['--expose-gc', new URL(import.meta.url).pathname], { env, encoding: 'utf8', maxBuffer: 1 << 24 });
    const last = r.stdout.trim().split('\n').pop();
    if (r.status !== 0 || !last?.startsWith('{')) throw new Error(`${c}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
    const run = JSON.parse(last);
    results[c].push(run);
    const peaks = run.rows.map((x) => x.peakRssMiB), ms = run.rows.map((x) => x.ms);
    const l = run.rows.at(-1);
    console.log(`${c.padEnd(7)} round ${round}: peak RSS per prediction ${peaks.join(' ')} MiB; ms ${ms.join(' ')}; ` +
      `after load ${run.rssAfterLoadMiB} MiB; last: live ${l.liveMiB}, allocator peak ${l.allocatorPeakMiB}, kept free ${l.keptFreeMiB}, ` +
      `weight cache ${l.weightCacheMiB}, JS external ${l.jsExternalMiB} MiB`);
  }
}
const json = opt('--json', null);
writeResults(json, { benchmark: 'host_memory', date: new Date().toISOString(), machine: machine(), preset, size: `${W}x${H}`, threads: Number(threads), predictions, results });
