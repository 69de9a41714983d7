// Pre-processing (the resize itself: tests/ops/pillow_resize.test.mjs): ResizeShortestEdge sizes, decoding as detectron2's
// read_image (Pillow convert('RGB'), EXIF orientation), raw pixels, guards and errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { decodeImage, prepareImage, pillowResize, shortestEdgeSize, Sotr, Tensor, ImageDecodeError, SotrRangeError, SotrTypeError, SOTR_DEFAULTS } from '../../dist/index.js';
import { pathToFileURL } from 'node:url';
import { decodePixels, cmykToRgb } from '../../dist/model/preprocess.js';
import { createRequire } from 'node:module';
import { fixturePath, loadFixture, rejects } from './helpers.mjs';
import { toBgr } from './postprocess_reference.mjs';

test('ResizeShortestEdge sizes follow detectron2 (spec examples)', () => {
  assert.equal(shortestEdgeSize(480, 640, 800, 1333), [800, 1067]);
  assert.equal(shortestEdgeSize(480, 640, 1000, 1333), [1000, 1333]);
  for (const args of [[0, 10, 800, 1333], [-5, 10, 800, 1333], [480, 640, 800, -1], [480, NaN, 800, 1333], [480, 640, '800', 1333]]) {
    assert.throws(() => shortestEdgeSize(...args), (e) => e instanceof SotrRangeError && /shortestEdgeSize: \w+ must be a positive number/.test(e.message), String(args));
  }
  assert.equal(shortestEdgeSize(640, 480, 800, 1333), [1067, 800]);
  assert.equal(shortestEdgeSize(100, 100, 800, 1333), [800, 800]);
  assert.equal(shortestEdgeSize(25, 105, 40, 400), [40, 168]);
  assert.equal(shortestEdgeSize(100, 2000, 800, 1333), [67, 1333]);
});

test('normalisation and padding: BGR minus the mean, zeros to a multiple of 32', async () => {
  const bgr = new Uint8Array([10, 20, 30, 40, 50, 60]);
  const p = await prepareImage({ bgr, width: 2, height: 1 }, { ...SOTR_DEFAULTS, minSize: 1, maxSize: 1333 });
  assert.equal([p.height, p.width, p.paddedHeight, p.paddedWidth], [1, 2, 32, 32]);
  const at = (c, y, x) => p.data[c * 32 * 32 + y * 32 + x];
  assert.ok(Math.abs(at(0, 0, 0) - (10 - 103.53)) < 1e-4);
  assert.ok(Math.abs(at(2, 0, 1) - (60 - 123.675)) < 1e-4);
  assert.is(at(1, 5, 5), 0);
});

const dec = loadFixture(fixturePath('decode_expected.safetensors'));
const decFiles = {
  exif6: 'dec_exif6.jpg',
  rgb16: 'dec_rgb16.png',
  grey16: 'dec_grey16.png',
  la: 'dec_la.png',
  cmyk_exif6: 'dec_cmyk_exif6.jpg',
  cmyk_tif: 'dec_cmyk.tif',
  pal_trns: 'dec_pal_trns.png',
  bilevel: 'dec_bilevel.png',
};

for (const [k, f] of Object.entries(decFiles)) {
  test(`decoding '${f}' gives what Pillow's convert('RGB') gives (after EXIF orientation)`, async () => {
    const d = await decodeImage(fixturePath(f));
    const ref = dec.tensors[`${k}.rgb`];
    assert.equal([d.height, d.width], ref.shape.slice(0, 2));
    let bad = 0;
    for (let i = 0; i < d.width * d.height; i++) {
      for (let c = 0; c < 3; c++) if (d.bgr[i * 3 + 2 - c] !== ref.data[i * 3 + c]) bad++;
    }
    assert.is(bad, 0, `${bad} values differ`);
  });
}

