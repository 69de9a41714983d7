// How the CPU path would scale on more cores than this machine has. For each thread count, one process runs a
// warm prediction with the pool at that size (more threads than cores is fine) and SOTR_POOL_TRACE recording every
// op's parallel regions: each task's own CPU time (thread CPU clocks) and the op's serial CPU time
// (native/runtime/pool_trace.h). A list-scheduling simulation then gives the prediction's wall time on that many
// idle cores: per region, tasks handed out in order to the first free thread (as the pool does), plus the serial
// parts. Not modelled: memory bandwidth shared by the cores, the pool's wake-ups, the JavaScript thread's own
// time between ops; an oversubscribed run's task times are inflated by cache sharing (more so the more threads).
// So it ranks where the partitioning leaves cores idle; it does not predict a machine's figures. On a machine
// with the cores, --measure times real predictions at each thread count instead (median of --reps, after one
// warm-up), to set beside the simulation (scripts/gpu-check.sh stage 8 on the GPU machine's 16 cores).
// Reports; never fails.
//   node benchmarks/pool_scaling_bench.mjs [--preset r50|r50-tiny|tiny] [--checkpoint file] [--threads 2,4,8,16,32]
//        [--size 800] [--top 8] [--measure] [--reps 3] [--deferred on|off] [--budget seconds] [--json out.json]
// --deferred: the model's deferredOps (default: the library's, off on the CPU): with it the JavaScript thread's
// ~200 ms of work per R50 prediction (the ops' round trips, promise jobs) overlaps the kernels instead of leaving
// the pool idle between ops; on 2 cores here it helped only with a core left free for it (1 pool thread).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchCheckpoint } from './harness.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const opt = (k, d) => {
  const i = argv.indexOf(k);
  return i >= 0 ? argv[i + 1] : d;
};
const preset = opt('--preset', 'r50');
const threadCounts = opt('--threads', '2,4,8,16,32').split(',').map(Number);
const size = Number(opt('--size', preset === 'tiny' ? '200' : '800'));
const top = Number(opt('--top', '8'));
const jsonOut = opt('--json', null);
const measure = argv.includes('--measure');
const reps = Number(opt('--reps', '3'));
const budgetS = Number(opt('--budget', '0')); // 0: none; else no thread count starts past it
const deferredOpt = opt('--deferred', null);
if (deferredOpt !== null && deferredOpt !== 'on' && deferredOpt !== 'off') throw new Error('--deferred on|off');
const t0 = Date.now();

const { ck, load } = opt('--checkpoint', null)
  ? { ck: path.resolve(opt('--checkpoint', null)), load: { minSize: size } }
  : await benchCheckpoint(preset, size);
if (deferredOpt !== null) load.deferredOps = deferredOpt === 'on';

// One process: load, one prediction (weights prepared, memory touched), then the traced one.
const CHILD = `
  const { Sotr } = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
  const fs = require('node:fs');
  (async () => {
    const model = await Sotr.load(${JSON.stringify(ck)}, { device: 'cpu', onWarning() {}, ...${JSON.stringify(load)} });
    const H = ${size}, W = Math.round(${size} * 4 / 3), data = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3; data[i] = (x * 7 + y * 3) & 255; data[i + 1] = (x ^ y) & 255; data[i + 2] = ((x * y) >> 5) & 255;
    }
    const image = { data, width: W, height: H, channels: 3, format: 'rgb' };
    (await model.predict(image)).instances.length;
    const trace = process.env.SOTR_POOL_TRACE;
    const from = trace && fs.existsSync(trace) ? fs.statSync(trace).size : 0;
    const times = [];
    let n = 0;
    for (let r = 0; r < (trace ? 1 : ${reps}); r++) {
      const t = performance.now();
      n = (await model.predict(image)).instances.length;
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    console.log(JSON.stringify({ from, wallMs: times[times.length >> 1], times, instances: n }));
    await model.dispose();
  })().catch((e) => { console.error(e); process.exit(1); });
`;

// Greedy list scheduling: each task to the thread free first, in order.
function makespan(tasks, threads) {
  const free = new Array(Math.min(threads, tasks.length)).fill(0);
  for (const t of tasks) {
    let k = 0;
    for (let i = 1; i < free.length; i++) if (free[i] < free[k]) k = i;
    free[k] += t;
  }
  return free.length ? Math.max(...free) : 0;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'sotr-pool-trace-'));
