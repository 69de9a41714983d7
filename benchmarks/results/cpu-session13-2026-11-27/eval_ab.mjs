// A/B: the old and the new evaluateCoco on the same synthetic val2017-like set, alternating: equal outputs, time, worst stall.
const N = Number(process.argv[2] || 1000);
const oldM = await import('/tmp/s13/dist-old/eval/coco_eval.js');
const newM = await import('/tmp/s13/dist-new/eval/coco_eval.js');
const { rleFromPolygon, rleArea, rleToBox } = await import('/tmp/s13/dist-new/masks/coco_mask.js');
const { encodeRleCounts } = await import('/tmp/s13/dist-new/index.js');
async function stall(fn) {
  let last = performance.now(); let worst = 0;
  const iv = setInterval(() => { const t = performance.now(); worst = Math.max(worst, t - last); last = t; }, 2);
  const t0 = performance.now(); const out = await fn(); const ms = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 5)); clearInterval(iv);
  return { out, ms, stallMs: worst };
}
let seed = 3;
const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
const star = (cx, cy, r, n) => { const a = Array.from({ length: n }, () => rnd() * 2 * Math.PI).sort((x, y) => x - y); return a.flatMap((t) => { const rr = r * (0.4 + 0.6 * rnd()); return [+(cx + rr * Math.cos(t)).toFixed(2), +(cy + rr * Math.sin(t)).toFixed(2)]; }); };
const [EH, EW] = [480, 640];
const images = [], annotations = [], results = [];
for (let i = 0; i < N; i++) {
  images.push({ id: i + 1, height: EH, width: EW });
  const objs = [];
  for (let j = 0; j < 7; j++) {
    const poly = star(rnd() * EW, rnd() * EH, 10 + rnd() * 150, 12);
    const r = rleFromPolygon(poly, EH, EW);
    const cat = 1 + Math.floor(rnd() * 80);
    annotations.push({ id: annotations.length + 1, image_id: i + 1, category_id: cat, segmentation: [poly], area: rleArea(r), bbox: rleToBox(r), iscrowd: j === 6 && i % 5 === 0 ? 1 : 0 });
    objs.push([poly, cat]);
  }
  for (let k = 0; k < 100; k++) {
    const [poly, cat] = objs[k % 7];
    const r = rleFromPolygon(poly.map((v) => v + (rnd() - 0.5) * 20), EH, EW);
    results.push({ image_id: i + 1, category_id: k < 14 ? cat : 1 + Math.floor(rnd() * 80), score: Math.round(rnd() * 50) / 50, segmentation: { size: [EH, EW], counts: encodeRleCounts(r.counts) }, bbox: rleToBox(r) });
  }
}
// An annotation with id 0 (pycocotools' quirk: a match to it counts as no match).
annotations[3].id = 0;
const gt = { images, annotations, categories: Array.from({ length: 80 }, (_, i) => ({ id: i + 1 })) };
for (const iouType of ['segm', 'bbox']) {
  for (let rep = 0; rep < 2; rep++) {
    const a = await stall(() => oldM.evaluateCoco(gt, results, iouType));
    const b = await stall(() => newM.evaluateCoco(gt, results, iouType));
    const same = JSON.stringify(a.out) === JSON.stringify(b.out);
    console.log(`${iouType} rep ${rep}: old ${a.ms.toFixed(0)} ms (stall ${a.stallMs.toFixed(0)}), new ${b.ms.toFixed(0)} ms (stall ${b.stallMs.toFixed(0)}), outputs equal: ${same}, AP ${b.out.stats[0].toFixed(4)}`);
  }
}