/** A PNG of 16-bit grey + alpha (colour type 4), written here: zlib, CRCs and all. */
function png16GreyAlpha(w, h, grey, alpha) {
  const raw = Buffer.alloc(h * (1 + w * 4));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = y * (1 + w * 4) + 1 + x * 4;
      raw.writeUInt16BE(grey(x, y), o);
      raw.writeUInt16BE(alpha(x, y), o + 2);
    }
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b) => {
    let c = 0xffffffff;
    for (const v of b) c = crcTable[(c ^ v) & 255] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([16, 4, 0, 0, 0], 8); // depth 16, colour type 4 (grey + alpha)
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

test("a 16-bit grey + alpha PNG gives Pillow's high bytes (it opens as RGBA), not values clipped at 255 as 16-bit grey", async () => {
  const grey = (x, y) => (x * 4099 + y * 7919) & 0xffff;
  const d = await decodeImage(png16GreyAlpha(7, 5, grey, () => 0xffff));
  for (let y = 0; y < 5; y++) {
    for (let x = 0; x < 7; x++) {
      const i = (y * 7 + x) * 3;
      assert.equal(Array.from(d.bgr.subarray(i, i + 3)), [grey(x, y) >> 8, grey(x, y) >> 8, grey(x, y) >> 8], `pixel ${x},${y}`);
    }
  }
});

test('a PNG whose EXIF orientation comes after the image data is turned, as Pillow turns it', async () => {
  // Pillow (detectron2's getexif()) reads an eXIf chunk anywhere in a PNG when none precedes the image data (of
  // several after it, the last); sharp looked before the data only, so such a photo came out unrotated. Checked
  // against Pillow 9.4 (2026-11-28): all 8 orientations after the data, big- and little-endian, and the two mixes
  // below, 0 differing pixels; the early case (sharp's own path) was checked against Pillow before.
  const chunk = (type, data) => {
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const c = Buffer.alloc(12 + data.length);
    c.writeUInt32BE(data.length, 0);
    td.copy(c, 4);
    c.writeUInt32BE(crc32(td) >>> 0, 8 + data.length);
    return c;
  };
  const exif = (o, le) => {
    const d = Buffer.alloc(26);
    d.write(le ? 'II*\0' : 'MM\0*', 0, 'latin1');
    const u16 = (v, at) => (le ? d.writeUInt16LE(v, at) : d.writeUInt16BE(v, at));
    const u32 = (v, at) => (le ? d.writeUInt32LE(v, at) : d.writeUInt32BE(v, at));
    u32(8, 4);
    u16(1, 8);
    u16(0x112, 10);
    u16(3, 12);
    u32(1, 14);
    u16(o, 18); // a SHORT value sits in the first two bytes of the field
    return chunk('eXIf', d);
  };
  const w = 33, h = 17;
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let i = 0; i < raw.length; i++) raw[i] = i % (w * 3 + 1) === 0 ? 0 : (i * 7919) % 251;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const png = (before, after) =>
    Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), ...before, chunk('IDAT', deflateSync(raw)), ...after, chunk('IEND', Buffer.alloc(0))]);
  const plain = await decodeImage(png([], []));
  for (let o = 1; o <= 8; o++) {
    const early = await decodeImage(png([exif(o, false)], []));
    assert.equal([early.width, early.height], o >= 5 ? [h, w] : [w, h], `orientation ${o} before the data`);
    if (o > 1) assert.not.equal(early.bgr, plain.bgr, `orientation ${o} changes the pixels`);
    for (const le of [false, true]) {
      const late = await decodeImage(png([], [exif(o, le)]));
      assert.equal([late.width, late.height, late.bgr], [early.width, early.height, early.bgr], `orientation ${o} after the data (${le ? 'II' : 'MM'})`);
    }
  }
  const o3 = await decodeImage(png([exif(3, false)], []));
  const o6 = await decodeImage(png([exif(6, false)], []));
  // One before and one after: the one before. Two after: the last.
  assert.equal((await decodeImage(png([exif(6, false)], [exif(3, false)]))).bgr, o6.bgr);
  assert.equal((await decodeImage(png([], [exif(6, false), exif(3, false)]))).bgr, o3.bgr);
  // A torn chunk after the data: the file as it is (sharp's own verdict), never a throw of ours.
  const torn = Buffer.concat([png([], []).subarray(0, -12), Buffer.from([0, 0, 0, 40]), Buffer.from('eXIf', 'latin1')]);
  await decodeImage(torn).then(() => {}, (e) => assert.ok(e instanceof ImageDecodeError, String(e)));
});

