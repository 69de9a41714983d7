// The recorded run of console.md: the first prediction against the second, and the ops (by shape) that differ most.
//   node benchmarks/results/cpu-session14-2026-11-27/first_prediction.mjs <checkpoint>   (from the repository root)
import { Sotr, startOpProfile, stopOpProfile } from '../../../dist/index.mjs';
const m = await Sotr.load(process.argv[2], { device: 'cpu' });
const img = 'examples/images/street.jpg';
const profs = [];
for (let i = 0; i < 2; i++) {
  startOpProfile({ byShape: true });
  const t = performance.now();
  const r = await m.predict(img, { profile: true });
  const p = stopOpProfile();
  console.log(i, (performance.now() - t).toFixed(0), JSON.stringify(Object.fromEntries(Object.entries(r.profile).map(([k, v]) => [k, Math.round(v)]))));
  profs.push(p);
}
const m2 = new Map(profs[1].ops.map((o) => [o.op + '|' + o.shape, o]));
const rows = profs[0].ops.map((o) => [o.op + '|' + o.shape, o.totalMs - (m2.get(o.op + '|' + o.shape)?.totalMs ?? 0), o.calls]).sort((a, b) => b[1] - a[1]).slice(0, 15);
for (const [k, d, c] of rows) console.log(d.toFixed(1).padStart(8), c, k.slice(0, 110));
await m.dispose();
