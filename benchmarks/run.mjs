// Runs the side-by-side benchmarks (all, or a named subset), each in its own process with a share of the
// time budget, and writes JSON: benchmarks/results/<name>-<device>-<date>.json per benchmark plus
// benchmarks/results/suite-<device>-<date>.json (machine, PyTorch configuration, every row, per-kernel summary,
// the targets met / not met). `npm run bench` calls it. A benchmark reports; this script never fails (exit 0).
//   node benchmarks/run.mjs [gemm conv2d groupnorm interpolate mask_ops twin_attention e2e]
//        [--budget 900] [--threads 2] [--device cpu] [--quick] [--no-torch] [--out benchmarks/results]
//        [--e2e-presets r50,r101]
import { spawnSync } from 'node:child_process';
import { readFileSync, existsSync, rmSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { root, machine, writeResults, pinThreads } from './harness.mjs';

const BENCHES = {
  // name: [script, share of the budget, extra args]
  gemm: ['gemm_bench.mjs', 0.06, []],
  conv2d: ['conv2d_bench.mjs', 0.16, []],
  groupnorm: ['groupnorm_bench.mjs', 0.03, []],
  interpolate: ['interpolate_bench.mjs', 0.03, []],
  mask_ops: ['mask_ops_bench.mjs', 0.1, []],
  twin_attention: ['twin_attention_bench.mjs', 0.07, []],
  e2e: ['e2e_bench.mjs', 0.55, []],
};

const argv = process.argv.slice(2);
const opts = { budget: 900, threads: Number(process.env.SOTR_NUM_THREADS || 2), device: 'cpu', quick: false, torch: true, out: path.join(root, 'benchmarks', 'results'), e2ePresets: 'r50,r101' };
const names = [];
for (let i = 0; i < argv.length; i++) {
  const k = argv[i];
  if (k === '--budget') opts.budget = Number(argv[++i]);
  else if (k === '--threads') opts.threads = Number(argv[++i]);
  else if (k === '--device') opts.device = argv[++i];
  else if (k === '--quick') opts.quick = true;
  else if (k === '--no-torch') opts.torch = false;
  else if (k === '--out') opts.out = path.resolve(argv[++i]);
  else if (k === '--e2e-presets') opts.e2ePresets = argv[++i];
  else if (k.startsWith('--')) console.log(`run.mjs: unknown flag ${k} (ignored)`);
  else names.push(k);
}
const selected = names.length ? names : Object.keys(BENCHES);
const unknown = selected.filter((n) => !BENCHES[n]);
if (unknown.length) console.log(`run.mjs: unknown benchmark(s) ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}`);
const list = selected.filter((n) => BENCHES[n]);
pinThreads(opts.threads);

const date = new Date().toISOString().slice(0, 10);
const shareSum = list.reduce((s, n) => s + BENCHES[n][1], 0);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'sotr-bench-run-'));
const started = Date.now();
const suite = { suite: 'sotr-node side-by-side benchmarks', device: opts.device, budgetS: opts.budget, threads: opts.threads, machineStart: machine(), benches: {} };