test('an uncompressed TIFF cut short is refused, as Pillow refuses it (it decoded with black rows)', async () => {
  const sharp = createRequire(import.meta.url)('sharp');
  const w = 160, h = 120;
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7919) % 251;
  const tif = await sharp(px, { raw: { width: w, height: h, channels: 3 } }).tiff({ compression: 'none' }).toBuffer();
  const whole = await decodeImage(tif);
  assert.equal([whole.width, whole.height], [w, h]);
  for (const keep of [0.5, 0.9]) {
    await rejects(() => decodeImage(tif.subarray(0, Math.floor(tif.length * keep))), (e) => e instanceof ImageDecodeError && /Read error|truncat|cannot decode/i.test(e.message));
  }
});

test('JPEGs libjpeg only warns about decode, as in Pillow; a file that ends early is still refused', async () => {
  const jpeg = readFileSync(fixturePath('dec_exif6.jpg'));
  const ref = await decodeImage(jpeg);
  // Junk bytes between two segments (libjpeg: "extraneous bytes before marker"): the same image.
  const at = jpeg.indexOf(Buffer.from([0xff, 0xdb]));
  const junk = Buffer.concat([jpeg.subarray(0, at), Buffer.from([0, 0, 0]), jpeg.subarray(at)]);
  assert.equal((await decodeImage(junk)).bgr, ref.bgr);
  // A scan cut short, then its end marker ("premature end of data segment"): decoded, at its size.
  const sos = jpeg.indexOf(Buffer.from([0xff, 0xda]));
  const cut = Buffer.concat([jpeg.subarray(0, sos + Math.floor((jpeg.length - sos) / 2)), Buffer.from([0xff, 0xd9])]);
  const d = await decodeImage(cut);
  assert.equal([d.width, d.height], [ref.width, ref.height]);
  // Without the end marker: truncated, refused (Pillow: "image file is truncated").
  await rejects(() => decodeImage(jpeg.subarray(0, sos + Math.floor((jpeg.length - sos) / 2))), (e) => e instanceof ImageDecodeError);
});

test('raw pixels: rgb and bgr, 1/3/4 channels, give the same image', async () => {
  const w = 3;
  const h = 2;
  const rgb = new Uint8Array(w * h * 3).map((_, i) => (i * 37) % 256);
  const a = await decodeImage({ data: rgb, width: w, height: h, channels: 3 });
  const bgrIn = new Uint8Array(rgb.length);
  for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) bgrIn[i * 3 + c] = rgb[i * 3 + 2 - c];
  const b = await decodeImage({ data: bgrIn, width: w, height: h, channels: 3, format: 'bgr' });
  assert.equal(b.bgr, a.bgr);
  const rgba = new Uint8Array(w * h * 4);
  for (let i = 0; i < w * h; i++) rgba.set([...rgb.subarray(i * 3, i * 3 + 3), 7], i * 4);
  assert.equal((await decodeImage({ data: rgba, width: w, height: h, channels: 4 })).bgr, a.bgr);
  const grey = (await decodeImage({ data: new Uint8Array([5, 6, 7, 8, 9, 10]), width: 3, height: 2, channels: 1 })).bgr;
  assert.equal(Array.from(grey.subarray(0, 6)), [5, 5, 5, 6, 6, 6]);
});

test('encoded buffers, paths and file: URLs decode alike; other URLs are refused by name (nothing fetches)', async () => {
  const buf = readFileSync(fixturePath('img_land.png'));
  const a = await decodeImage(buf);
  const b = await decodeImage(fixturePath('img_land.png'));
  assert.equal(a.bgr, b.bgr);
  const url = pathToFileURL(fixturePath('img_land.png'));
  assert.equal((await decodeImage(url)).bgr, a.bgr);
  assert.equal((await decodeImage(url.href)).bgr, a.bgr);
  for (const u of ['https://example.com/photo.jpg', new URL('http://localhost:8080/x.png'), 'data://x']) {
    await rejects(() => decodeImage(u), (e) => e instanceof SotrTypeError && /URL.*never fetched/.test(e.message), String(u));
  }
});

