// Segments images and writes, per image, what downstream tools usually want: an overlay picture, a COCO results
// file (RLE, what COCO's evaluation reads) and a GeoJSON-like file of polygons (outer borders with their holes,
// simplified as OpenCV's approxPolyDP with a 1-pixel tolerance). predictEach runs the images in order, the next one
// decoding while this one runs; an image that cannot be read is reported and the others go on (exit code 2).
//
//   node examples/segment-and-export.mjs <checkpoint.pth|tiny> <out-dir> <image> [image ...]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Sotr, writeRandomSotrCheckpoint, renderPrediction, toCocoResults, approxPolygon } from 'sotr-node';

const [source, outDir, ...images] = process.argv.slice(2);
if (!source || !outDir || images.length === 0) {
  console.error('usage: node examples/segment-and-export.mjs <checkpoint.pth|tiny> <out-dir> <image> [image ...]');
  process.exit(2);
}
let checkpoint = source;
if (source === 'tiny') {
  checkpoint = path.join(os.tmpdir(), 'sotr-example-tiny.safetensors');
  await writeRandomSotrCheckpoint(checkpoint, { preset: 'tiny', seed: 1 });
}
fs.mkdirSync(outDir, { recursive: true });
const model = await Sotr.load(checkpoint, { device: 'auto' });
try {
  const coco = [];
  // Contours with holes (mode 'ccomp'), traced natively with the prediction.
  for await (const { index: k, image: file, prediction: result, error } of model.predictEach(images, { contours: { mode: 'ccomp' } })) {
    if (error) {
      console.error(`${file}: ${error.message}`);
      process.exitCode = 2;
      continue;
    }
    const stem = path.basename(file, path.extname(file));
    await fs.promises.writeFile(path.join(outDir, `${stem}.overlay.jpg`), await renderPrediction(file, result, { format: 'jpeg', minScore: 0.3 }));
    coco.push(...toCocoResults(result, k + 1));
    // One polygon feature per outer border, its holes as inner rings (rings closed, as GeoJSON wants them).
    const ring = (pts) => {
      const p = approxPolygon(pts, 1);
      const xy = [];
      for (let i = 0; i < p.length; i += 2) xy.push([p[i], p[i + 1]]);
      return xy.length ? [...xy, xy[0]] : xy;
    };
    const features = [];
    for (const inst of result.instances) {
      inst.contours.forEach((c, idx) => {
        if (c.hole) return;
        const holes = inst.contours.filter((h) => h.parent === idx).map((h) => ring(h.points));
        const outer = ring(c.points);
        if (outer.length >= 4) {
          features.push({ type: 'Feature', properties: { class: inst.category, score: inst.score }, geometry: { type: 'Polygon', coordinates: [outer, ...holes.filter((h) => h.length >= 4)] } });
        }
      });
    }
    await fs.promises.writeFile(path.join(outDir, `${stem}.polygons.json`), JSON.stringify({ type: 'FeatureCollection', features }));
    console.log(`${file}: ${result.instances.length} instances, ${features.length} polygons`);
  }
  await fs.promises.writeFile(path.join(outDir, 'coco-results.json'), JSON.stringify(coco));
} finally {
  await model.dispose();
}
