/**
 * Pre-processing (§2): decode (sharp, EXIF orientation applied, embedded ICC profiles ignored as Pillow does),
 * the conversions of Pillow's `convert('RGB')`, BGR, ResizeShortestEdge with Pillow's antialiased bilinear
 * (bit-exact), mean subtraction / std division in float32, zero padding to a multiple of 32. The conversion to BGR,
 * resize, normalisation and padding are one native op (pillowResize with `toBgr`, native/ops/pillow_resize.cpp) run
 * on the CPU queue, so none of it runs on the JavaScript thread: the model passes the decoded pixels as the decoder
 * gives them (decodePixels); the public decodeImage converts to BGR in JavaScript for callers that want the pixels.
 *
 * Pillow's conversions reproduced: alpha dropped (not composited), grey (and grey + alpha) replicated to three
 * channels, palette expanded; 16-bit RGB(A) reduced to its high byte (v >> 8, what Pillow's PNG decoder does);
 * 16-bit grey clipped at 255 (Pillow opens it as mode 'I', whose convert('RGB') clips); CMYK (JPEG, TIFF) read
 * as its raw channels, without a colour profile, and converted with Pillow's formula (cmykToRgb), not libvips's
 * profile-based conversion, which differs by up to 112 levels.
 */
import { readWholeFile } from '../raw_file';
import { fileURLToPath } from 'node:url';
import { ImageDecodeError, SotrRangeError, SotrTypeError } from '../errors';
import { pillowResize } from '../ops/pillow_resize';
import { inSlices } from '../event_loop';
import { Tensor } from '../tensor';
import { checkOptions, shownValue } from '../options';

const SIGNAL_ONLY = ['signal'] as const;

/** Raw pixels, taken as already oriented. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  /** Channel order of 3- and 4-channel data (default 'rgb'). */
  format?: 'rgb' | 'bgr';
}

/** A file path (or `file:` URL), an encoded image in memory, or raw pixels. */
export type ImageInput = string | URL | Buffer | Uint8Array | RawImage;

/** An image decoded by decodeImage(): oriented, as 8-bit BGR pixels. */
export interface DecodedImage {
  /** Interleaved BGR, 8-bit, width × height × 3. */
  bgr: Uint8Array;
  width: number;
  height: number;
}

/**
 * Decoded pixels in the decoder's layout (what the model passes to the native pre-processing, which
 * converts them to BGR as it resamples): interleaved 8-bit, `channels` per pixel, colour channels in `order`
 * (1 or 2 channels: grey + alpha; 4: colour + alpha).
 */
export interface DecodedPixels {
  pixels: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  order: 'rgb' | 'bgr';
  /** `pixels` is a staging buffer (a raw image's copy) that may be reused once copied into a tensor. */
  staged?: boolean;
}

// Staging buffers for the copies of raw images, reused: a fresh 36 MB buffer (a 12-megapixel frame) costs ~19 ms of
// page faults on the JavaScript thread, a reused one ~4 ms of copying. At most 64 MB kept, the latest first.
const staging: Uint8Array[] = [];
const STAGING_BYTES = 64 << 20;

function stagingBuffer(n: number): Uint8Array {
  const i = staging.findIndex((b) => b.length === n);
  return i >= 0 ? staging.splice(i, 1)[0]! : new Uint8Array(n);
}

/** @internal Gives a staging buffer back once its pixels are copied elsewhere. */
export function releaseStaging(b: Uint8Array): void {
  if (b.length > STAGING_BYTES) return;
  staging.unshift(b);
  let total = 0;
  for (let i = 0; i < staging.length; i++) {
    total += staging[i]!.length;
    if (total > STAGING_BYTES) {
      staging.length = i;
      break;
    }
  }
}

/** The default `limitInputPixels`: the largest decoded image accepted, in pixels (sharp's default, 0x3FFF²). */
export const DEFAULT_LIMIT_INPUT_PIXELS = 268402689;

