// Side-by-side benchmark harness: our op and PyTorch's, interleaved rep by
// rep in one process tree (PyTorch runs in a persistent worker process), with
// thread counts pinned on both sides. Writes JSON with machine, commit,
// threads, BLAS, medians and spread. Benchmarks report; they never fail tests.
import { spawn, execSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..');

export function parseArgs(argv = process.argv.slice(2)) {
  const a = { threads: Number(process.env.SOTR_NUM_THREADS || 2), reps: 7, budgetS: 120, json: null, device: 'cpu', torch: true, quick: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--threads') a.threads = Number(argv[++i]);
    else if (k === '--reps') a.reps = Number(argv[++i]);
    else if (k === '--budget') a.budgetS = Number(argv[++i]);
    else if (k === '--json') a.json = argv[++i];
    else if (k === '--device') a.device = argv[++i];
    else if (k === '--no-torch') a.torch = false;
    else if (k === '--quick') a.quick = true;
  }
  return a;
}

/** Pins thread counts for us and for any child (PyTorch/OpenBLAS/OpenMP). Call before importing the library. */
/**
 * The checkpoint a model benchmark loads, and its load options: the test fixture for 'tiny' (short side 40..400 as
 * in the tests), else a random checkpoint of the preset written once into the OS temp folder.
 */
export async function benchCheckpoint(preset, size) {
  if (preset === 'tiny') return { ck: path.join(root, 'tests', 'fixtures', 'model', 'tiny_sotr.pth'), load: { minSize: 40, maxSize: 400 } };
  const ck = path.join(os.tmpdir(), `sotr-${preset}-seed1.safetensors`);
  if (!existsSync(ck)) {
    const { writeRandomSotrCheckpoint } = await import('../dist/index.js');
    await writeRandomSotrCheckpoint(ck, { preset, seed: 1 });
  }
  return { ck, load: { minSize: size } };
}

export function pinThreads(n) {
  for (const v of ['SOTR_NUM_THREADS', 'OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS']) process.env[v] = String(n);
}

function addonCommit() {
  try {
    return createRequire(import.meta.url)('../dist/index.js').backendInfo().build.commit ?? null;
  } catch {
    return null;
  }
}

export function machine() {
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short=12 HEAD', { cwd: root, encoding: 'utf8' }).trim();
  } catch {}
  let dirty = null;
  try {
    dirty = execSync('git status --porcelain --untracked-files=no', { cwd: root, encoding: 'utf8' }).trim().split('\n').filter(Boolean).length;
  } catch {}
  return {
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    commit,
    modifiedTrackedFiles: dirty,
    date: new Date().toISOString(),
    loadavg: os.loadavg().map((l) => +l.toFixed(2)),
    totalMemGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    // The instruction-set caps too: ours (SOTR_CPU_SIMD) and PyTorch's (ATen, oneDNN, OpenBLAS), for runs that
    // stand in for a CPU without AVX-512.
    env: Object.fromEntries(
      ['SOTR_NUM_THREADS', 'OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS', 'SOTR_NATIVE_PATH', 'SOTR_DEVICE',
        'SOTR_CPU_SIMD', 'ATEN_CPU_CAPABILITY', 'ONEDNN_MAX_CPU_ISA', 'OPENBLAS_CORETYPE', 'LD_PRELOAD'].map((k) => [k, process.env[k] ?? null]),
    ),
    // The PyTorch process's malloc settings (torchMallocEnv), and the addon's own commit (it may differ from HEAD's).
    torchMalloc: torchMallocEnv(),
    addonCommit: addonCommit(),
  };
}

/** Peak host RSS of this process so far, MiB (process.resourceUsage().maxRSS is KiB). */
export const maxRssMiB = () => +(process.resourceUsage().maxRSS / 1024).toFixed(1);

/** Starts a worker speaking worker.py's protocol; `script` defaults to the shared worker. Null (with a note) if PyTorch is unavailable. */
export async function startTorch(args, script) {
  if (!args.torch) return null;
  try {
    const w = await TorchWorker.start(script);
    // Debian's torch multiplies through libblas.so.3, whichever library provides it: with only the reference BLAS
    // installed (python3-torch alone), PyTorch's GEMMs run 20-40x slower and every ratio is meaningless (seen
    // 2026-11-27: matmul 1024^3 455 ms). Install libopenblas0-pthread.
    const libs = w.config?.blas_libs ?? [];
    if (args.device !== 'cuda' && libs.length && !libs.some((l) => /openblas|mkl|blis/i.test(l))) {
      console.log(`\n*** PyTorch's BLAS is ${libs.join(', ')}: not an optimised one; install libopenblas0-pthread, or the CPU ratios mean nothing ***\n`);
    }
    return w;
  } catch (e) {
    console.log(`PyTorch not available (${e.message}); ours only`);
    return null;
  }
}

