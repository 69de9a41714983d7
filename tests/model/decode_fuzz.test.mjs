// Damaged images: every decoding fixture (PNG 1/8/16-bit, palette, grey+alpha, CMYK TIFF and JPEG, EXIF-rotated
// JPEGs) and the example photos, each mutated many times (bytes flipped, the file cut short, garbage inserted, a
// stretch repeated), through decodeImage and, for some, a tiny model's whole predict. Each must give an image of a
// sane size or reject with ImageDecodeError: never a crash, a hang, or another kind of error. Seeded.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sotr, decodeImage, ImageDecodeError } from '../../dist/index.js';
import { fixturePath } from './helpers.mjs';
import { seededRandom } from '../helpers/fuzz.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const files = [
  ...['dec_bilevel.png', 'dec_cmyk.tif', 'dec_cmyk_exif6.jpg', 'dec_exif6.jpg', 'dec_grey16.png', 'dec_la.png',
    'dec_pal_trns.png', 'dec_rgb16.png', 'img_pal.png', 'img_ratio3.png'].map((f) => fixturePath(f)),
  ...['grey.jpg', 'portrait.png', 'street.jpg'].map((f) => path.join(root, 'examples', 'images', f)),
];
const MUTANTS = Number(process.env.SOTR_FUZZ_CALLS || 60); // a file

const { r01, int, state } = seededRandom(7);

function mutate(src) {
  let b = Buffer.from(src);
  for (let m = int(1, 3); m > 0; m--) {
    const r = r01();
    // Most changes after the first 8 bytes, so that the format is still recognised and its decoder reached.
    const at = b.length > 9 && r01() < 0.9 ? int(8, b.length - 1) : int(0, b.length - 1);
    if (r < 0.5) for (let k = int(1, 8); k > 0; k--) b[Math.min(b.length - 1, at + int(0, 16))] ^= 1 << int(0, 7);
    else if (r < 0.7) b = b.subarray(0, at);
    else if (r < 0.85) b = Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: int(1, 64) }, () => int(0, 255))), b.subarray(at)]);
    else b = Buffer.concat([b.subarray(0, at), b.subarray(Math.max(0, at - int(1, 200)), at), b.subarray(at)]);
  }
  return b;
}

const model = await Sotr.load(fixturePath('tiny_sotr.pth'), { device: 'cpu', onWarning: () => {}, minSize: 48, maxSize: 96 });

for (const file of files) {
  test(`damaged copies of ${path.basename(file)} decode or fail with ImageDecodeError`, async () => {
    const src = readFileSync(file);
    let decoded = 0;
    for (let k = 0; k < MUTANTS; k++) {
      const callSeed = state();
      const bytes = mutate(src);
      try {
        // A bound on the pixels, as a service would set: a flipped size field must not make a huge image.
        const img = await decodeImage(bytes, { limitInputPixels: 4_000_000 });
        assert.ok(img.width > 0 && img.height > 0 && img.width * img.height <= 4_000_000, `seed ${callSeed}: ${img.width}x${img.height}`);
        decoded++;
        if (k % 10 === 0) {
          const r = await model.predict(bytes);
          assert.ok(Array.isArray(r.instances), `seed ${callSeed}: predict`);
        }
      } catch (e) {
        if (!(e instanceof ImageDecodeError)) assert.unreachable(`${path.basename(file)} seed ${callSeed}: ${e?.constructor?.name}: ${e?.message}`);
      }
    }
    if (process.env.SOTR_FUZZ_STATS) console.log(`\n${path.basename(file)}: ${decoded} of ${MUTANTS} damaged copies decoded`);
  });
}

test.after(() => model.dispose());
test.run();