/** @internal Raw pixels (`{ data, width, height, … }`), not an encoded image or a path. */
export function isRawImage(x: unknown): x is RawImage {
  return typeof x === 'object' && x !== null && !(x instanceof Uint8Array) && 'data' in x && 'width' in x && 'height' in x;
}

function checkLimit(w: number, h: number, limit: number): void {
  if (limit > 0 && w * h > limit) {
    throw new ImageDecodeError(`image of ${w}×${h} = ${w * h} pixels exceeds limitInputPixels (${limit})`, {
      details: { width: w, height: h, limitInputPixels: limit },
    });
  }
}

/** @internal Checks raw pixels (sizes, channels, format, length, the pixel limit); returns the channel order. */
export function checkRawImage(img: RawImage, limit: number): 'rgb' | 'bgr' {
  const { width, height, channels } = img;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new SotrRangeError(`raw image: width and height must be positive integers, received ${shownValue(width)}×${shownValue(height)}`);
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new SotrRangeError(`raw image: channels must be 1, 3 or 4, received ${shownValue(channels)}`);
  const format = img.format ?? 'rgb';
  if (format !== 'rgb' && format !== 'bgr') throw new SotrRangeError(`raw image: format must be 'rgb' or 'bgr', received ${shownValue(format)}`);
  if (!(img.data instanceof Uint8Array || img.data instanceof Uint8ClampedArray)) throw new SotrTypeError('raw image: data must be a Uint8Array');
  if (img.data.length !== width * height * channels) {
    throw new SotrRangeError(`raw image: data holds ${img.data.length} bytes, expected ${width}×${height}×${channels} = ${width * height * channels}`);
  }
  checkLimit(width, height, limit);
  return format;
}

function fromRaw(img: RawImage, limit: number): DecodedPixels {
  const { width, height, channels } = img;
  const format = checkRawImage(img, limit);
  // A copy (the caller may reuse its buffer while the prediction runs), made now, within the caller's call.
  const pixels = stagingBuffer(img.data.length);
  pixels.set(img.data);
  return { pixels, width, height, channels, order: format, staged: true };
}

/**
 * Interleaved 1/2/3/4-channel 8-bit pixels → interleaved BGR (alpha dropped, grey replicated), in JavaScript: only
 * for the public decodeImage (the model leaves the conversion to the native pillowResize, `toBgr`).
 */
function toBgr(src: ArrayLike<number>, pixels: number, channels: number, srcIsBgr: boolean): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  if (channels <= 2) {
    for (let i = 0; i < pixels; i++) {
      const g = src[i * channels]!;
      out[3 * i] = g;
      out[3 * i + 1] = g;
      out[3 * i + 2] = g;
    }
    return out;
  }
  for (let i = 0; i < pixels; i++) {
    const a = src[i * channels]!;
    const b = src[i * channels + 1]!;
    const c = src[i * channels + 2]!;
    out[3 * i] = srcIsBgr ? a : c;
    out[3 * i + 1] = b;
    out[3 * i + 2] = srcIsBgr ? c : a;
  }
  return out;
}

function channelCount(c: number): 1 | 2 | 3 | 4 {
  if (c === 1 || c === 2 || c === 3 || c === 4) return c;
  throw new ImageDecodeError(`the decoder gave ${c} channels per pixel (expected 1 to 4)`);
}

type SharpModule = typeof import('sharp');
let sharpMod: SharpModule | undefined;
/** @internal sharp, loaded on first use. */
export function sharpLib(): SharpModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  sharpMod ??= require('sharp') as SharpModule;
  return sharpMod;
}

/** Decodes an encoded image (file contents) the way detectron2's read_image(format='BGR') sees it. */
export async function decodeImage(input: ImageInput, options: { limitInputPixels?: number } = {}): Promise<DecodedImage> {
  checkOptions('decodeImage', options, ['limitInputPixels']);
  const d = await decodePixels(input, options);
  const bgr = d.channels === 3 && d.order === 'bgr' ? d.pixels : toBgr(d.pixels, d.width * d.height, d.channels, d.order === 'bgr');
  return { bgr, width: d.width, height: d.height };
}

