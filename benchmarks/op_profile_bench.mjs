// The op profiler's cost and an example op table: predictions with and without `profile: 'ops'`,
// interleaved (A B A B ...), medians; then the op table of one profiled prediction. Reports; never fails.
//   node benchmarks/op_profile_bench.mjs [--preset tiny|r50-tiny|r50|r101] [--size 800] [--reps 15]
//        [--device cpu] [--precision fp32|tf32|bf16|fp16] [--top 15] [--by-shape] [--json out.json]
// The preset 'tiny' uses the test fixture tests/fixtures/model/tiny_sotr.pth (short side 40..400 like the tests);
// the others write a random checkpoint (ts/model/random_model.ts) into the OS temp folder once.
import { writeFileSync } from 'node:fs';
import { benchCheckpoint } from './harness.mjs';

const argv = process.argv.slice(2);
const opt = (k, d) => {
  const i = argv.indexOf(k);
  return i >= 0 ? argv[i + 1] : d;
};
const preset = opt('--preset', 'tiny');
const size = Number(opt('--size', preset === 'tiny' ? '200' : '800'));
const reps = Number(opt('--reps', '15'));
const device = opt('--device', 'cpu');
const precision = opt('--precision', 'fp32');
const top = Number(opt('--top', '15'));
const byShape = argv.includes('--by-shape');
const { Sotr, startOpProfile, stopOpProfile, formatOpProfile, summarizeOpProfile, backendInfo } = await import(
  '../dist/index.js'
);

const { ck, load } = await benchCheckpoint(preset, size);
const model = await Sotr.load(ck, { device, precision, onWarning: () => {}, ...load });
// A deterministic BGR image, size x round(size * 4/3).
const H = size;
const W = Math.round((size * 4) / 3);
const data = new Uint8Array(H * W * 3);
for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
const raw = { data, width: W, height: H, channels: 3, format: 'bgr' };

await model.predict(raw);
await model.predict(raw, { profile: 'ops' });
const off = [];
const on = [];
for (let i = 0; i < reps; i++) {
  let t = performance.now();
  await model.predict(raw);
  off.push(performance.now() - t);
  t = performance.now();
  await model.predict(raw, { profile: 'ops' });
  on.push(performance.now() - t);
}
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const mOff = median(off);
const mOn = median(on);
startOpProfile({ byShape });
const r = await model.predict(raw);
const p = stopOpProfile();
const threads = backendInfo().cpu.threads;
console.log(
  `${preset} ${W}x${H} on ${model.device} (${threads} CPU threads), ${reps} interleaved reps: ` +
    `unprofiled median ${mOff.toFixed(2)} ms, profile 'ops' median ${mOn.toFixed(2)} ms ` +
    `(${(((mOn - mOff) / mOff) * 100).toFixed(2)}%, ${(((mOn - mOff) * 1000) / p.calls).toFixed(2)} us per op over ${p.calls} ops); ` +
    `${r.instances.length} instances`,
);
console.log(formatOpProfile(p, { top }));
const json = opt('--json');
if (json) {
  writeFileSync(
    json,
    JSON.stringify({ preset, width: W, height: H, device: model.device, threads, reps, offMs: off, onMs: on, medianOffMs: mOff, medianOnMs: mOn, opProfile: summarizeOpProfile(p, top) }, null, 1),
  );
}
await model.dispose();