for (const name of list) {
  const [script, share] = BENCHES[name];
  const left = opts.budget - (Date.now() - started) / 1000;
  const budget = Math.max(10, Math.round((opts.budget * share) / shareSum));
  const json = path.join(tmp, `${name}.json`);
  const extra = [...BENCHES[name][2]];
  if (name === 'e2e') extra.push('--presets', opts.e2ePresets, '--budget', String(Math.max(10, Math.round(left * 0.8))));
  else extra.push('--budget', String(budget));
  if (opts.quick) extra.push('--quick');
  if (!opts.torch) extra.push('--no-torch');
  const cmd = [path.join(root, 'benchmarks', script), '--threads', String(opts.threads), '--device', opts.device, '--json', json, ...extra];
  console.log(`\n=== ${name}: node ${path.relative(root, cmd[0])} ${cmd.slice(1).join(' ')}   (load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, cmd, { cwd: root, stdio: 'inherit', env: process.env });
  const entry = { script, wallS: (Date.now() - t0) / 1000, exit: r.status, signal: r.signal };
  if (existsSync(json)) {
    const res = JSON.parse(readFileSync(json, 'utf8'));
    res.rows = res.rows ?? res.results ?? [];
    delete res.results;
    res.runner = { budgetS: name === 'e2e' ? undefined : budget, wallS: entry.wallS };
    writeResults(path.join(opts.out, `${name}-${opts.device}-${date}.json`), res);
    entry.result = res;
  } else {
    entry.error = `no result (exit ${r.status}${r.signal ? `, signal ${r.signal}` : ''})`;
    console.log(`${name}: ${entry.error}`);
  }
  suite.benches[name] = entry;
}
rmSync(tmp, { recursive: true, force: true });

// Per-kernel summary: the ratio to PyTorch (torch ms / ours ms; > 1 means ours is faster).
function kernelOf(bench, row) {
  if (bench === 'mask_ops') return row.name.split(' ')[0];
  return { gemm: 'matmul (GEMM)', conv2d: 'conv2d', groupnorm: 'groupNorm', interpolate: 'interpolate', twin_attention: 'twinAttention', e2e: 'end-to-end' }[bench] ?? bench;
}
const geo = (xs) => Math.exp(xs.reduce((s, v) => s + Math.log(v), 0) / xs.length);
const kernels = {};
for (const [bench, e] of Object.entries(suite.benches)) {
  for (const row of e.result?.rows ?? []) {
    if (!row.speedup) continue;
    const k = kernelOf(bench, row);
    (kernels[k] ??= []).push({ name: row.name, speedup: row.speedup, oursMs: row.oursMs, torchMs: row.torchMs });
  }
}
suite.summary = Object.fromEntries(
  Object.entries(kernels).map(([k, rows]) => {
    const s = rows.map((r) => r.speedup);
    return [k, { cases: rows.length, geomeanSpeedup: geo(s), minSpeedup: Math.min(...s), maxSpeedup: Math.max(...s), casesBehind: rows.filter((r) => r.speedup < 1).map((r) => r.name) }];
  }),
);
suite.targets = {
  'every custom kernel ahead of PyTorch': Object.entries(suite.summary)
    .filter(([k]) => k !== 'end-to-end')
    .map(([k, v]) => ({ kernel: k, met: v.minSpeedup > 1, geomean: +v.geomeanSpeedup.toFixed(2), min: +v.minSpeedup.toFixed(2) })),
  'end-to-end ahead of the PyTorch reference': (kernels['end-to-end'] ?? []).map((r) => ({ case: r.name, met: r.speedup > 1, speedup: +r.speedup.toFixed(2), oursMs: Math.round(r.oursMs), torchMs: Math.round(r.torchMs) })),
};
suite.machineEnd = machine();
suite.wallS = (Date.now() - started) / 1000;
suite.torch = Object.values(suite.benches).find((e) => e.result?.torch)?.result.torch ?? null;
if (suite.torch) delete suite.torch.config_show;
writeResults(path.join(opts.out, `suite-${opts.device}-${date}.json`), suite);

console.log(`\nsummary (ratio = PyTorch time / ours; > 1: ours faster), threads ${opts.threads}, wall ${suite.wallS.toFixed(0)} s, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const [k, v] of Object.entries(suite.summary)) {
  console.log(`  ${k.padEnd(18)} ${String(v.cases).padStart(3)} cases  geomean ${v.geomeanSpeedup.toFixed(2)}x  min ${v.minSpeedup.toFixed(2)}x  max ${v.maxSpeedup.toFixed(2)}x` + (v.casesBehind.length ? `  behind: ${v.casesBehind.join('; ')}` : ''));
}
process.exitCode = 0;