// A `file:` URL (object or string) is its path; any other URL is refused by name: nothing here fetches.
function fileUrlAsPath(input: ImageInput): ImageInput {
  let url: URL | null = null;
  if (input instanceof URL) url = input;
  else if (typeof input === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(input)) {
    try {
      url = new URL(input);
    } catch {
      return input; // not a URL after all: a path
    }
  }
  if (!url) return input;
  if (url.protocol === 'file:') return fileURLToPath(url);
  throw new SotrTypeError(
    `image: ${url.href} is a ${url.protocol.slice(0, -1)} URL, and images are read from files, bytes or pixels, never fetched: ` +
      'fetch it and pass the bytes (Buffer.from(await (await fetch(url)).arrayBuffer()))',
  );
}

/**
 * @internal decodeImage without the conversion to BGR: the pixels as the decoder gives them (what the model
 * passes to prepareImageTensor, whose native resize converts them).
 */
/** Checks a pixel limit: a non-negative integer (0: no limit). */
export function checkLimitInputPixels(what: string, limit: unknown): number {
  if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0) {
    throw new SotrRangeError(`${what} must be a non-negative integer (0: no limit), received ${shownValue(limit)}`);
  }
  return limit;
}

export async function decodePixels(input: ImageInput, options: { limitInputPixels?: number } = {}): Promise<DecodedPixels> {
  const limit = checkLimitInputPixels('limitInputPixels', options.limitInputPixels ?? DEFAULT_LIMIT_INPUT_PIXELS);
  if (isRawImage(input)) return fromRaw(input, limit);
  let bytes: Buffer;
  let label: string;
  input = fileUrlAsPath(input);
  if (typeof input === 'string') {
    label = input;
    try {
      bytes = await readWholeFile(input); // a raw descriptor: closed should a worker be terminated meanwhile
    } catch (e) {
      // Node's message for a folder names no path ("illegal operation on a directory, read").
      if ((e as NodeJS.ErrnoException).code === 'EISDIR') throw new ImageDecodeError(`${input}: is a folder, not an image file`, { cause: e });
      if ((e as NodeJS.ErrnoException).code === 'ENOTSUP') {
        throw new ImageDecodeError(`${input}: is not a regular file (a device, a FIFO or a socket), not an image file`, { cause: e });
      }
      throw e;
    }
  } else if (input instanceof Uint8Array) {
    label = 'image buffer';
    bytes = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  } else {
    throw new SotrTypeError('image must be a path or file: URL, a Buffer/Uint8Array with an encoded image, or raw pixels { data, width, height, channels }');
  }
  bytes = pngExifBeforeData(bytes) ?? bytes;
  const sharp = sharpLib();
  // failOn 'truncated': a file that ends early is refused, as Pillow refuses it ("image file is truncated"), while a
  // JPEG that libjpeg only warns about (junk bytes between segments, a scan cut short before its end marker) decodes,
  // as in Pillow ('warning' refused those).
  let failOn: 'truncated' | 'error' = 'truncated';
  const open = () => sharp(bytes, { autoOrient: true, ignoreIcc: true, limitInputPixels: limit || false, failOn });
  const attempt = async (): Promise<DecodedPixels> => {
    failOn = 'truncated';
    const meta = await open().metadata();
    // A TIFF whose strips end early (an uncompressed one cut short) is only a libtiff error, not a truncation to
    // libvips: at 'truncated' it decoded with black rows, where Pillow refuses it ("image file is truncated").
    if (meta.format === 'tiff') failOn = 'error';
    // SVG is drawn, not decoded: its filters can run for minutes (an 8000² one did), and Pillow, whose decoding this
    // matches, does not read it. Refused by name, like the formats sharp lacks.
    if (meta.format === 'svg') {
      throw new ImageDecodeError(`${label}: SVG is a vector format, and images are read as Pillow reads them (raster only): render it to PNG first`, {
        details: { format: 'SVG' },
      });
    }
    const w0 = meta.autoOrient?.width ?? meta.width;
    const h0 = meta.autoOrient?.height ?? meta.height;
    if (w0 && h0) checkLimit(w0, h0, limit);
    const sixteen = meta.depth === 'ushort';
    const grey = meta.channels !== undefined && meta.channels <= 2 && meta.space !== 'cmyk';
    // Pillow opens a 16-bit grey PNG as mode 'I' (values clipped at 255), but a 16-bit grey + alpha PNG (colour type
    // 4, IHDR byte 25) as 'RGBA' from 'LA;16B': the high bytes. sharp reports both as grey16 with alpha (a tRNS chunk
    // on 16-bit grey too), so the header tells them apart.
    const clipped = grey && !(meta.format === 'png' && bytes.length > 25 && bytes[25] === 4);
    if (sixteen) {
      const { data, info } = await open()
        .toColourspace(grey ? 'grey16' : 'rgb16')
        .raw({ depth: 'ushort' })
        .toBuffer({ resolveWithObject: true });
      const v = new Uint16Array(data.buffer, data.byteOffset, data.byteLength >> 1);
      const n = info.width * info.height;
      const ch = info.channels;
      const eight = new Uint8Array(n * ch);
      // Pillow: 16-bit RGB (and grey + alpha) → high byte; 16-bit grey (mode 'I') → clipped at 255.
      await inSlices(n * ch, (i0, i1) => {
        for (let i = i0; i < i1; i++) eight[i] = clipped ? Math.min(v[i]!, 255) : v[i]! >> 8;
      });
      return { pixels: eight, width: info.width, height: info.height, channels: channelCount(ch), order: 'rgb' };
    }
    if (meta.space === 'cmyk') {
      // The raw ink values (libvips undoes Adobe's inverted JPEG storage, as Pillow's 'CMYK;I' does), then Pillow.
      const { data, info } = await open().pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
      const n = info.width * info.height;
      const rgb = new Uint8Array(n * 3);
      await inSlices(n, (i0, i1) => cmykToRgb(data, info.channels, rgb, i0, i1));
      return { pixels: rgb, width: info.width, height: info.height, channels: 3, order: 'rgb' };
    }
    const { data, info } = await open().raw().toBuffer({ resolveWithObject: true });
    return { pixels: data, width: info.width, height: info.height, channels: channelCount(info.channels), order: 'rgb' };
  };
  try {
    return await retriedWithoutCause(attempt);
  } catch (e) {
    if (e instanceof ImageDecodeError) throw e;
    const msg = (e as Error)?.message ?? String(e);
    if (/pixel limit/i.test(msg)) {
      throw new ImageDecodeError(`${label}: the image exceeds limitInputPixels (${limit} pixels)`, { cause: e, details: { limitInputPixels: limit } });
    }
    const kind = unsupportedFormat(bytes);
    const hint = kind ? `: ${kind} is a format this build of sharp (libvips) does not read; convert it to PNG or JPEG` : '';
    throw new ImageDecodeError(`${label}: cannot decode the image (${msg})${hint}`, { cause: e, details: kind ? { format: kind } : undefined });
  }
}

