// Dependency-free SVG plots from the JSON results of benchmarks/run.mjs:
//   <out>/kernel-ratio-<device>.svg  each case's ratio to PyTorch (PyTorch ms / ours ms, log scale), one colour per kernel
//   <out>/throughput-batch-<device>.svg  throughput against batch size where measured (twin attention B = 1 vs 8,
//                                        end-to-end images/s at batch 1), ours and PyTorch's
//   node benchmarks/plot.mjs [benchmarks/results/suite-cpu-<date>.json] [--out benchmarks/plots]
// Without a file: the newest suite-*.json in benchmarks/results.
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { root } from './harness.mjs';

const argv = process.argv.slice(2);
const outDir = argv.includes('--out') ? path.resolve(argv[argv.indexOf('--out') + 1]) : path.join(root, 'benchmarks', 'plots');
let file = argv.find((a, i) => !a.startsWith('--') && argv[i - 1] !== '--out');
if (!file) {
  const dir = path.join(root, 'benchmarks', 'results');
  const suites = readdirSync(dir).filter((f) => /^suite-.*\.json$/.test(f)).sort();
  if (!suites.length) {
    console.log('plot.mjs: no suite-*.json in benchmarks/results (run `npm run bench` first)');
    process.exit(0);
  }
  file = path.join(dir, suites[suites.length - 1]);
}
const suite = JSON.parse(readFileSync(file, 'utf8'));
mkdirSync(outDir, { recursive: true });
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const palette = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const m = suite.machineStart ?? {};
const caption = `${m.cpu ?? ''}, ${suite.threads} threads, ${suite.device}, ${m.date?.slice(0, 10) ?? ''}, commit ${m.commit ?? '?'}, load ${m.loadavg?.[0] ?? '?'}`;

// ---- 1. ratio to PyTorch, per case
const kernelOf = (bench, row) =>
  bench === 'mask_ops' ? row.name.split(' ')[0] : { gemm: 'matmul', conv2d: 'conv2d', groupnorm: 'groupNorm', interpolate: 'interpolate', twin_attention: 'twinAttention', e2e: 'end-to-end' }[bench] ?? bench;
const bars = [];
for (const [bench, e] of Object.entries(suite.benches)) for (const r of e.result?.rows ?? []) if (r.speedup) bars.push({ kernel: kernelOf(bench, r), label: bench === 'twin_attention' ? `twinAttention ${r.name}` : r.name, v: r.speedup });
const kernels = [...new Set(bars.map((b) => b.kernel))];
const colour = Object.fromEntries(kernels.map((k, i) => [k, palette[i % palette.length]]));
{
  const rowH = 16, left = 330, width = 900, plotW = width - left - 60, top = 50;
  const height = top + bars.length * rowH + 60;
  const lo = Math.min(0.25, ...bars.map((b) => b.v)), hi = Math.max(4, ...bars.map((b) => b.v));
  const lmin = Math.log2(lo), lmax = Math.log2(hi);
  const X = (v) => left + ((Math.log2(v) - lmin) / (lmax - lmin)) * plotW;
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">\n`;
  s += `<rect width="100%" height="100%" fill="white"/>\n<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">Speed ratio to PyTorch (PyTorch time / ours; &gt; 1: ours faster), log scale</text>\n`;
  s += `<text x="${width / 2}" y="34" text-anchor="middle" fill="#555">${esc(caption)}</text>\n`;
  for (let e = Math.ceil(lmin); e <= Math.floor(lmax); e++) {
    const x = X(2 ** e);
    s += `<line x1="${x}" y1="${top - 4}" x2="${x}" y2="${top + bars.length * rowH}" stroke="${e === 0 ? '#000' : '#ddd'}" stroke-width="${e === 0 ? 1.5 : 1}"/>`;
    s += `<text x="${x}" y="${top + bars.length * rowH + 14}" text-anchor="middle">${2 ** e >= 1 ? 2 ** e : '1/' + 2 ** -e}×</text>\n`;
  }
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const x0 = X(1), x1 = X(b.v);
    s += `<text x="${left - 6}" y="${y + rowH - 4}" text-anchor="end">${esc(b.label.slice(0, 52))}</text>`;
    s += `<rect x="${Math.min(x0, x1)}" y="${y + 2}" width="${Math.max(1, Math.abs(x1 - x0))}" height="${rowH - 4}" fill="${colour[b.kernel]}"/>`;
    s += `<text x="${Math.max(x0, x1) + 3}" y="${y + rowH - 4}" fill="#333">${b.v.toFixed(2)}</text>\n`;
  });
  kernels.forEach((k, i) => {
    const x = left + (i % 5) * 110, y = top + bars.length * rowH + 30 + Math.floor(i / 5) * 14;
    s += `<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${colour[k]}"/><text x="${x + 14}" y="${y}">${esc(k)}</text>\n`;
  });
  s += '</svg>\n';
  const f = path.join(outDir, `kernel-ratio-${suite.device}.svg`);
  writeFileSync(f, s);
  console.log(`wrote ${path.relative(root, f)} (${bars.length} cases)`);
}

