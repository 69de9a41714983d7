/**
 * Mask: one binary mask in the library's bit-packed format (see bitmasks.ts):
 * row-major, each row padded to whole 64-bit words, least significant bit
 * first, held as 32-bit little-endian halves (Uint32Array).
 */
import { SotrRangeError, SotrTypeError } from '../errors';
import { decodeRleCounts, encodeRleCounts, type CocoRle } from './rle';
import { shownValue } from '../options';

/** [x0, y0, x1, y1] in pixels, exclusive ends; [0, 0, 0, 0] for an empty mask. */
export type MaskBox = [number, number, number, number];

/** 32-bit words per row: rows are padded to whole 64-bit words. */
export function words32PerRow(width: number): number {
  return 2 * Math.ceil(width / 64);
}

export function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

function checkDim(what: string, v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new SotrRangeError(`Mask: ${what} must be a non-negative integer, received ${shownValue(v)}`);
  return v as number;
}

/** @internal Refuses `bytes` that are not array-like (null, a number), which would fail untyped on `.length`. */
export function checkBytes(name: string, bytes: unknown): void {
  if (!bytes || typeof bytes !== 'object' || typeof (bytes as ArrayLike<number>).length !== 'number') {
    throw new SotrTypeError(`${name}: bytes must be a Uint8Array or an array of numbers, received ${bytes === null ? 'null' : typeof bytes}`);
  }
}

/** Area and box of the bits of one mask (rows of `stride` 32-bit words at `offset`). */
export function maskStats(words: Uint32Array, offset: number, width: number, height: number): { area: number; box: MaskBox } {
  const stride = words32PerRow(width);
  let area = 0;
  let y0 = -1;
  let y1 = -1;
  let x0 = width;
  let x1 = -1;
  for (let y = 0; y < height; y++) {
    const base = offset + y * stride;
    let rowArea = 0;
    for (let w = 0; w < stride; w++) {
      const v = words[base + w];
      if (!v) continue;
      rowArea += popcount32(v);
      const first = w * 32 + (31 - Math.clz32(v & -v));
      const last = w * 32 + (31 - Math.clz32(v));
      if (first < x0) x0 = first;
      if (last > x1) x1 = last;
    }
    if (rowArea) {
      area += rowArea;
      if (y0 < 0) y0 = y;
      y1 = y;
    }
  }
  return { area, box: area ? [x0, y0, x1 + 1, y1 + 1] : [0, 0, 0, 0] };
}

/**
 * The part of a mask that holds all its set bits (`Mask#window`): rows [y, y + height) and columns [x, x + width) of
 * the image, `x` a multiple of 64, in the library's row layout (words32PerRow(width) 32-bit words a row, least
 * significant bit first, bits past `width` zero). Every pixel outside it is clear.
 */
export interface MaskWindow {
  x: number;
  y: number;
  width: number;
  height: number;
  data: Uint32Array;
}

/** @internal A window in 64-bit words: rows [y, y + rows), words [word, word + words) of each row. */
export interface WordWindow {
  y: number;
  rows: number;
  word: number;
  words: number;
}

/** @internal The tightest window around `box` (whole 64-bit words wide); all zeros for an empty box. */
export function wordWindowOfBox(box: MaskBox): WordWindow {
  const [x0, y0, x1, y1] = box;
  if (x1 <= x0 || y1 <= y0) return { y: 0, rows: 0, word: 0, words: 0 };
  const word = Math.floor(x0 / 64);
  return { y: y0, rows: y1 - y0, word, words: Math.floor((x1 - 1) / 64) - word + 1 };
}

// Set while packedMask() constructs: the library's own bits skip the padding check.
let trusted = false;
// Set while packedMask() or fromWindow() constructs a mask that keeps a window only: the constructor takes these
// bits instead of the whole image's.
let pendingWindow: { win: WordWindow; bits: Uint32Array } | undefined;
let setStats: (m: Mask, stats: { area: number; box: MaskBox }, rle: string | undefined) => void;
let readWindow: (m: Mask) => { win: WordWindow; bits: Uint32Array };
let readRle: (m: Mask) => string | undefined;