/**
 * Runs a sharp decode, again (up to 3 times in all) while it fails with no cause: libvips keeps one error buffer for
 * the process, and an overlay or another decode running meanwhile (the CLI's worker) can clear it, so a failed decode
 * says only "Unknown error". Our own errors and errors with a cause are thrown at once.
 */
async function retriedWithoutCause<T>(decode: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await decode();
    } catch (e) {
      if (tries === 3 || e instanceof ImageDecodeError || !/^\s*(Unknown error)?\s*$/.test((e as Error)?.message ?? '')) throw e;
    }
  }
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * A PNG whose EXIF (its eXIf chunk, which holds the orientation) comes only after the image data, rewritten with that
 * chunk right after the header; undefined for any other file. Pillow applies such an orientation (detectron2's
 * getexif() reads the whole file when no eXIf precedes the data, and of several after it the last wins), but sharp's
 * PNG reader looks before the data only: such a photo came out unrotated. Moved, sharp reads it as it reads an early
 * one (matched against Pillow for orientations 1-8). A chunk's CRC covers only its type and data, so it moves intact.
 */
function pngExifBeforeData(b: Buffer): Buffer | undefined {
  if (b.length < 33 || PNG_SIGNATURE.some((v, i) => b[i] !== v)) return undefined;
  let afterHeader = -1;
  let seenData = false;
  let late: [number, number] | undefined;
  for (let at = 8; at + 12 <= b.length; ) {
    const end = at + 12 + b.readUInt32BE(at);
    if (end > b.length) break; // a torn chunk: sharp reports the file as it is
    const type = b.toString('latin1', at + 4, at + 8);
    if (type === 'IHDR' && afterHeader < 0) afterHeader = end;
    else if (type === 'IDAT') seenData = true;
    else if (type === 'eXIf') {
      if (!seenData) return undefined; // an early eXIf is the one both read
      late = [at, end];
    } else if (type === 'IEND') break;
    at = end;
  }
  if (!late || afterHeader < 0) return undefined;
  return Buffer.concat([b.subarray(0, afterHeader), b.subarray(late[0], late[1]), b.subarray(afterHeader, late[0]), b.subarray(late[1])]);
}