/**
 * Physical floor of one op on a known GPU (ms): max(flops / peak, bytes / bandwidth), or null.
 * Peaks (dense, no sparsity): H100 SXM 67 TFLOP/s fp32, 495 tf32, 989 bf16/fp16, 3.35 TB/s;
 * H200 the same compute, 4.8 TB/s (../shared/docs/performance-anchors.md §5).
 */
export function gpuFloorMs(deviceName, { flops = 0, bytes = 0, precision = 'fp32' }) {
  const peaks = [
    [/H200/i, { fp32: 67e12, tf32: 495e12, bf16: 989e12, fp16: 989e12, bw: 4.8e12 }],
    [/H100/i, { fp32: 67e12, tf32: 495e12, bf16: 989e12, fp16: 989e12, bw: 3.35e12 }],
  ];
  const hit = peaks.find(([re]) => re.test(deviceName ?? ''));
  if (!hit) return null;
  const p = hit[1];
  return Math.max(flops / p[precision], bytes / p.bw) * 1e3;
}

/**
 * glibc's malloc settings for the PyTorch process. By default glibc returns every large freed block to the system
 * and the next call faults fresh pages in (~1.5 µs a page on our VM): PyTorch's eager ops, which allocate their
 * outputs anew on every call, then spend much of their time there (dynamicConv's twin: 267 ms, 107 ms with these),
 * while our ops draw on a warm arena. Keeping freed memory (what jemalloc or tcmalloc would do, and what a tuned
 * PyTorch deployment does) is the fairer comparison; SOTR_BENCH_TORCH_MALLOC=default runs glibc's defaults.
 */
export function torchMallocEnv() {
  if (process.env.SOTR_BENCH_TORCH_MALLOC === 'default') return {};
  return { MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296' };
}

export class TorchWorker {
  static async start(script = path.join(here, 'torch', 'worker.py'), extraArgs = []) {
    const py = process.env.SOTR_BENCH_PYTHON || (process.platform === 'linux' ? '/usr/bin/python3' : 'python3');
    const env = { ...process.env, ...torchMallocEnv() };
    const w = new TorchWorker(spawn(py, [script, ...extraArgs], { stdio: ['pipe', 'pipe', 'inherit'], env }));
    try {
      w.config = await w.call({ cmd: 'config' });
    } catch (e) {
      w.close();
      throw e;
    }
    return w;
  }
  constructor(child) {
    this.child = child;
    this.pending = [];
    createInterface({ input: child.stdout }).on('line', (l) => this.pending.shift()?.resolve(JSON.parse(l)));
    child.on('exit', () => this.pending.splice(0).forEach((p) => p.reject(new Error('torch worker exited'))));
  }
  call(msg) {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.child.stdin.write(JSON.stringify(msg) + '\n');
    }).then((r) => {
      if (r.error) throw new Error(`torch: ${r.error}`);
      return r;
    });
  }
  close() {
    this.child.stdin.end();
  }
}

export const median = (xs) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
export const spread = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], p25: s[Math.floor(s.length * 0.25)], p75: s[Math.floor(s.length * 0.75)], max: s[s.length - 1] };
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Each timed call starts after both sides have been idle for this long. On the
// CPU, PyTorch's workers busy-wait after each call (GOMP's spin phase, and
// OpenBLAS's for about 2^28 cycles, ~70 ms here) and would otherwise steal a
// core from our next call: measured here, our 2-thread conv on 24x48 ran at
// 98 GFLOP/s right after a PyTorch call and at 140 GFLOP/s alone, and matmul
// 1024^3 at 104 GFLOP/s 50 ms after an OpenBLAS call (177 alone). After the pause each side makes one untimed call (waking
// its own workers from sleep, which costs milliseconds on this VM) and then the
// timed one, so both are measured warm and undisturbed by the other.
// SOTR_BENCH_SETTLE_MS overrides (0: back to back, one call each).
export function defaultSettleMs(device = 'cpu') {
  const e = process.env.SOTR_BENCH_SETTLE_MS;
  if (e !== undefined && e !== '') return Math.max(0, Number(e) || 0);
  return device === 'cpu' ? 150 : 0;
}

/** Before a timed call of ours: sleep settleMs, then one untimed call (no-op when settleMs is 0). */
export async function settleAndWarm(ours, settleMs) {
  if (settleMs <= 0) return;
  await sleep(settleMs);
  await ours();
}

