// The library against the official code directly (outside CI; not a *.test.mjs): the instances that
// tests/reference/check_official_code.py --predict wrote for some images, against this library's predictions of the
// same files with the same checkpoint and test size (each side decodes the files itself: Pillow there, sharp here).
//   node tests/model/official_compare.mjs official.json CHECKPOINT IMAGE... [--device cpu] [--score-rel 1e-4]
// Matched one to one by label, score (relative) and mask IoU (>= 0.99 for masks of 20 pixels or more). Exit 0 when
// every official instance is matched and the counts agree.
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { Sotr } from '../../dist/index.js';
import { segmentationToRle, rleIou, rleArea } from '../../dist/masks/coco_mask.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : dflt;
};
const device = opt('--device', 'cpu');
const scoreRel = Number(opt('--score-rel', '1e-4'));
const [officialFile, checkpoint, ...images] = args;
const official = JSON.parse(readFileSync(officialFile, 'utf8'));
const model = await Sotr.load(checkpoint, { device, minSize: official.min_size, maxSize: official.max_size, onWarning: () => {} });
let allOk = true;
for (const file of images) {
  const off = official.images[path.basename(file)];
  if (!off) throw new Error(`${file}: not in ${officialFile}`);
  const t0 = performance.now();
  const r = await model.predict(file);
  const ms = performance.now() - t0;
  const size = [off.height, off.width];
  const ours = r.instances.map((i) => ({ label: i.label, score: i.score, rle: segmentationToRle(i.mask.toCocoRLE(), r.height, r.width) }));
  const used = new Set();
  let matched = 0;
  let worstIoU = 1;
  let worstRel = 0;
  const unmatched = [];
  for (const [k, o] of off.instances.entries()) {
    const rle = segmentationToRle({ size, counts: o.counts }, off.height, off.width);
    const area = rleArea(rle);
    let best = -1;
    let bestIoU = -1;
    for (const [j, m] of ours.entries()) {
      if (used.has(j) || m.label !== o.label || Math.abs(m.score - o.score) > scoreRel * Math.abs(o.score)) continue;
      const v = area === 0 && rleArea(m.rle) === 0 ? 1 : rleIou([m.rle], [rle], [false])[0];
      if (v > bestIoU) {
        bestIoU = v;
        best = j;
      }
    }
    if (best < 0 || (area >= 20 && bestIoU < 0.99)) {
      unmatched.push({ index: k, label: o.label, score: o.score, bestIoU });
      continue;
    }
    used.add(best);
    matched++;
    if (area >= 20) worstIoU = Math.min(worstIoU, bestIoU);
    worstRel = Math.max(worstRel, Math.abs(ours[best].score - o.score) / Math.abs(o.score));
  }
  const ok = matched === off.instances.length && ours.length === off.instances.length && r.width === off.width && r.height === off.height;
  allOk &&= ok;
  console.log(
    `${path.basename(file)} ${off.width}x${off.height}: official ${off.instances.length}, ours ${ours.length}, matched ${matched}, worst IoU ` +
      `${worstIoU.toFixed(4)}, worst score rel ${worstRel.toExponential(1)}; ours ${ms.toFixed(0)} ms, official ${(off.seconds * 1000).toFixed(0)} ms ` +
      `-> ${ok ? 'OK' : 'DIFFERS'}${unmatched.length ? ` unmatched: ${JSON.stringify(unmatched.slice(0, 5))}` : ''}`,
  );
}
await model.dispose();
process.exit(allOk ? 0 : 1);
