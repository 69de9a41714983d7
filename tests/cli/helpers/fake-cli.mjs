// Runs the `sotr` command in this process with a stand-in model, so the pipeline (inputs, decoding, journal,
// resume, COCO, overlays, signals, exit codes) is tested whatever state the real model is in.
//   node tests/cli/helpers/fake-cli.mjs predict --model fake ...
// The stand-in finds two "instances" per image: the dark pixels and the centre rectangle. FAKE_DELAY_MS slows
// each model call down (for the interrupt tests), FAKE_LOAD_MS the load (FAKE_CACHE_PARTIAL=1: writing a model into
// the cache meanwhile); --classes knows three names (any label).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { main } from '../../../dist/cli/main.js';

const delay = Number(process.env.FAKE_DELAY_MS || 0);
const loadDelay = Number(process.env.FAKE_LOAD_MS || 0);

/** COCO compressed RLE of a row-major 0/1 mask (column-major runs, zeros first). */
export function rle(mask, h, w) {
  const runs = [];
  let cur = 0;
  let n = 0;
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      const v = mask[y * w + x];
      if (v !== cur) {
        runs.push(n);
        n = 0;
        cur = v;
      }
      n++;
    }
  }
  runs.push(n);
  let s = '';
  for (let i = 0; i < runs.length; i++) {
    let x = runs[i];
    if (i > 2) x -= runs[i - 2];
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x >>= 5;
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  }
  return s;
}

function instancesOf(im) {
  const { width: w, height: h, data } = im;
  const dark = new Uint8Array(w * h);
  let mean = 0;
  for (let i = 0; i < w * h; i++) mean += data[3 * i] + data[3 * i + 1] + data[3 * i + 2];
  mean /= w * h;
  for (let i = 0; i < w * h; i++) dark[i] = data[3 * i] + data[3 * i + 1] + data[3 * i + 2] < mean ? 1 : 0;
  const centre = new Uint8Array(w * h);
  for (let y = Math.floor(h / 4); y < Math.floor((3 * h) / 4); y++) for (let x = Math.floor(w / 4); x < Math.floor((3 * w) / 4); x++) centre[y * w + x] = 1;
  return [
    { label: 0, score: 0.9, mask: dark },
    { label: 2, score: 0.4, mask: centre },
  ];
}

function box(mask, h, w) {
  let x0 = w, y0 = h, x1 = -1, y1 = -1, area = 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (mask[y * w + x]) {
        area++;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
  return { area, bbox: area ? [x0, y0, x1 - x0 + 1, y1 - y0 + 1] : [0, 0, 0, 0] };
}

const fakeSegmenter = async (o) => {
  if (o.model !== 'fake') throw Object.assign(new Error(`fake model only, received ${o.model}`), { code: 'SOTR_CHECKPOINT_FORMAT' });
  // FAKE_CACHE_PARTIAL=1: the load writes a model into the cache as `--model tiny` does (a temporary renamed into
  // place once complete), slowly.
  const partial = process.env.FAKE_CACHE_PARTIAL === '1' ? path.join(o.cacheDir, `fake.safetensors.partial-${process.pid}-t1`) : null;
  if (partial) {
    mkdirSync(o.cacheDir, { recursive: true });
    writeFileSync(partial, 'half a model');
  }
  if (loadDelay) await new Promise((r) => setTimeout(r, loadDelay));
  if (partial) renameSync(partial, path.join(o.cacheDir, 'fake.safetensors'));
  const bad = (o.classes ?? []).filter((c) => typeof c === 'string' && !['person', 'bicycle', 'car'].includes(c));
  if (bad.length) throw Object.assign(new Error(`classes: no class ${bad.join(', ')}`), { code: 'SOTR_CONFIG' });
  return {
    device: 'cpu',
    description: 'fake model (2 instances an image)',
    defaultMinSize: 800, // its "checkpoint default"
    async predict(images) {
      if (delay) await new Promise((r) => setTimeout(r, delay));
      return images.map(instancesOf);
    },
    encode(pred, im) {
      const names = ['person', 'bicycle', 'car'];
      return pred.map((p) => ({
        label: p.label,
        class: names[p.label],
        category_id: p.label + 1,
        score: p.score,
        ...box(p.mask, im.height, im.width),
        segmentation: { size: [im.height, im.width], counts: rle(p.mask, im.height, im.width) },
      }));
    },
    discard() {},
    profile: () => ({ fake: 1 }),
    dispose() {},
  };
};

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2), { segmenter: fakeSegmenter });
}
