// Cuts the people (or other classes) out of a photo: a PNG of the photo with everything else transparent. The model
// runs as if it had only those classes (`classes`), and labelMap paints the instances kept into one map.
//
//   node examples/cutout.mjs <checkpoint.pth|tiny> <image> <out.png> [class ...]     (default: person)
//   MIN_SCORE=0.3 (default): instances scoring less are left out of the cut-out
// The photo is decoded once, by the library's own decoder (what the model sees: EXIF orientation, Pillow's
// conversions); the PNG is written with sharp, which npm installs with sotr-node (its image decoder).
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { Sotr, writeRandomSotrCheckpoint, labelMap, decodeImage } from 'sotr-node';

const [source, image, out, ...names] = process.argv.slice(2);
if (!source || !image || !out) {
  console.error('usage: node examples/cutout.mjs <checkpoint.pth|tiny> <image> <out.png> [class ...]');
  process.exit(2);
}
const classes = names.length ? names : ['person'];
const minScore = Number(process.env.MIN_SCORE ?? 0.3);
let checkpoint = source;
if (source === 'tiny') {
  checkpoint = path.join(os.tmpdir(), 'sotr-example-tiny.safetensors');
  await writeRandomSotrCheckpoint(checkpoint, { preset: 'tiny', seed: 1 });
}
const model = await Sotr.load(checkpoint, { device: 'auto', classes });
try {
  const { bgr, width, height } = await decodeImage(image);
  const result = await model.predict({ data: bgr, width, height, channels: 3, format: 'bgr' });
  const kept = result.instances.filter((i) => i.score >= minScore);
  const map = await labelMap({ ...result, instances: kept }, { by: 'label' });
  // RGBA: the photo's colours, the map as the alpha channel.
  const rgba = Buffer.alloc(width * height * 4);
  for (let p = 0; p < map.data.length; p++) {
    rgba[4 * p] = bgr[3 * p + 2];
    rgba[4 * p + 1] = bgr[3 * p + 1];
    rgba[4 * p + 2] = bgr[3 * p];
    rgba[4 * p + 3] = map.data[p] ? 255 : 0;
  }
  await sharp(rgba, { raw: { width, height, channels: 4 } }).png().toFile(out);
  const count = new Map();
  for (const i of kept) count.set(i.category, (count.get(i.category) ?? 0) + 1);
  const found = [...count].map(([c, n]) => `${n} ${c}`).join(', ') || `no ${classes.join(' / ')} scoring ${minScore} or more`;
  console.log(`${image}: ${found} -> ${out}`);
} finally {
  await model.dispose();
}