/** One timed PyTorch call after the same settle and untimed call: { ms, cpuMs, raw } (raw: the worker's reply). */
export async function torchRunSettled(worker, id, settleMs) {
  if (settleMs > 0) await sleep(settleMs);
  const raw = await worker.call({ cmd: 'run', id, reps: settleMs > 0 ? 2 : 1 });
  return { ms: raw.ms[raw.ms.length - 1], cpuMs: raw.cpu_ms?.length ? raw.cpu_ms[raw.cpu_ms.length - 1] : undefined, raw };
}

/**
 * Runs one case: `ours` (async, one run per call; returns when the work is done)
 * and PyTorch's `torch: { bench, params }`, alternating rep by rep.
 * `flops` (optional) gives GFLOP/s.
 */
export async function sideBySide({ name, ours, torch, worker, reps = 7, device = 'cpu', flops, bytes, precision = 'fp32', deadline, minReps = 3, warmup = true, settleMs = defaultSettleMs(device) }) {
  const loadBefore = os.loadavg()[0];
  if (warmup) await ours(); // warm-up
  let tid = null;
  let torchMaxRssKiB = null;
  let torchCudaPeak = null;
  let torchInfo;
  if (worker && torch) {
    const s = await worker.call({ cmd: 'setup', bench: torch.bench, params: torch.params, device });
    tid = s.id;
    torchMaxRssKiB = s.maxrss_kb ?? null;
    torchInfo = s.info;
  }
  const a = [];
  const ac = [];
  const b = [];
  const bc = [];
  for (let r = 0; r < reps; r++) {
    await settleAndWarm(ours, settleMs); // the untimed call wakes our workers after the pause
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await ours();
    a.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    ac.push((c.user + c.system) / 1000);
    if (tid !== null) {
      const { ms, cpuMs, raw: rr } = await torchRunSettled(worker, tid, settleMs);
      b.push(ms);
      if (cpuMs !== undefined) bc.push(cpuMs);
      if (rr.maxrss_kb) torchMaxRssKiB = rr.maxrss_kb;
      if (rr.cuda_max_allocated) torchCudaPeak = rr.cuda_max_allocated;
    }
    if (deadline && Date.now() > deadline && r + 1 >= minReps) break;
  }
  if (tid !== null) await worker.call({ cmd: 'free', id: tid });
  const res = { name, settleMs, reps: a.length, oursMs: median(a), oursSpread: spread(a), oursCpuMs: median(ac) };
  if (b.length) {
    Object.assign(res, { torchMs: median(b), torchSpread: spread(b), speedup: median(b) / median(a) });
    if (bc.length) Object.assign(res, { torchCpuMs: median(bc), speedupCpu: median(bc) / median(ac) });
  }
  if (flops) res.oursGflops = flops / res.oursMs / 1e6;
  if (flops && b.length) res.torchGflops = flops / res.torchMs / 1e6;
  res.oursMaxRssMiB = maxRssMiB();
  if (torchMaxRssKiB) res.torchMaxRssMiB = +(torchMaxRssKiB / 1024).toFixed(1);
  if (torchCudaPeak) res.torchCudaPeakMiB = +(torchCudaPeak / 2 ** 20).toFixed(1);
  if (torchInfo !== undefined) res.torchInfo = torchInfo;
  if (device !== 'cpu') {
    try {
      const { memoryInfo, backendInfo } = await import('../dist/index.js');
      const m = memoryInfo(device);
      if (m?.peakBytes !== undefined) res.oursDevicePeakMiB = +(m.peakBytes / 2 ** 20).toFixed(1);
      const floor = gpuFloorMs(backendInfo().cuda?.devices?.[0]?.name, { flops, bytes, precision });
      if (floor) Object.assign(res, { floorMs: floor, floorFraction: floor / res.oursMs });
    } catch {}
  }
  res.load = [+loadBefore.toFixed(2), +os.loadavg()[0].toFixed(2)];
  return res;
}

export function printTable(rows) {
  console.log(['case', 'ours ms', 'torch ms', 'speedup', 'GFLOP/s'].map((s, i) => (i ? s.padStart(10) : s.padEnd(44))).join(''));
  for (const r of rows) {
    console.log(
      r.name.padEnd(44) +
        r.oursMs.toFixed(3).padStart(10) +
        (r.torchMs !== undefined ? r.torchMs.toFixed(3) : '-').padStart(10) +
        (r.speedup !== undefined ? r.speedup.toFixed(2) + 'x' : '-').padStart(10) +
        (r.oursGflops !== undefined ? r.oursGflops.toFixed(1) : '-').padStart(10),
    );
  }
}

export function writeResults(file, payload) {
  if (!file) return;
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, JSON.stringify(payload, null, 2));
  console.log(`wrote ${file}`);
}