// ---- 2. throughput against batch size (twin attention: sub-layers per image per second; end-to-end: images/s)
{
  const groups = [];
  for (const r of suite.benches.twin_attention?.result?.rows ?? []) {
    const g = `twinAttention ${r.H}x${r.W}`;
    let e = groups.find((x) => x.name === g);
    if (!e) groups.push((e = { name: g, unit: 'images/s (one sub-layer)', pts: [] }));
    e.pts.push({ B: r.B, ours: r.imagesPerS ?? (1000 * r.B) / r.oursMs, torch: r.torchMs ? (1000 * r.B) / r.torchMs : null });
  }
  for (const r of suite.benches.e2e?.result?.rows ?? []) groups.push({ name: `end-to-end ${r.preset}`, unit: 'images/s', pts: [{ B: 1, ours: 1000 / r.oursMs, torch: r.torchMs ? 1000 / r.torchMs : null }] });
  const cells = groups.flatMap((g) => g.pts.map((p) => ({ ...p, g: g.name })));
  if (cells.length) {
    const width = 900, top = 60, left = 70, plotH = 300, colW = (width - left - 20) / cells.length;
    const height = top + plotH + 90;
    const vmax = Math.max(...cells.flatMap((c) => [c.ours, c.torch ?? 0]));
    const lmin = Math.floor(Math.log10(Math.min(...cells.flatMap((c) => [c.ours, c.torch ?? c.ours])))), lmax = Math.ceil(Math.log10(vmax));
    const Y = (v) => top + plotH - ((Math.log10(v) - lmin) / Math.max(1, lmax - lmin)) * plotH;
    let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">\n<rect width="100%" height="100%" fill="white"/>\n`;
    s += `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">Throughput against batch size (log scale): ours (blue) vs PyTorch (orange)</text>\n`;
    s += `<text x="${width / 2}" y="34" text-anchor="middle" fill="#555">${esc(caption)}; twin attention: images/s through one sub-layer; end-to-end: images/s</text>\n`;
    for (let e = lmin; e <= lmax; e++) s += `<line x1="${left}" x2="${width - 20}" y1="${Y(10 ** e)}" y2="${Y(10 ** e)}" stroke="#ddd"/><text x="${left - 6}" y="${Y(10 ** e) + 4}" text-anchor="end">${10 ** e}</text>\n`;
    cells.forEach((c, i) => {
      const x = left + i * colW;
      const bw = colW * 0.35;
      const base = top + plotH;
      s += `<rect x="${x + colW * 0.12}" y="${Y(c.ours)}" width="${bw}" height="${base - Y(c.ours)}" fill="#4e79a7"/>`;
      if (c.torch) s += `<rect x="${x + colW * 0.12 + bw}" y="${Y(c.torch)}" width="${bw}" height="${base - Y(c.torch)}" fill="#f28e2b"/>`;
      s += `<text x="${x + colW / 2}" y="${base + 14}" text-anchor="middle">B=${c.B}</text>`;
      s += `<text x="${x + colW / 2}" y="${Y(c.ours) - 3}" text-anchor="middle" font-size="9">${c.ours.toPrecision(3)}</text>\n`;
    });
    let i0 = 0;
    for (const g of groups) {
      const x = left + (i0 + g.pts.length / 2) * colW;
      s += `<text x="${x}" y="${top + plotH + 30}" text-anchor="middle" font-weight="bold">${esc(g.name)}</text>\n`;
      i0 += g.pts.length;
    }
    s += '</svg>\n';
    const f = path.join(outDir, `throughput-batch-${suite.device}.svg`);
    writeFileSync(f, s);
    console.log(`wrote ${path.relative(root, f)} (${cells.length} bars)`);
  }
}