const results = [];
const cores = os.availableParallelism?.() ?? os.cpus().length;
try {
  if (measure) {
    let base = null;
    for (const threads of threadCounts) {
      if (budgetS && (Date.now() - t0) / 1000 > budgetS) {
        console.log(`${threads} threads: skipped (budget)`);
        continue;
      }
      const r = spawnSync(process.execPath, ['-e', CHILD], {
        encoding: 'utf8',
        env: { ...process.env, SOTR_NUM_THREADS: String(threads), SOTR_POOL_TRACE: '' },
        timeout: 600_000,
      });
      if (r.status !== 0) throw new Error(`threads ${threads}: ${r.stderr}`);
      const run = JSON.parse(r.stdout.trim().split('\n').pop());
      base ??= { threads, ms: run.wallMs };
      const speedup = (base.ms * base.threads) / run.wallMs;
      results.push({ threads, measuredWallMs: run.wallMs, times: run.times, instances: run.instances, speedupOverOneThread: speedup });
      console.log(
        `${String(threads).padStart(3)} threads: measured ${run.wallMs.toFixed(1)} ms (median of ${run.times.length}: ${run.times.map((t) => t.toFixed(0)).join(' ')}), ` +
          `${base.threads === threads ? '' : `${speedup.toFixed(2)}x one thread${base.threads === 1 ? '' : ` (taking ${base.threads} threads as ${base.threads}x)`}; `}${run.instances} instances; ${cores} cores here`,
      );
    }
  }
  for (const threads of measure ? [] : threadCounts) {
    const file = path.join(dir, `t${threads}.jsonl`);
    const r = spawnSync(process.execPath, ['-e', CHILD], {
      encoding: 'utf8',
      // No spinning: a waiting thread then uses no CPU, so the clocks hold only the tasks' work.
      env: { ...process.env, SOTR_NUM_THREADS: String(threads), SOTR_POOL_TRACE: file, SOTR_POOL_SPIN_US: '0' },
      timeout: 600_000,
    });
    if (r.status !== 0) throw new Error(`threads ${threads}: ${r.stderr}`);
    const run = JSON.parse(r.stdout.trim().split('\n').pop());
    const ops = readFileSync(file).subarray(run.from).toString().trim().split('\n').map((l) => JSON.parse(l));
    const byOp = new Map();
    const total = { cpuMs: 0, simMs: 0, idealMs: 0, serialMs: 0 };
    for (const o of ops) {
      const e = byOp.get(o.op) ?? { op: o.op, calls: 0, cpuMs: 0, simMs: 0, idealMs: 0, serialMs: 0, regions: 0, regionsUnderThreads: 0 };
      const serial = o.serialNs / 1e6;
      let cpu = serial, sim = serial, ideal = serial;
      for (const reg of o.regions) {
        const sum = reg.reduce((a, b) => a + b, 0) / 1e6;
        cpu += sum;
        sim += makespan(reg, threads) / 1e6;
        ideal += sum / threads;
        e.regions++;
        if (reg.length < threads) e.regionsUnderThreads++;
      }
      e.calls++;
      e.cpuMs += cpu;
      e.simMs += sim;
      e.idealMs += ideal;
      e.serialMs += serial;
      byOp.set(o.op, e);
      total.cpuMs += cpu;
      total.simMs += sim;
      total.idealMs += ideal;
      total.serialMs += serial;
    }
    const row = { threads, measuredWallMs: run.wallMs, instances: run.instances, ...total, speedup: total.cpuMs / total.simMs, ops: [...byOp.values()].sort((a, b) => b.simMs - a.simMs) };
    results.push(row);
    const f = (x) => x.toFixed(1);
    console.log(
      `${String(threads).padStart(3)} threads: simulated ${f(row.simMs)} ms (perfect split ${f(row.idealMs)}), ${row.speedup.toFixed(2)}x the ` +
        `${f(row.cpuMs)} ms of CPU; serial ${f(row.serialMs)} ms; measured here ${f(run.wallMs)} ms on ${cores} cores`,
    );
    for (const e of row.ops.slice(0, top)) {
      console.log(
        `      ${e.op.padEnd(20)} ${String(e.calls).padStart(4)} calls  sim ${f(e.simMs).padStart(7)}  perfect ${f(e.idealMs).padStart(7)}  ` +
          `busy ${String(Math.round((100 * e.cpuMs) / threads / e.simMs)).padStart(3)}%  regions with fewer tasks than threads ${e.regionsUnderThreads}/${e.regions}`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (jsonOut) {
  writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), mode: measure ? 'measured' : 'simulated', preset, checkpoint: ck, size, machine: { cpus: os.cpus()[0]?.model, cores }, results }, null, 1));
}