test('corrupt and truncated images are ImageDecodeError; limitInputPixels guards', async () => {
  await rejects(() => decodeImage(Buffer.from('not an image at all')), (e) => e instanceof ImageDecodeError && e.code === 'SOTR_IMAGE_DECODE');
  const folder = fixturePath('');
  await rejects(() => decodeImage(folder), (e) => e instanceof ImageDecodeError && e.message === `${folder}: is a folder, not an image file`);
  await rejects(() => decodeImage(fixturePath('no-such-image.png')), (e) => e.code === 'ENOENT' && e.message.includes('no-such-image.png'));
  const png = readFileSync(fixturePath('img_down.png'));
  await rejects(() => decodeImage(png.subarray(0, png.length >> 1)), (e) => e instanceof ImageDecodeError);
  await rejects(() => decodeImage(fixturePath('img_down.png'), { limitInputPixels: 1000 }), (e) => e instanceof ImageDecodeError && /limitInputPixels/.test(e.message));
  await rejects(
    () => decodeImage({ data: new Uint8Array(300), width: 10, height: 10, channels: 3 }, { limitInputPixels: 50 }),
    (e) => e instanceof ImageDecodeError,
  );
  await rejects(() => decodeImage({ data: new Uint8Array(5), width: 10, height: 10, channels: 3 }), (e) => e instanceof RangeError);
});

test('limitInputPixels: an image of exactly the limit decodes, one pixel more is refused', async () => {
  const raw = () => ({ data: new Uint8Array(300), width: 10, height: 10, channels: 3 });
  assert.is((await decodeImage(raw(), { limitInputPixels: 100 })).width, 10);
  await rejects(() => decodeImage(raw(), { limitInputPixels: 99 }), (e) => e instanceof ImageDecodeError && /limitInputPixels/.test(e.message));
  const file = fixturePath('img_down.png');
  const { width, height } = await decodeImage(file);
  assert.is((await decodeImage(file, { limitInputPixels: width * height })).width, width);
  await rejects(() => decodeImage(file, { limitInputPixels: width * height - 1 }), (e) => e instanceof ImageDecodeError && /limitInputPixels/.test(e.message));
});