/**
 * Internal (not exported by the package): wraps bit-packed bits the library made, whose padding is known to be zero,
 * with their area and box already computed (resizeMasks' second output), and their COCO RLE string when the
 * caller asked for it (maskRle), so 100 full-size masks are not scanned again on the JavaScript thread. With
 * `window`, `data` holds only the window's rows and words (cropMasks' layout) and every bit outside it is clear.
 */
export function packedMask(
  width: number,
  height: number,
  data: Uint32Array,
  stats: { area: number; box: MaskBox },
  rle?: string,
  window?: WordWindow,
): Mask {
  trusted = true;
  pendingWindow = window && { win: window, bits: data };
  try {
    const m = new Mask(width, height, window ? undefined : data);
    setStats(m, stats, rle);
    return m;
  } finally {
    trusted = false;
    pendingWindow = undefined;
  }
}

/** @internal The mask's window (in 64-bit words) and its bits, as stored (not copied). */
export function maskWindowBits(m: Mask): { win: WordWindow; bits: Uint32Array } {
  return readWindow(m);
}

/**
 * @internal Writes the mask's bits as whole-image rows (words32PerRow(width) 32-bit words each) into `dst` from
 * `offset`; `dst` must be zero there already (only the window's rows and words are written).
 */
export function copyWholeBits(m: Mask, dst: Uint32Array, offset: number): void {
  const { win, bits } = readWindow(m);
  const stride = words32PerRow(m.width);
  if (bits.length === stride * m.height) {
    dst.set(bits, offset);
    return;
  }
  const n = 2 * win.words;
  for (let r = 0; r < win.rows; r++) dst.set(bits.subarray(r * n, (r + 1) * n), offset + (win.y + r) * stride + 2 * win.word);
}

/** @internal The COCO RLE string stored with the mask (predict's `rle`), if any. */
export function storedRle(m: Mask): string | undefined {
  return readRle(m);
}

/**
 * One binary mask of `width` x `height`, bit-packed (rows padded to whole 64-bit words, least significant bit first).
 * `predict` gives one per instance; make your own with the constructor, fromUint8Array() or fromRLE().
 */
