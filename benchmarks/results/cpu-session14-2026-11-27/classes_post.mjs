// The recorded run of console.md: all classes against classes: ['person'], interleaved, post-processing time.
//   node benchmarks/results/cpu-session14-2026-11-27/classes_post.mjs <checkpoint>   (from the repository root)
import { Sotr } from '../../../dist/index.mjs';
const m = await Sotr.load(process.argv[2], { device: 'cpu' });
await m.warmup();
const img = 'examples/images/street.jpg';
const res = { all: [], person: [] };
for (let i = 0; i < 3; i++) {
  for (const [k, o] of [['all', {}], ['person', { classes: ['person'] }]]) {
    const t = performance.now();
    const r = await m.predict(img, { ...o, profile: true, intermediates: false });
    res[k].push([performance.now() - t, r.profile.postprocess, r.instances.length]);
  }
}
for (const [k, v] of Object.entries(res)) console.log(k, v.map(([t, p, n]) => `${t.toFixed(0)} ms (post ${p.toFixed(0)}, ${n} inst)`).join('; '));
await m.dispose();