test('a device or a FIFO given as an image path is refused at once (/dev/zero was read until memory ran out, a FIFO blocked the event loop)', () => {
  if (process.platform === 'win32') return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sotr-fifo-'));
  try {
    const fifo = path.join(dir, 'image.png');
    execFileSync('mkfifo', [fifo]);
    const paths = ['/dev/zero', '/dev/urandom', '/dev/null', fifo];
    // In a child process that stops itself past 512 MB and is killed after 20 s: what a regression would cost here.
    const lib = new URL('../../dist/index.js', import.meta.url).href;
    const script = `const { decodeImage } = await import(${JSON.stringify(lib)});
      setInterval(() => { if (process.memoryUsage().rss > 512e6) { console.log('read past 512 MB'); process.exit(1); } }, 20).unref();
      for (const p of ${JSON.stringify(paths)}) await decodeImage(p).then(() => console.log('decoded'), (e) => console.log(e.name, e.message));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 20000, encoding: 'utf8' });
    assert.equal(out.trim().split('\n'), paths.map((p) => `ImageDecodeError ${p}: is not a regular file (a device, a FIFO or a socket), not an image file`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a CMYK image larger than one conversion slice (yields between slices) converts every pixel', async () => {
  const sharp = createRequire(import.meta.url)('sharp');
  const W = 1031;
  const H = 1100; // 1.13 M pixels: two slices of the 2^20-pixel conversion
  const rgb = Buffer.alloc(W * H * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (Math.imul(i, 2654435761) >>> 24) & 255;
  const jpg = await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).toColourspace('cmyk').jpeg({ quality: 80 }).toBuffer();
  const inks = await sharp(jpg).pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer();
  const whole = new Uint8Array(W * H * 3);
  cmykToRgb(inks, 4, whole, 0, W * H);
  const px = await decodePixels(jpg);
  assert.equal([px.width, px.height, px.channels], [W, H, 3]);
  assert.ok(Buffer.compare(Buffer.from(px.pixels), Buffer.from(whole)) === 0, 'sliced conversion = one pass');
});

test('formats Pillow reads and sharp does not are named in the error (BMP, HEIC)', async () => {
  // A 2x1 24-bit BMP: Pillow opens it; sharp's libvips has no BMP loader.
  const bmp = Buffer.alloc(62);
  bmp.write('BM', 0);
  bmp.writeUInt32LE(62, 2);
  bmp.writeUInt32LE(54, 10);
  bmp.writeUInt32LE(40, 14);
  bmp.writeInt32LE(2, 18);
  bmp.writeInt32LE(1, 22);
  bmp.writeUInt16LE(1, 26);
  bmp.writeUInt16LE(24, 28);
  const heic = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic\0\0\0\0mif1heic'), Buffer.alloc(32)]);
  for (const [bytes, kind] of [[bmp, 'BMP'], [heic, 'HEIC']]) {
    await rejects(
      () => decodeImage(bytes),
      (e) => e instanceof ImageDecodeError && e.details?.format === kind && e.message.includes(`${kind} is a format`),
    );
  }
});

test('SVG is refused by name (drawn, not decoded; Pillow does not read it): as bytes and as a file', async () => {
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48"><rect width="64" height="48" fill="red"/></svg>');
  const isSvgError = (e) => e instanceof ImageDecodeError && e.details?.format === 'SVG' && /SVG is a vector format.*render it to PNG/.test(e.message);
  await rejects(() => decodeImage(svg), isSvgError);
  await rejects(() => decodePixels(svg), isSvgError);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sotr-svg-'));
  const file = path.join(dir, 'drawing.jpg'); // the name does not matter: the bytes do
  writeFileSync(file, svg);
  await rejects(() => decodeImage(file), (e) => isSvgError(e) && e.message.startsWith(file));
  rmSync(dir, { recursive: true });
});

// The BGR conversion moved from JavaScript (toBgr) into pillowResize (`toBgr`): the same bytes and floats.
const MEAN = [103.53, 116.28, 123.675];
const STD = [57.375, 57.12, 58.395];
for (const [H, W, C, Ho, Wo] of [
  [23, 37, 3, 57, 91],
  [40, 50, 1, 17, 50],
  [61, 33, 2, 61, 100],
  [19, 21, 4, 8, 50],
  [13, 17, 4, 13, 17],
  [1, 1, 1, 3, 2],
]) {
  for (const order of ['rgb', 'bgr']) {
    test(`pillowResize toBgr '${order}' = JavaScript toBgr, then the resize (${H}x${W}x${C} -> ${Ho}x${Wo})`, async () => {
      const px = Uint8Array.from({ length: H * W * C }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 23) & 255);
      const conv = Tensor.from(toBgr(px, H * W, C, order === 'bgr'), [H, W, 3]);
      const raw = Tensor.from(px, [H, W, C]);
      try {
        for (const norm of [{}, { mean: MEAN, std: STD, padMultiple: 8 }]) {
          const a = await pillowResize(conv, { size: [Ho, Wo], ...norm });
          const b = await pillowResize(raw, { size: [Ho, Wo], toBgr: order, ...norm });
          assert.equal(b.shape, a.shape);
          const [da, db] = [await a.data(), await b.data()];
          assert.ok(Buffer.compare(Buffer.from(da.buffer, da.byteOffset, da.byteLength), Buffer.from(db.buffer, db.byteOffset, db.byteLength)) === 0);
          a.dispose();
          b.dispose();
        }
      } finally {
        conv.dispose();
        raw.dispose();
      }
    });
  }
}

test('pillowResize toBgr: checks its value and the mean/std count (3 channels out)', async () => {
  const x = Tensor.from(new Uint8Array(4 * 4 * 4), [4, 4, 4]);
  try {
    await rejects(() => pillowResize(x, { size: [2, 2], toBgr: 'rgba' }), (e) => e instanceof SotrRangeError && /toBgr/.test(e.message));
    await rejects(() => pillowResize(x, { size: [2, 2], toBgr: 'rgb', mean: [1, 2, 3, 4], std: [1, 1, 1, 1] }), (e) => e instanceof SotrRangeError && /3 numbers/.test(e.message));
    const y = await pillowResize(x, { size: [2, 2], toBgr: 'rgb' });
    assert.equal(y.shape, [2, 2, 3]);
    y.dispose();
  } finally {
    x.dispose();
  }
});

for (const f of ['dec_la.png', 'dec_grey16.png', 'dec_rgb16.png', 'dec_cmyk_exif6.jpg', 'img_pal.png', 'img_land.png']) {
  test(`'${f}': the model's path (decoded pixels, converted natively) = prepareImage(decodeImage()) (BGR in JavaScript)`, async () => {
    const cfg = { ...SOTR_DEFAULTS, minSize: 64, maxSize: 200 };
    const px = await decodePixels(fixturePath(f));
    const a = await prepareImage(await decodeImage(fixturePath(f)), cfg);
    const b = await prepareImage(px, cfg);
    assert.equal([b.height, b.width, b.paddedHeight, b.paddedWidth], [a.height, a.width, a.paddedHeight, a.paddedWidth]);
    assert.ok(Buffer.compare(Buffer.from(a.data.buffer), Buffer.from(b.data.buffer)) === 0, `${f} (${px.channels} channels) differs`);
  });
}

