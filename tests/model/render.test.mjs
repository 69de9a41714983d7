// renderPrediction: the overlay API (and, through the same renderOverlay, the CLI's --viz). One instance drawn
// without box and label: its mask's pixels are the image blended with the instance colour, every other pixel is the
// image unchanged; raw BGR input draws the same image; bad arguments are typed errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import { Sotr, renderPrediction, instanceColour, decodeImage, SotrRangeError, SotrTypeError } from '../../dist/index.js';
import { fixturePath, rejects } from './helpers.mjs';
import { baseImage, renderOverlay } from '../../dist/render.js';

const sharp = createRequire(import.meta.url)('sharp');
const img = fixturePath('img_land.png');
let model;
let pred;

test.before(async () => {
  model = await Sotr.load(fixturePath('tiny_sotr.pth'), { onWarning: () => {}, minSize: 160, maxSize: 300, device: 'cpu' });
  pred = await model.predict(img);
});
test.after(async () => {
  await model.dispose();
});

async function rgbOf(png) {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  return { data, info };
}

test('one instance, no box or label: its mask tinted, every other pixel unchanged', async () => {
  const top = pred.instances[0];
  assert.ok(top.mask.area > 0);
  const png = await renderPrediction(img, [top], { boxes: false, labels: false, maskOpacity: 0.5 });
  const { data, info } = await rgbOf(png);
  const { bgr, width, height } = await decodeImage(img);
  assert.equal([info.width, info.height, info.channels], [width, height, 3]);
  const [r, g, b] = instanceColour(0);
  const a = Math.round(255 * 0.5) / 255;
  let inside = 0;
  let bad = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const base = [bgr[i * 3 + 2], bgr[i * 3 + 1], bgr[i * 3]];
      const got = [data[i * 3], data[i * 3 + 1], data[i * 3 + 2]];
      const want = top.mask.get(x, y) ? base.map((v, c) => [r, g, b][c] * a + v * (1 - a)) : base;
      if (top.mask.get(x, y)) inside++;
      if (got.some((v, c) => Math.abs(v - want[c]) > 1)) bad++;
    }
  }
  assert.is(inside, top.mask.area);
  assert.is(bad, 0, `${bad} pixels differ from the expected blend`);
});

test('raw BGR pixels render like the file; boxes and labels drawn by default; JPEG and WebP', async () => {
  const { bgr, width, height } = await decodeImage(img);
  const a = await renderPrediction(img, pred);
  const b = await renderPrediction({ data: bgr, width, height, channels: 3, format: 'bgr' }, pred);
  assert.ok(Buffer.compare(a, b) === 0, 'same PNG from the path and from raw BGR');
  const plain = await renderPrediction(img, pred, { boxes: false, labels: false });
  assert.ok(Buffer.compare(a, plain) !== 0, 'boxes and labels change the image');
  for (const format of ['jpeg', 'webp']) {
    const meta = await sharp(await renderPrediction(img, pred, { format, quality: 70 })).metadata();
    assert.equal([meta.format, meta.width, meta.height], [format, width, height]);
  }
  const none = await renderPrediction(img, pred, { minScore: 2 });
  const { data } = await rgbOf(none);
  let diff = 0;
  for (let i = 0; i < width * height; i++) if (data[i * 3] !== bgr[i * 3 + 2]) diff++;
  assert.is(diff, 0, 'minScore above every score draws nothing');
});

test("the CLI's painter (RLE strings) and the API's (mask bits) give the same overlay", async () => {
  const base = await baseImage(img);
  const top = pred.instances.slice(0, 3);
  const items = (useRle) =>
    top.map((inst, k) => ({
      label: inst.category,
      score: inst.score,
      bbox: [inst.box[0], inst.box[1], inst.box[2] - inst.box[0], inst.box[3] - inst.box[1]],
      color: instanceColour(k),
      ...(useRle ? { counts: inst.mask.toRLE() } : { mask: inst.mask }),
    }));
  const raw = async (useRle) => (await renderOverlay(base, items(useRle))).raw().toBuffer();
  const [a, b] = [await raw(false), await raw(true)];
  assert.ok(Buffer.compare(a, b) === 0, 'same pixels from bits and from RLE');
});

test('renderPrediction rejects a different image, bad options and non-predictions', async () => {
  await rejects(() => renderPrediction(fixturePath('img_port.png'), pred), (e) => e instanceof SotrRangeError && /the prediction was made from/.test(e.message));
  await rejects(() => renderPrediction(img, pred, { format: 'gif' }), (e) => e instanceof SotrRangeError && /format/.test(e.message));
  await rejects(() => renderPrediction(img, pred, { quality: 0 }), (e) => e instanceof SotrRangeError);
  await rejects(() => renderPrediction(img, pred, { maskOpacity: 2 }), (e) => e instanceof SotrRangeError);
  await rejects(() => renderPrediction(img, { nothing: true }), (e) => e instanceof SotrTypeError);
  await rejects(() => renderPrediction(img, [{ score: 1 }]), (e) => e instanceof SotrTypeError && /no mask/.test(e.message));
  // Strings are quoted in messages ('80' is not 80), and booleans must be booleans ('no' used to mean true).
  await rejects(() => renderPrediction(img, pred, { quality: '80' }), (e) => (e instanceof SotrRangeError || e instanceof SotrTypeError) && /"80"/.test(e.message));
  await rejects(() => renderPrediction(img, pred, { boxes: 'no' }), (e) => e instanceof SotrTypeError && /boxes/.test(e.message));
  await rejects(() => renderPrediction(img, pred, { labels: 0 }), (e) => e instanceof SotrTypeError && /labels/.test(e.message));
  assert.throws(() => instanceColour(Number.NaN), (e) => e instanceof SotrRangeError || e instanceof SotrTypeError);
});

test.run();