// ---- 3. the markdown tables RESULTS.md and the README quote (per case, and per kernel)
{
  const f2 = (v, d = 2) => (v === undefined || v === null || Number.isNaN(v) ? '-' : v.toFixed(d));
  const ms = (v) => (v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  let md = `Results of \`${path.relative(root, file)}\`: ${caption}.\n\n`;
  md += '| kernel | cases | ratio to PyTorch: geomean | min | max | all cases ahead |\n|---|---|---|---|---|---|\n';
  for (const [k, v] of Object.entries(suite.summary ?? {})) md += `| ${k} | ${v.cases} | ${f2(v.geomeanSpeedup)}× | ${f2(v.minSpeedup)}× | ${f2(v.maxSpeedup)}× | ${v.minSpeedup > 1 ? 'yes' : `no (${v.casesBehind.length} behind)`} |\n`;
  md += '\n| benchmark | case | reps | ours ms median [min–max] | PyTorch ms median [min–max] | ratio | ours / PyTorch peak RSS MiB |\n|---|---|---|---|---|---|---|\n';
  for (const [bench, e] of Object.entries(suite.benches)) {
    if (!e.result) {
      md += `| ${bench} | ${esc(e.error ?? 'no result')} | | | | | |\n`;
      continue;
    }
    for (const r of e.result.rows ?? []) {
      const os_ = r.oursSpread ?? { min: r.oursMinMs, max: undefined };
      const ts = r.torchSpread ?? { min: r.torchMinMs, max: undefined };
      md += `| ${bench} | ${r.name} | ${r.reps} | ${ms(r.oursMs)} [${ms(os_.min)}–${ms(os_.max)}] | ${ms(r.torchMs)} [${ms(ts.min)}–${ms(ts.max)}] | ${f2(r.speedup)}× | ${r.oursMaxRssMiB ?? '-'} / ${r.torchMaxRssMiB ?? '-'} |\n`;
    }
  }
  const e2e = suite.benches.e2e?.result?.rows ?? [];
  if (e2e.length) {
    md += '\n| end-to-end | ours ms | PyTorch ms | ratio | candidates (ours / ref) | Matrix NMS input (ours / ref) | instances | our stages, ms (first run, profiled) |\n|---|---|---|---|---|---|---|---|\n';
    for (const r of e2e)
      md += `| ${r.preset} ${suite.benches.e2e.result.image?.width}×${suite.benches.e2e.result.image?.height} | ${ms(r.oursMs)} | ${ms(r.torchMs)} | ${f2(r.speedup)}× | ${r.candidates} / ${r.torchCandidates ?? '-'} | ${r.nmsInput} / ${r.torchNmsInput ?? '-'} | ${r.instances} / ${r.torchInstances ?? '-'} | ${Object.entries(r.oursProfileMs ?? {}).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')} |\n`;
  }
  const f = path.join(outDir, `results-table-${suite.device}.md`);
  writeFileSync(f, md);
  console.log(`wrote ${path.relative(root, f)}`);
}