for (const f of ['dec_la.png', 'img_land.png', 'dec_cmyk_exif6.jpg']) {
  test(`'${f}': inputFormat 'RGB' gives the BGR input with its channels (and mean and std) reversed`, async () => {
    const mean = [100, 110, 120];
    const std = [50, 60, 70];
    const base = { ...SOTR_DEFAULTS, minSize: 64, maxSize: 200 };
    const bgr = await prepareImage(await decodePixels(fixturePath(f)), { ...base, pixelMean: mean, pixelStd: std });
    for (const input of [await decodePixels(fixturePath(f)), await decodeImage(fixturePath(f))]) {
      const rgb = await prepareImage(input, { ...base, inputFormat: 'RGB', pixelMean: [...mean].reverse(), pixelStd: [...std].reverse() });
      const plane = rgb.paddedHeight * rgb.paddedWidth;
      for (let c = 0; c < 3; c++) {
        const want = Buffer.from(bgr.data.buffer, (2 - c) * plane * 4, plane * 4);
        assert.ok(Buffer.compare(Buffer.from(rgb.data.buffer, c * plane * 4, plane * 4), want) === 0, `${f}: channel ${c}`);
      }
    }
  });
}

test("inputFormat 'RGB': a model fed RGB predicts on rgb pixels as a BGR model on the same bytes called bgr", async () => {
  const frame = new Uint8Array(131 * 97 * 3).map((_, i) => (i * 37 + (i % 131) * 11) & 255);
  const key = (p) => JSON.stringify(p.instances.map((i) => [i.label, i.score, i.mask.toRLE()]));
  const got = [];
  for (const [inputFormat, format] of [['BGR', 'bgr'], ['RGB', 'rgb'], ['RGB', 'bgr']]) {
    const m = await Sotr.load(fixturePath('tiny_sotr.pth'), { onWarning: () => {}, minSize: 160, maxSize: 300, device: 'cpu', inputFormat });
    try {
      assert.is(m.config.inputFormat, inputFormat);
      got.push(key(await m.predict({ data: frame, width: 131, height: 97, channels: 3, format })));
    } finally {
      await m.dispose();
    }
  }
  assert.ok(JSON.parse(got[0]).length > 0, 'the frame gives instances');
  assert.is(got[1], got[0]);
  assert.is.not(got[2], got[0], 'the channel order matters');
  const e = await Sotr.load(fixturePath('tiny_sotr.pth'), { onWarning: () => {}, inputFormat: 'rgb' }).then(() => null, (x) => x);
  assert.instance(e, SotrRangeError);
  assert.match(e.message, /inputFormat must be 'BGR' or 'RGB', received "rgb"/);
});

