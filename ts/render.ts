/**
 * Overlay images of a prediction: each instance's mask tinted in its own colour, its box, and its class and score,
 * drawn on the image (sharp composites a mask layer and an SVG of the boxes and labels). `renderPrediction` is the
 * public API; the CLI's `--viz` workers call `renderOverlay` with the RLE strings of the results file.
 */
import { SotrRangeError, SotrTypeError } from './errors';
import { decodeRleCounts } from './masks/rle';
import { Mask, maskWindowBits, words32PerRow } from './masks/mask';
import { DEFAULT_LIMIT_INPUT_PIXELS, checkRawImage, decodePixels, isRawImage, releaseStaging, sharpLib, type ImageInput } from './model/preprocess';
import { inSlices, turnTaker } from './event_loop';
import type { Instance } from './model/postprocess';
import type { Prediction } from './model/sotr';
import { checkOptions, keysOf, shownValue } from './options';

/** The image encoding renderPrediction returns. */
export type RenderFormat = 'png' | 'jpeg' | 'webp';

/** Options of renderPrediction(): the output encoding and what is drawn. */
export interface RenderOptions {
  /** Encoding of the returned image (default 'png'). */
  format?: RenderFormat | undefined;
  /** JPEG / WebP quality, 1–100 (default 88). */
  quality?: number | undefined;
  /** Draw only instances scoring at least this (a display cut; default 0: all). */
  minScore?: number | undefined;
  /** Opacity of the mask tint, 0–1 (default 0.45). */
  maskOpacity?: number | undefined;
  /** Draw each instance's box (default true). */
  boxes?: boolean | undefined;
  /** Draw each instance's class and score (default true). */
  labels?: boolean | undefined;
  /** Largest decoded image accepted, in pixels (as predict's option). */
  limitInputPixels?: number | undefined;
}

const RENDER_OPTION_KEYS = keysOf<RenderOptions>()('format', 'quality', 'minScore', 'maskOpacity', 'boxes', 'labels', 'limitInputPixels');

/** One instance to draw: its mask as a Mask, or as COCO RLE counts (column-major). */
export interface OverlayInstance {
  label: string;
  score: number;
  /** [x, y, width, height] in pixels. */
  bbox: [number, number, number, number];
  color: [number, number, number];
  mask?: Mask;
  counts?: string;
}


/** A distinct colour per instance rank (golden-ratio hues, bright and saturated). */
export function instanceColour(i: number): [number, number, number] {
  // NaN, a string or an infinity made [NaN, NaN, NaN].
  if (typeof i !== 'number') throw new SotrTypeError(`instanceColour: the rank must be a number, received ${shownValue(i)}`);
  if (!Number.isFinite(i)) throw new SotrRangeError(`instanceColour: the rank must be finite, received ${shownValue(i)}`);
  const h = (i * 0.618033988749895 + 0.08) % 1;
  const s = 0.85;
  const v = 0.95;
  const k = (n: number) => (n + h * 6) % 6;
  const f = (n: number) => Math.round(255 * (v - v * s * Math.max(0, Math.min(k(n), 4 - k(n), 1))));
  return [f(5), f(3), f(1)];
}

