// A synthetic COCO val2017-like set for the evaluation benchmarks (host_outputs_bench.mjs and the results/ scripts
// that time evaluateCoco): 640x480 images, 7 star-polygon objects an image in 80 categories, 100 results an image
// (the objects perturbed, and other classes past the 14th). Seeded: the same set on every run and machine.
// Options, the cases the evaluation A/B runs added: `ties` rounds scores to 1/50 (equal scores), `crowds` makes one
// object of every fifth image a crowd, `zeroId` gives one annotation the id 0 (pycocotools tests matches against 0).
// `lib`: rleFromPolygon, rleArea, rleToBox and encodeRleCounts from the dist/ under test.

export function syntheticCocoSet(nImages, lib, { ties = false, crowds = false, zeroId = false } = {}) {
  const { rleFromPolygon, rleArea, rleToBox, encodeRleCounts } = lib;
  let seed = 3;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const star = (cx, cy, r, n) => {
    const a = Array.from({ length: n }, () => rnd() * 2 * Math.PI).sort((x, y) => x - y);
    return a.flatMap((t) => {
      const rr = r * (0.4 + 0.6 * rnd());
      return [+(cx + rr * Math.cos(t)).toFixed(2), +(cy + rr * Math.sin(t)).toFixed(2)];
    });
  };
  const [H, W] = [480, 640];
  const images = [];
  const annotations = [];
  const results = [];
  for (let i = 0; i < nImages; i++) {
    images.push({ id: i + 1, height: H, width: W });
    const objs = [];
    for (let j = 0; j < 7; j++) {
      const poly = star(rnd() * W, rnd() * H, 10 + rnd() * 150, 12);
      const r = rleFromPolygon(poly, H, W);
      const cat = 1 + Math.floor(rnd() * 80);
      const iscrowd = crowds && j === 6 && i % 5 === 0 ? 1 : 0;
      annotations.push({ id: annotations.length + 1, image_id: i + 1, category_id: cat, segmentation: [poly], area: rleArea(r), bbox: rleToBox(r), iscrowd });
      objs.push([poly, cat]);
    }
    for (let k = 0; k < 100; k++) {
      const [poly, cat] = objs[k % 7];
      const r = rleFromPolygon(poly.map((v) => v + (rnd() - 0.5) * 20), H, W);
      const category_id = k < 14 ? cat : 1 + Math.floor(rnd() * 80);
      const score = ties ? Math.round(rnd() * 50) / 50 : rnd();
      results.push({ image_id: i + 1, category_id, score, segmentation: { size: [H, W], counts: encodeRleCounts(r.counts) }, bbox: rleToBox(r) });
    }
  }
  if (zeroId && annotations.length > 3) annotations[3].id = 0;
  const gt = { images, annotations, categories: Array.from({ length: 80 }, (_, i) => ({ id: i + 1 })) };
  return { gt, results };
}