// The raw-input predictions below: the tiny model, a 131x97 synthetic frame, instances compared exactly.
const RAW_W = 131;
const RAW_H = 97;
const instancesKey = (p) => JSON.stringify(p.instances.map((i) => [i.label, i.score, Array.from(i.mask.data)]));
async function withTinyModel(fn) {
  const m = await Sotr.load(fixturePath('tiny_sotr.pth'), { onWarning: () => {}, minSize: 160, maxSize: 300, device: 'cpu' });
  try {
    await fn(m);
  } finally {
    await m.dispose();
  }
}
const rawFrame = (channels, seed = 0) =>
  Uint8Array.from({ length: RAW_W * RAW_H * channels }, (_, i) => ((i % (RAW_W * channels)) * (7 + seed) + Math.floor(i / (RAW_W * channels)) * 5) & 255);

test('an image too thin for the resize (a side rounds to 0, as in detectron2) fails with a SotrRangeError saying so', () =>
  withTinyModel(async (m) => {
    // minSize 160 within maxSize 300: a W×1 image is 300 × 300/W, which rounds to 0 from W = 601 on.
    const ok = await m.predict({ data: new Uint8Array(600 * 3).fill(90), width: 600, height: 1, channels: 3 });
    assert.is(ok.width, 600);
    for (const [w, h] of [[601, 1], [1, 5000]]) {
      await rejects(
        () => m.predict({ data: new Uint8Array(w * h * 3).fill(90), width: w, height: h, channels: 3 }),
        (e) => e instanceof SotrRangeError && e.code === 'SOTR_IMAGE_SIZE' && new RegExp(`the image is ${w}×${h}: .* too thin for the model`).test(e.message),
      );
    }
    assert.is(m.pendingImages, 0);
  }));

test('predict: raw RGB, RGBA and grey pixels give the instances of their BGR conversion', () =>
  withTinyModel(async (m) => {
    for (const channels of [1, 3, 4]) {
      const data = rawFrame(channels);
      const want = await m.predict({ data: toBgr(data, RAW_W * RAW_H, channels, false), width: RAW_W, height: RAW_H, channels: 3, format: 'bgr' });
      const got = await m.predict({ data, width: RAW_W, height: RAW_H, channels });
      assert.ok(want.instances.length > 0);
      assert.is(instancesKey(got), instancesKey(want), `${channels} channels`);
    }
  }));

test('raw pixels are copied within the call (the caller may reuse its buffer at once), through reused staging buffers', () =>
  withTinyModel(async (m) => {
    const raw = (data) => ({ data, width: RAW_W, height: RAW_H, channels: 3 });
    const a = rawFrame(3, 0);
    const b = rawFrame(3, 3);
    const want = [instancesKey(await m.predict(raw(a.slice()))), instancesKey(await m.predict(raw(b.slice())))];
    assert.is.not(want[0], want[1]);
    // One buffer reused for every frame, overwritten as soon as predict returns its promise (the staging buffers of
    // earlier frames are reused underneath).
    const buf = new Uint8Array(RAW_W * RAW_H * 3);
    for (let r = 0; r < 3; r++) {
      for (const [k, f] of [a, b].entries()) {
        buf.set(f);
        const p = m.predict(raw(buf));
        buf.fill(0);
        assert.is(instancesKey(await p), want[k], `round ${r} frame ${k}`);
      }
    }
    // An array of frames (decoded one ahead of the model): each its own result.
    const many = await m.predict([a, b, a].map(raw));
    assert.equal(many.map(instancesKey), [want[0], want[1], want[0]]);
  }));

test.run();