function escapeXml(s: string): string {
  // Characters XML 1.0 cannot hold at all (C0 controls but tab and newlines, lone surrogates) become U+FFFD: a class
  // name with one made the label's SVG unparsable.
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
    .replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

// A blend table per channel: out = round(colour·a + in·(1 − a)) for every 8-bit input, so that tinting a pixel is
// three lookups (the overlay used to be an RGBA layer that sharp composited: ~0.7 s at 12 megapixels).
type Tint = [Uint8Array, Uint8Array, Uint8Array];
function tintOf(color: [number, number, number], alpha: number): Tint {
  const a = alpha / 255;
  return color.map((c) => Uint8Array.from({ length: 256 }, (_, v) => Math.round(c * a + v * (1 - a)))) as Tint;
}

function tintPixel(rgb: Uint8Array, o: number, t: Tint): void {
  rgb[o] = t[0][rgb[o]!]!;
  rgb[o + 1] = t[1][rgb[o + 1]!]!;
  rgb[o + 2] = t[2][rgb[o + 2]!]!;
}

// Tints the set pixels of one mask that no earlier (higher-scored) mask tinted: rows [y0, y1) of its box, a 32-bit
// word at a time; `painted` holds one bit a pixel in the masks' row layout, so each pixel is tinted once.
function paintMaskRows(rgb: Uint8Array, painted: Uint32Array, W: number, m: Mask, y0: number, y1: number, t: Tint): void {
  const [x0, , x1] = m.box;
  const stride = words32PerRow(W);
  // The mask's bits as it keeps them (its window: predict's masks keep their box's rows and 64-bit words only).
  const { win, bits } = maskWindowBits(m);
  const wStride = 2 * win.words;
  for (let y = y0; y < y1; y++) {
    for (let w = x0 >>> 5; w <= (x1 - 1) >>> 5; w++) {
      const i = y * stride + w;
      let v = bits[(y - win.y) * wStride + w - 2 * win.word]! & ~painted[i]!;
      if (!v) continue;
      painted[i]! |= v;
      while (v) {
        const b = 31 - Math.clz32(v & -v);
        v &= v - 1;
        tintPixel(rgb, (y * W + w * 32 + b) * 3, t);
      }
    }
  }
}

// About this many pixels of a mask are visited between two checks of the turn budget.
const BAND_PIXELS = 1 << 18;

// One mask, a band of rows at a time with `between()` awaited after each band: a mask covering half of a
// 12-megapixel image is ~6 M pixels, ~50 ms, too long for one turn.
async function paintMask(rgb: Uint8Array, painted: Uint32Array, W: number, m: Mask, t: Tint, between: () => Promise<void>): Promise<void> {
  const [, y0, x1, y1] = m.box;
  const band = Math.max(1, Math.floor(BAND_PIXELS / Math.max(1, x1 - m.box[0])));
  for (let y = y0; y < y1; y += band) {
    paintMaskRows(rgb, painted, W, m, y, Math.min(y1, y + band), t);
    await between();
  }
}

// The same from COCO RLE counts (column-major runs, starting with 0s); the pixel position is stepped down each run
// (one division a run, not one a pixel); `between()` is awaited every ~BAND_PIXELS pixels visited.
async function paintRuns(rgb: Uint8Array, painted: Uint32Array, W: number, H: number, counts: string, t: Tint, between: () => Promise<void>): Promise<void> {
  const runs = decodeRleCounts(counts);
  const stride = words32PerRow(W);
  let pos = 0;
  let visited = 0;
  for (let i = 0; i < runs.length; i++) {
    const n = runs[i]!;
    if (i & 1 && n > 0) {
      let x = Math.floor(pos / H);
      let y = pos - x * H;
      for (let k = 0; k < n; k++) {
        const wi = y * stride + (x >>> 5);
        const bit = 1 << (x & 31);
        if (!(painted[wi]! & bit)) {
          painted[wi]! |= bit;
          tintPixel(rgb, (y * W + x) * 3, t);
        }
        if (++y === H) {
          y = 0;
          x++;
        }
      }
      visited += n;
      if (visited >= BAND_PIXELS) {
        visited = 0;
        await between();
      }
    }
    pos += n;
  }
}

// A box's outline, `thick` pixels wide inside [x, x + w) × [y, y + h), opaque.
function drawBox(rgb: Uint8Array, W: number, H: number, bbox: [number, number, number, number], color: [number, number, number], thick: number): void {
  const x0 = Math.max(0, Math.round(bbox[0]));
  const y0 = Math.max(0, Math.round(bbox[1]));
  const x1 = Math.min(W, Math.round(bbox[0] + bbox[2]));
  const y1 = Math.min(H, Math.round(bbox[1] + bbox[3]));
  if (x1 <= x0 || y1 <= y0) return;
  const fill = (xa: number, ya: number, xb: number, yb: number) => {
    for (let y = ya; y < yb; y++) {
      for (let x = xa, o = (y * W + xa) * 3; x < xb; x++, o += 3) {
        rgb[o] = color[0];
        rgb[o + 1] = color[1];
        rgb[o + 2] = color[2];
      }
    }
  };
  const t = Math.min(thick, x1 - x0, y1 - y0);
  fill(x0, y0, x1, y0 + t);
  fill(x0, y1 - t, x1, y1);
  fill(x0, y0, x0 + t, y1);
  fill(x1 - t, y0, x1, y1);
}

/**
 * @internal Composes the overlay on an RGB image (raw, 3 channels; not modified): `instances` in score order,
 * descending; each pixel is tinted once, by the best-scored instance covering it; then the boxes, then the labels
 * (each a small SVG placed where it goes: a full-frame SVG cost ~0.3 s at 12 megapixels), moved down past labels
 * already placed. Returns the sharp pipeline to encode.
 */
export async function renderOverlay(
  base: { data: Uint8Array; width: number; height: number },
  instances: readonly OverlayInstance[],
  options: { maskOpacity?: number; boxes?: boolean; labels?: boolean; /** draw on base.data itself */ inPlace?: boolean } = {},
): Promise<import('sharp').Sharp> {
  const sharp = sharpLib();
  const { width: W, height: H } = base;
  // A copy unless the caller hands its buffer over (36 MB at 12 megapixels: ~25 ms of this thread into fresh pages,
  // so in slices, with turns for the event loop between them).
  let rgb: Uint8Array;
  if (options.inPlace) rgb = base.data.subarray(0, W * H * 3);
  else {
    const src = base.data;
    const copy = new Uint8Array(W * H * 3);
    await inSlices(copy.length, (i0, i1) => copy.set(src.subarray(i0, i1), i0));
    rgb = copy;
  }
  const alpha = Math.round(255 * (options.maskOpacity ?? 0.45));
  // A turn for the event loop every ~8 ms, within masks too (a 12-megapixel image's 100 masks take ~0.2 s).
  const yieldSometimes = turnTaker(8);
  // Which pixels a mask has tinted already (one bit each), made only if some instance has a mask.
  let paintedBits: Uint32Array | null = null;
  for (const inst of instances) {
    if (!inst.mask && inst.counts === undefined) continue;
    const painted = (paintedBits ??= new Uint32Array(words32PerRow(W) * H));
    const t = tintOf(inst.color, alpha);
    if (inst.mask) await paintMask(rgb, painted, W, inst.mask, t, yieldSometimes);
    else await paintRuns(rgb, painted, W, H, inst.counts!, t, yieldSometimes);
  }
  const font = Math.max(11, Math.min(28, Math.round(Math.min(W, H) / 40)));
  const lh = font + 4;
  if (options.boxes !== false) for (const inst of instances) drawBox(rgb, W, H, inst.bbox, inst.color, font > 16 ? 2 : 1);
  const placed: Array<[number, number, number, number]> = [];
  const overlaps = (x: number, y: number, w: number) => placed.some(([px, py, pw, ph]) => x < px + pw && px < x + w && y < py + ph && py < y + lh);
  const labels: Array<{ svg: string; left: number; top: number; width: number }> = [];
  if (options.labels !== false && W >= 8 && H >= lh) {
    for (const inst of instances) {
      const [x, y] = inst.bbox;
      const [r, g, b] = inst.color;
      const text = `${inst.label} ${inst.score.toFixed(2)}`;
      const tw = Math.min(W, Math.ceil(text.length * font * 0.6) + 6);
      const lx = Math.max(0, Math.min(Math.round(x), W - tw));
      // Above the box when there is room, else inside it; moved down past labels already placed; within the image.
      let ly = Math.round(y >= lh ? y - lh : y);
      for (let k = 0; k < 8 && overlaps(lx, ly, tw); k++) ly += lh;
      ly = Math.max(0, Math.min(ly, H - lh));
      placed.push([lx, ly, tw, lh]);
      const svg =
        `<rect x="0" y="0" width="${tw}" height="${lh}" fill="rgb(${r},${g},${b})" fill-opacity="0.85"/>` +
        `<text x="3" y="${font}" font-family="DejaVu Sans, Arial, sans-serif" font-size="${font}" fill="white">${escapeXml(text)}</text>`;
      labels.push({ svg, left: lx, top: ly, width: tw });
    }
  }
  const img = sharp(rgb, { raw: { width: W, height: H, channels: 3 } });
  if (!labels.length) return img;
  // One SVG for the whole image costs ~25 ms a megapixel to draw; one SVG a label ~1 ms each: whichever is less.
  const wrap = (w: number, h: number, body: string) => `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}">${body}</svg>`;
  const layers: import('sharp').OverlayOptions[] =
    labels.length < (25 * W * H) / 1e6
      ? labels.map((l) => ({ input: Buffer.from(wrap(l.width, lh, l.svg)), left: l.left, top: l.top }))
      : [{ input: Buffer.from(wrap(W, H, labels.map((l) => `<g transform="translate(${l.left},${l.top})">${l.svg}</g>`).join(''))), left: 0, top: 0 }];
  // Composited as RGBA (sharp composites last, after any removeAlpha), then back to RGB for the encoder.
  const { data, info } = await img.composite(layers).raw().toBuffer({ resolveWithObject: true });
  return sharp(data, { raw: { width: W, height: H, channels: info.channels } }).removeAlpha();
}

/** @internal Encodes a composed overlay. */
export function encodeOverlay(img: import('sharp').Sharp, format: RenderFormat, quality = 88): import('sharp').Sharp {
  if (format === 'png') return img.png();
  if (format === 'webp') return img.webp({ quality });
  return img.jpeg({ quality });
}

/** @internal The image as the model saw it (orientation, Pillow's conversions), as 3-channel RGB. */
export async function baseImage(image: ImageInput, limitInputPixels: number | undefined): Promise<{ data: Uint8Array; width: number; height: number }> {
  // Raw pixels are read as they are, converted in slices below (decodePixels would first copy them in one step, as
  // predict must: 144 MB at 48 megapixels, ~90 ms of this thread without a turn for the event loop).
  const d = isRawImage(image)
    ? { pixels: new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength), width: image.width, height: image.height, channels: image.channels, order: checkRawImage(image, limitInputPixels ?? DEFAULT_LIMIT_INPUT_PIXELS), staged: false }
    : await decodePixels(image, limitInputPixels !== undefined ? { limitInputPixels } : {});
  const n = d.width * d.height;
  if (d.channels === 3 && d.order === 'rgb' && !isRawImage(image)) return { data: d.pixels, width: d.width, height: d.height };
  const rgb = new Uint8Array(n * 3);
  const c = d.channels;
  const swap = d.order === 'bgr' && c >= 3;
  await inSlices(n, (i0, i1) => {
    for (let i = i0; i < i1; i++) {
      const s = i * c;
      if (c < 3) {
        rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = d.pixels[s]!;
      } else {
        rgb[i * 3] = d.pixels[swap ? s + 2 : s]!;
        rgb[i * 3 + 1] = d.pixels[s + 1]!;
        rgb[i * 3 + 2] = d.pixels[swap ? s : s + 2]!;
      }
    }
  });
  if (d.staged) releaseStaging(d.pixels); // a raw image's copy: reused by the next one (fresh 36 MB cost ~19 ms)
  return { data: rgb, width: d.width, height: d.height };
}