/**
 * Formats Pillow opens but sharp's prebuilt libvips does not (BMP, ICO, PSD, JPEG 2000, HEIC: sharp's HEIF
 * support is AVIF only), named from their first bytes so the error says what to do.
 */
function unsupportedFormat(b: Uint8Array): string | undefined {
  const ascii = (at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));
  if (b.length < 12) return undefined;
  if (ascii(0, 2) === 'BM') return 'BMP';
  if (b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0) return 'ICO';
  if (ascii(0, 4) === '8BPS') return 'PSD';
  if (ascii(4, 4) === 'jP  ' || (b[0] === 0xff && b[1] === 0x4f && b[2] === 0xff && b[3] === 0x51)) return 'JPEG 2000';
  if (ascii(4, 4) === 'ftyp' && /^(heic|heix|hevc|hevx|heim|heis)$/.test(ascii(8, 4))) return 'HEIC';
  return undefined;
}

/**
 * Pillow's convert('RGB') of CMYK (Convert.c cmyk2rgb, Pillow 9.4) for pixels [i0, i1): with nk = 255 − K, each
 * channel is nk − round(ink · nk / 255) in Pillow's integer rounding. Extra channels (an alpha) are dropped.
 */
export function cmykToRgb(cmyk: Uint8Array, channels: number, rgb: Uint8Array, i0: number, i1: number): void {
  if (channels < 4) throw new ImageDecodeError(`a CMYK image with ${channels} channels`);
  for (let i = i0, s = i0 * channels, d = i0 * 3; i < i1; i++, s += channels, d += 3) {
    const nk = 255 - cmyk[s + 3]!;
    for (let c = 0; c < 3; c++) {
      const t = cmyk[s + c]! * nk + 128;
      rgb[d + c] = nk - (((t >> 8) + t) >> 8);
    }
  }
}

/** detectron2 ResizeShortestEdge output size (§2.2): [newH, newW]. */
export function shortestEdgeSize(h: number, w: number, minSize: number, maxSize: number): [number, number] {
  for (const [k, v] of [['height', h], ['width', w], ['minSize', minSize], ['maxSize', maxSize]] as const) {
    if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new SotrRangeError(`shortestEdgeSize: ${k} must be a positive number, received ${shownValue(v)}`);
  }
  const s = (minSize * 1.0) / Math.min(h, w);
  let newh: number;
  let neww: number;
  if (h < w) {
    newh = minSize;
    neww = s * w;
  } else {
    newh = s * h;
    neww = minSize;
  }
  if (Math.max(newh, neww) > maxSize) {
    const k = (maxSize * 1.0) / Math.max(newh, neww);
    newh *= k;
    neww *= k;
  }
  return [Math.trunc(newh + 0.5), Math.trunc(neww + 0.5)];
}

