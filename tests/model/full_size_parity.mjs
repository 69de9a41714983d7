// Full-size parity run (outside CI; not a *.test.mjs): the model against the reference's golden for a full-width random
// checkpoint written by tests/reference/full_size_reference.py.
//   node tests/model/full_size_parity.mjs <dir> [r50|r101|r101-dcn] [--device cuda] [--precision tf32] [--runs 3]
import path from 'node:path';
import { Sotr, backendInfo } from '../../dist/index.js';
import { loadFixture, matchInstances, stageNmse } from './helpers.mjs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : dflt;
};
const device = opt('--device', 'cpu');
const precision = opt('--precision', 'fp32');
const runs = Number(opt('--runs', '2'));
const [dir, preset = 'r50'] = args;
const golden = loadFixture(path.join(dir, `${preset}_golden.safetensors`));
const meta = Array.from(golden.tensors['full.meta'].data);

const t0 = performance.now();
const model = await Sotr.load(path.join(dir, `${preset}.pth`), { device, precision, onWarning: (w) => console.log('warning:', w) });
const loadMs = performance.now() - t0;
console.log(`${preset}: variant ${model.config.variant}, min size ${model.config.minSize}, device ${model.device}, precision ${precision}, load ${loadMs.toFixed(0)} ms`);
const img = path.join(dir, 'image.png');
const r = await model.predict(img, { intermediates: true, profile: true });
const e = stageNmse(golden, 'full', r.intermediates);
const worst = Object.entries(e).sort((a, b) => b[1] - a[1]);
console.log('NMSE per stage:', Object.entries(e).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', '));
console.log('worst stage:', worst[0][0], worst[0][1].toExponential(2));
const t = r.intermediates.trace;
console.log('counts ours', [t.candidates, t.afterAreaFilter, t.beforeNms, t.afterNms], 'reference', meta.slice(9));
const m = matchInstances(golden, 'full', r.instances);
console.log(`instances: ours ${r.instances.length}, reference ${m.total}, matched ${m.matched}, worst IoU ${m.worstIoU.toFixed(4)}, worst score rel ${m.worstScoreRel.toExponential(2)}`);
if (m.unmatched.length) {
  console.log('unmatched:', JSON.stringify(m.unmatched.slice(0, 10)));
  const loose = matchInstances(golden, 'full', r.instances, { scoreRel: 1e-3 });
  console.log(`with scores to 1e-3 relative: matched ${loose.matched} of ${loose.total}, worst IoU ${loose.worstIoU.toFixed(4)}`);
}
const times = [];
for (let i = 0; i < runs; i++) {
  const q = await model.predict(img, { profile: true });
  times.push(q.profile);
}
const fmt = (p) => Object.entries(p).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ');
for (const p of times) console.log('profile ms:', fmt(p));
console.log(`reference (PyTorch, ${golden.meta.threads} threads): ${(golden.tensors['full.reference_seconds'].data[0] * 1000).toFixed(0)} ms`);
console.log('CPU fallbacks:', model.fallbackOps.join(', ') || 'none', '| threads', backendInfo().cpu.threads);
await model.dispose();