/**
 * The image with the prediction drawn on it, encoded (PNG by default): each instance's mask tinted in its own
 * colour (by rank), its box, and its class and score. `image` is what was given to `predict` (a path, encoded
 * bytes, or raw pixels); it must have the prediction's size.
 */
export async function renderPrediction(image: ImageInput, prediction: Prediction | readonly Instance[], options: RenderOptions = {}): Promise<Buffer> {
  checkOptions('renderPrediction', options, RENDER_OPTION_KEYS);
  const format = options.format ?? 'png';
  if (format !== 'png' && format !== 'jpeg' && format !== 'webp') throw new SotrRangeError(`renderPrediction: format must be 'png', 'jpeg' or 'webp', received ${shownValue(format)}`);
  const quality = options.quality ?? 88;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new SotrRangeError(`renderPrediction: quality must be an integer in [1, 100], received ${shownValue(quality)}`);
  const opacity = options.maskOpacity ?? 0.45;
  if (typeof opacity !== 'number' || !(opacity >= 0 && opacity <= 1)) throw new SotrRangeError(`renderPrediction: maskOpacity must be in [0, 1], received ${shownValue(opacity)}`);
  const minScore = options.minScore ?? 0;
  if (typeof minScore !== 'number' || Number.isNaN(minScore)) throw new SotrRangeError(`renderPrediction: minScore must be a number, received ${shownValue(minScore)}`);
  // Only false turned them off: 'no' or 0 drew them.
  for (const key of ['boxes', 'labels'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') throw new SotrTypeError(`renderPrediction: ${key} must be a boolean, received ${shownValue(options[key])}`);
  }
  const instances = Array.isArray(prediction) ? (prediction as readonly Instance[]) : (prediction as Prediction)?.instances;
  if (!Array.isArray(instances)) throw new SotrTypeError('renderPrediction: expected a prediction or its instances');
  const base = await baseImage(image, options.limitInputPixels);
  const items: OverlayInstance[] = [];
  instances.forEach((inst, k) => {
    if (!(inst?.mask instanceof Mask)) throw new SotrTypeError(`renderPrediction: instance ${k} has no mask`);
    if (inst.mask.width !== base.width || inst.mask.height !== base.height) {
      throw new SotrRangeError(
        `renderPrediction: the image is ${base.width}×${base.height}, instance ${k}'s mask ${inst.mask.width}×${inst.mask.height} (render the image the prediction was made from)`,
      );
    }
    if (typeof inst.score !== 'number') throw new SotrTypeError(`renderPrediction: instance ${k}'s score must be a number, received ${shownValue(inst.score)}`);
    if (inst.score < minScore) return;
    const box: unknown = inst.box;
    if (!Array.isArray(box) || box.length !== 4 || !box.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new SotrTypeError(`renderPrediction: instance ${k}'s box must be [x0, y0, x1, y1], four finite numbers`);
    }
    const [x0, y0, x1, y1] = box as number[];
    items.push({ label: inst.category, score: inst.score, bbox: [x0, y0, x1 - x0, y1 - y0], color: instanceColour(items.length), mask: inst.mask });
  });
  const img = await renderOverlay(base, items, { maskOpacity: opacity, boxes: options.boxes, labels: options.labels, inPlace: true });
  return encodeOverlay(img, format, quality).toBuffer();
}