/** The network input as host data (prepareImage): the normalised, padded image and its sizes at each step. */
export interface PreparedImage {
  /** Normalised, zero-padded CHW float32 [3, Hp, Wp], channels in the config's inputFormat (BGR by default). */
  data: Float32Array;
  /** Resized size before padding (image_sizes). */
  height: number;
  width: number;
  paddedHeight: number;
  paddedWidth: number;
  /** Original (oriented) size. */
  originalHeight: number;
  originalWidth: number;
}

/** The network input as a CPU tensor [1, 3, Hp, Wp] (the caller owns it), and the sizes of PreparedImage. */
export interface PreparedTensor extends Omit<PreparedImage, 'data'> {
  tensor: Tensor;
}

/** The pre-processing constants (as in SotrConfig): resize sizes, padding multiple, channel order, mean and std. */
export interface PreprocessConfig {
  minSize: number;
  maxSize: number;
  sizeDivisibility: number;
  /** The channel order of the result (default 'BGR'); pixelMean and pixelStd are in this order. */
  inputFormat?: 'BGR' | 'RGB' | undefined;
  pixelMean: readonly number[];
  pixelStd: readonly number[];
}

/**
 * BGR (or RGB: inputFormat) conversion + resize + normalise + pad (§2.2–§2.3) into a CPU tensor, by the native pillowResize op on the CPU
 * queue (the JavaScript thread only copies the pixels into a tensor). The model moves the tensor to its device.
 * `img`: a DecodedImage (BGR), or (internal) the decoder's pixels.
 */
export async function prepareImageTensor(img: DecodedImage | DecodedPixels, c: PreprocessConfig, options: { signal?: AbortSignal } = {}): Promise<PreparedTensor> {
  checkOptions('prepareImageTensor', options, SIGNAL_ONLY); // a misspelt signal would silently not cancel
  const [h, w] = shortestEdgeSize(img.height, img.width, c.minSize, c.maxSize);
  if (h < 1 || w < 1) {
    // detectron2's ResizeShortestEdge rounds such a side to 0 and Pillow then refuses the resize: no result there either.
    throw new SotrRangeError(
      `the image is ${img.width}×${img.height}: at short side ${c.minSize} within long side ${c.maxSize} it would be ${w}×${h} pixels, ` +
        'too thin for the model (an aspect ratio above about 2666:1 at the default sizes)',
      'SOTR_IMAGE_SIZE',
    );
  }
  const px: Omit<DecodedPixels, 'width' | 'height'> = 'pixels' in img ? img : { pixels: img.bgr, channels: 3, order: 'bgr' };
  // Copied on the CPU thread, not this one (a 12-megapixel image is 36 MB: ~4 ms here, ~19 ms into fresh pages).
  const src = await Tensor.fromParts([px.pixels], [img.height, img.width, px.channels], 'uint8');
  if ('staged' in img && img.staged) releaseStaging(img.pixels); // copied into src
  let tensor: Tensor;
  try {
    tensor = await pillowResize(src, {
      size: [h, w],
      mean: c.pixelMean,
      std: c.pixelStd,
      padMultiple: Math.max(1, c.sizeDivisibility),
      // The op orders the channels as BGR from the source order it is told: told the other order, it gives RGB.
      toBgr: c.inputFormat === 'RGB' ? (px.order === 'rgb' ? 'bgr' : 'rgb') : px.order,
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } finally {
    src.dispose();
  }
  const [, , Hp, Wp] = tensor.shape as [number, number, number, number];
  return { tensor, height: h, width: w, paddedHeight: Hp, paddedWidth: Wp, originalHeight: img.height, originalWidth: img.width };
}

/** Resize + normalise + pad (§2.2–§2.3), as host data (prepareImageTensor, then a copy to the host). */
export async function prepareImage(img: DecodedImage | DecodedPixels, c: PreprocessConfig, options: { signal?: AbortSignal } = {}): Promise<PreparedImage> {
  checkOptions('prepareImage', options, SIGNAL_ONLY);
  const { tensor, ...sizes } = await prepareImageTensor(img, c, options);
  try {
    return { data: (await tensor.data()) as Float32Array, ...sizes };
  } finally {
    tensor.dispose();
  }
}