export class Mask {
  static {
    setStats = (m, stats, rle) => {
      m.#stats = stats;
      m.#rle = rle;
    };
    readWindow = (m) => ({ win: m.#win, bits: m.#bits });
    readRle = (m) => m.#rle;
  }

  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  // The bits are kept for a window of the image only (the library's masks: their box, whole 64-bit words wide),
  // or for the whole image (#win covers it); `data` expands a window to the whole image on first use.
  #win: WordWindow;
  #bits: Uint32Array;
  #stats: { area: number; box: MaskBox } | undefined;
  // COCO RLE string computed natively with the mask (predict's `rle`, default true); masks are not meant to be edited.
  #rle: string | undefined;

  /**
   * Wraps bit-packed data of the whole image (taken, not copied; zeros when omitted). Padding bits past the width
   * must be zero.
   */
  constructor(width: number, height: number, data?: Uint32Array) {
    this.width = checkDim('width', width);
    this.height = checkDim('height', height);
    const stride = words32PerRow(width);
    if (pendingWindow) {
      const { win, bits } = pendingWindow;
      if (win.y + win.rows > height || 64 * (win.word + win.words) >= width + 64 || bits.length !== win.rows * 2 * win.words) {
        throw new SotrRangeError(`Mask: window ${JSON.stringify(win)} with ${bits.length} words does not fit ${width} x ${height}`);
      }
      this.#win = win.rows && win.words ? { ...win } : { y: 0, rows: 0, word: 0, words: 0 };
      this.#bits = win.rows && win.words ? bits : new Uint32Array(0);
      return;
    }
    if (data === undefined) {
      try {
        data = new Uint32Array(stride * height);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        throw new SotrRangeError(`Mask: ${width} x ${height} is too large to hold (${4 * stride * height} bytes of bits)`);
      }
    }
    if (!(data instanceof Uint32Array)) throw new SotrTypeError('Mask: data must be a Uint32Array of bit-packed rows');
    if (data.length !== stride * height) {
      throw new SotrRangeError(`Mask: ${height} rows of width ${width} need ${stride * height} 32-bit words, received ${data.length}`);
    }
    const used = width % 64;
    if (!trusted && used !== 0 && height > 0) {
      // Check that the padding of each row is zero.
      const lastWord = Math.floor((width - 1) / 32);
      const keep = width % 32 === 0 ? 0xffffffff : (1 << width % 32) - 1;
      for (let y = 0; y < height; y++) {
        const b = y * stride;
        if ((data[b + lastWord] & ~keep) !== 0 || (lastWord + 1 < stride && data[b + lastWord + 1] !== 0)) {
          throw new SotrRangeError(`Mask: row ${y} has bits set past the width ${width}`);
        }
      }
    }
    this.#win = { y: 0, rows: height, word: 0, words: stride / 2 };
    this.#bits = data;
  }

  /**
   * A mask of `width` x `height` whose set bits all lie in `window` (`mask.window` of another mask, e.g. sent
   * to another thread); the window's data is taken, not copied.
   */
  static fromWindow(width: number, height: number, window: MaskWindow): Mask {
    checkDim('width', width);
    checkDim('height', height);
    if (!window || typeof window !== 'object') throw new SotrTypeError('Mask.fromWindow: window must be { x, y, width, height, data }');
    const { x, y } = window;
    checkDim('window x', x);
    checkDim('window y', y);
    // The window's own layout (and its padding) is checked as a mask of its size.
    const inner = new Mask(window.width, window.height, window.data);
    if (x % 64 !== 0) throw new SotrRangeError(`Mask.fromWindow: window x must be a multiple of 64, received ${x}`);
    if (x + inner.width > width || y + inner.height > height) {
      throw new SotrRangeError(`Mask.fromWindow: the window ${inner.width} x ${inner.height} at (${x}, ${y}) is not inside ${width} x ${height}`);
    }
    pendingWindow = { win: { y, rows: inner.height, word: x / 64, words: words32PerRow(inner.width) / 2 }, bits: inner.#bits };
    try {
      return new Mask(width, height);
    } finally {
      pendingWindow = undefined;
    }
  }

  /**
   * All the mask's set bits: its bits as stored, and where they lie in the image. A mask from `predict` keeps only
   * its box's rows and 64-bit words (100 object masks of a 12-megapixel photo: 27 MB instead of 144 MB); a mask
   * made from whole bits, the whole image. Not a copy: do not modify it.
   */
  get window(): MaskWindow {
    const w = this.#win;
    if (!w.rows || !w.words) return { x: 0, y: 0, width: 0, height: 0, data: this.#bits };
    return { x: 64 * w.word, y: w.y, width: Math.min(64 * w.words, this.width - 64 * w.word), height: w.rows, data: this.#bits };
  }

  /**
   * Bit-packed rows of the whole image: words32PerRow(width) 32-bit words a row, least significant bit first. A mask
   * that keeps only its window (see `window`) builds this on first use and keeps it (width x height / 8 bytes).
   */
  get data(): Uint32Array {
    const stride = words32PerRow(this.width);
    if (this.#bits.length === stride * this.height) return this.#bits; // a window only that size is the whole image
    const full = new Uint32Array(stride * this.height);
    copyWholeBits(this, full, 0);
    this.#win = { y: 0, rows: this.height, word: 0, words: stride / 2 };
    this.#bits = full;
    return full;
  }

  /** From row-major bytes (nonzero = set), height x width. */
  static fromUint8Array(bytes: ArrayLike<number>, width: number, height: number): Mask {
    checkBytes('Mask.fromUint8Array', bytes);
    checkDim('width', width);
    checkDim('height', height);
    if (bytes.length !== width * height) {
      throw new SotrRangeError(`Mask.fromUint8Array: ${bytes.length} values do not fill ${height} x ${width}`);
    }
    // The box first, then only its window is allocated and filled.
    let area = 0;
    let [x0, y0, x1, y1] = [width, height, -1, -1];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (!bytes[y * width + x]) continue;
        area++;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
    const box: MaskBox = area ? [x0, y0, x1 + 1, y1 + 1] : [0, 0, 0, 0];
    const win = wordWindowOfBox(box);
    const stride = 2 * win.words;
    const bits = new Uint32Array(win.rows * stride);
    for (let y = box[1]; y < box[3]; y++) {
      for (let x = box[0]; x < box[2]; x++) {
        const wx = x - 64 * win.word;
        if (bytes[y * width + x]) bits[(y - win.y) * stride + (wx >>> 5)] |= 1 << (wx & 31);
      }
    }
    return packedMask(width, height, bits, { area, box }, undefined, win);
  }

  /**
   * From COCO RLE: a { size: [h, w], counts } object, or the counts string
   * with the size given as [height, width] (given with an object, it must equal the object's). The mask keeps the
   * window of its box (see `window`).
   */
  static fromRLE(rle: CocoRle | string, size?: readonly [number, number]): Mask {
    let counts: string;
    let h: number;
    let w: number;
    if (size != null && (!Array.isArray(size) || size.length !== 2)) {
      throw new SotrTypeError(`Mask.fromRLE: size must be [height, width], received ${JSON.stringify(size) ?? String(size)}`);
    }
    if (typeof rle === 'string') {
      if (!size) throw new SotrTypeError('Mask.fromRLE: a counts string needs size [height, width]');
      counts = rle;
      [h, w] = size;
    } else if (rle && typeof rle === 'object' && typeof rle.counts === 'string' && Array.isArray(rle.size)) {
      counts = rle.counts;
      [h, w] = rle.size;
      // A size given with an object was ignored: one that disagrees is a mistake about which mask this is.
      if (size && (size[0] !== h || size[1] !== w)) {
        throw new SotrRangeError(`Mask.fromRLE: size [${size[0]}, ${size[1]}] disagrees with the RLE's size [${String(h)}, ${String(w)}]`);
      }
    } else {
      throw new SotrTypeError('Mask.fromRLE: expected { size: [height, width], counts: string } or a counts string');
    }
    checkDim('height', h);
    checkDim('width', w);
    const runs = decodeRleCounts(counts);
    let total = 0; // decodeRleCounts refuses negative runs
    for (const n of runs) total += n;
    if (total !== h * w) throw new SotrRangeError(`Mask.fromRLE: runs cover ${total} pixels, the size ${h} x ${w} has ${h * w}`);
    // The box from the runs of 1s (column-major: a run within one column spans its rows; a run over two columns or
    // more spans every row), then only its window is allocated and filled, a column segment at a time.
    let area = 0;
    let [x0, y0, x1, y1] = [w, h, -1, -1];
    for (let i = 1, p = runs[0] ?? 0; i < runs.length; p += runs[i]!, i++) {
      const n = runs[i]!;
      if (i % 2 === 0 || n === 0) continue;
      area += n;
      const c0 = Math.floor(p / h);
      const c1 = Math.floor((p + n - 1) / h);
      if (c0 < x0) x0 = c0;
      if (c1 > x1) x1 = c1;
      if (c0 === c1) {
        if (p - c0 * h < y0) y0 = p - c0 * h;
        if (p + n - 1 - c0 * h > y1) y1 = p + n - 1 - c0 * h;
      } else {
        y0 = 0;
        y1 = h - 1;
      }
    }
    const box: MaskBox = area ? [x0, y0, x1 + 1, y1 + 1] : [0, 0, 0, 0];
    const win = wordWindowOfBox(box);
    const stride = 2 * win.words;
    const bits = new Uint32Array(win.rows * stride);
    for (let i = 1, p = runs[0] ?? 0; i < runs.length; p += runs[i]!, i++) {
      if (i % 2 === 0) continue;
      const end = p + runs[i]!;
      for (let q = p; q < end; ) {
        const x = Math.floor(q / h);
        const wx = x - 64 * win.word;
        const bit = 1 << (wx & 31);
        const colEnd = Math.min(end, (x + 1) * h);
        let o = (q - x * h - win.y) * stride + (wx >>> 5);
        for (; q < colEnd; q++, o += stride) bits[o] |= bit;
      }
    }
    return packedMask(w, h, bits, { area, box }, undefined, win);
  }

  /** 64-bit words per row of `data`: ceil(width / 64). */
  get wordsPerRow(): number {
    return words32PerRow(this.width) / 2;
  }

  #computeStats(): { area: number; box: MaskBox } {
    if (!this.#stats) {
      const { x, y, width, height, data } = this.window;
      const st = maskStats(data, 0, width, height);
      const [x0, y0, x1, y1] = st.box;
      this.#stats = st.area ? { area: st.area, box: [x0 + x, y0 + y, x1 + x, y1 + y] } : st;
    }
    return this.#stats;
  }

  /** Number of set pixels. */
  get area(): number {
    return this.#computeStats().area;
  }

  /** [x0, y0, x1, y1], exclusive ends; [0, 0, 0, 0] when empty. */
  get box(): MaskBox {
    return this.#computeStats().box.slice() as MaskBox;
  }

  /** Whether pixel (x, y) is set; false outside the image. */
  get(x: number, y: number): boolean {
    if (!(x >= 0 && x < this.width && y >= 0 && y < this.height)) return false;
    // Fractional coordinates (a pointer on a canvas) name the pixel they fall in, in both directions.
    x = Math.floor(x);
    y = Math.floor(y);
    const w = this.#win;
    const wx = x - 64 * w.word;
    const wy = y - w.y;
    if (wy < 0 || wy >= w.rows || wx < 0 || wx >= 64 * w.words) return false;
    return ((this.#bits[wy * 2 * w.words + (wx >>> 5)]! >>> (wx & 31)) & 1) === 1;
  }

  /**
   * Row-major bytes, 1 = set: a new array of width × height bytes, made on the calling thread (about 2 ms for a
   * 640 × 480 mask on a slow core, most of it the array itself). `mask.window` (the bits around the object only)
   * avoids the full-size copy.
   */
  toUint8Array(): Uint8Array {
    const { width: W, height: H } = this;
    const out = new Uint8Array(W * H);
    // Only the window, and only the set bits (the array starts zeroed): an object's mask is written in a fraction of
    // the time a pixel-by-pixel pass over the image takes.
    const { x, y, height, data } = this.window;
    const stride = 2 * this.#win.words;
    for (let r = 0; r < height; r++) {
      for (let k = 0; k < stride; k++) {
        let v = data[r * stride + k]!;
        while (v) {
          const b = 31 - Math.clz32(v & -v);
          v &= v - 1;
          out[(y + r) * W + x + k * 32 + b] = 1;
        }
      }
    }
    return out;
  }

  /** Run lengths in COCO order (column-major, starting with a run of 0s). */
  rleRuns(): number[] {
    const { width: W, height: H } = this;
    const { x: wx, y: wy, width: ww, height: wh, data } = this.window;
    const stride = 2 * this.#win.words;
    const runs: number[] = [];
    let cur = 0;
    let len = 0;
    // n pixels of value v next in column-major order.
    const add = (v: number, n: number): void => {
      if (n === 0) return;
      if (v !== cur) {
        runs.push(len);
        len = 0;
        cur = v;
      }
      len += n;
    };
    for (let x = 0; x < W; x++) {
      if (x < wx || x >= wx + ww) {
        add(0, H); // a column outside the window is clear
        continue;
      }
      const word = (x - wx) >>> 5;
      const bit = (x - wx) & 31;
      add(0, wy);
      for (let r = 0; r < wh; r++) add((data[r * stride + word]! >>> bit) & 1, 1);
      add(0, H - wy - wh);
    }
    runs.push(len);
    return runs;
  }

  /**
   * COCO's compressed RLE string (the `counts` pycocotools writes). A mask from `predict` returns the string encoded
   * natively with the prediction (unless it ran with `rle: false`); any other mask is scanned on the calling thread
   * (about 1.6 ms for a 640 x 480 mask, 45 ms at 12 megapixels): `masksToRLE(masks)` encodes them natively.
   */
  toRLE(): string {
    return this.#rle ?? encodeRleCounts(this.rleRuns());
  }

  /** COCO's RLE object: { size: [height, width], counts }. */
  toCocoRLE(): CocoRle {
    return { size: [this.height, this.width], counts: this.toRLE() };
  }

  /**
   * What `JSON.stringify` writes for a mask (a prediction sent as JSON, `res.json(result)`): its COCO RLE object,
   * `{ size: [height, width], counts }`, which `Mask.fromRLE` reads back. (Its fields alone would say only the size.)
   */
  toJSON(): CocoRle {
    return this.toCocoRLE();
  }
}
