// Side-by-side benchmark harness: our op and PyTorch's, interleaved rep by
// rep in one process tree (PyTorch runs in a persistent worker process), with
// thread counts pinned on both sides. Writes JSON with machine, commit,
// threads, BLAS, medians and spread. Benchmarks report; they never fail tests.
import { spawn, execSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
export function pinThreads(n) {
  for (const v of ['SOTR_NUM_THREADS', 'OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS']) process.env[v] = String(n);
}

export function machine() {
  let commit = 'unknown';
  try {
    commit = execSync('git rev-parse --short=12 HEAD', { cwd: root, encoding: 'utf8' }).trim();
  } catch {}
  return { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, platform: `${process.platform}-${process.arch}`, commit, date: new Date().toISOString() };
}

export class TorchWorker {
  static async start() {
    const py = process.env.SOTR_BENCH_PYTHON || (process.platform === 'linux' ? '/usr/bin/python3' : 'python3');
    const w = new TorchWorker(spawn(py, [path.join(here, 'torch', 'worker.py')], { stdio: ['pipe', 'pipe', 'inherit'] }));
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
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const spread = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], p25: s[Math.floor(s.length * 0.25)], p75: s[Math.floor(s.length * 0.75)], max: s[s.length - 1] };
};

/**
 * Runs one case: `ours` (async, one run per call; returns when the work is done)
 * and PyTorch's `torch: { bench, params }`, alternating rep by rep.
 * `flops` (optional) gives GFLOP/s.
 */
export async function sideBySide({ name, ours, torch, worker, reps = 7, device = 'cpu', flops, deadline }) {
  await ours(); // warm-up
  let tid = null;
  if (worker && torch) tid = (await worker.call({ cmd: 'setup', bench: torch.bench, params: torch.params, device })).id;
  const a = [];
  const b = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await ours();
    a.push(performance.now() - t0);
    if (tid !== null) b.push(...(await worker.call({ cmd: 'run', id: tid, reps: 1 })).ms);
    if (deadline && Date.now() > deadline && r >= 2) break;
  }
  if (tid !== null) await worker.call({ cmd: 'free', id: tid });
  const res = { name, reps: a.length, oursMs: median(a), oursSpread: spread(a) };
  if (b.length) Object.assign(res, { torchMs: median(b), torchSpread: spread(b), speedup: median(b) / median(a) });
  if (flops) res.oursGflops = flops / res.oursMs / 1e6;
  if (flops && b.length) res.torchGflops = flops / res.torchMs / 1e6;
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
