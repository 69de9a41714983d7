/**
 * BitMasks: the mask format shared by the model, the CLI and the outputs.
 *
 * `count` masks of `height` x `width`, row-major, each row padded to whole
 * 64-bit words (`wordsPerRow` = ceil(width / 64)), least significant bit
 * first: pixel (x, y) of mask i is bit x % 64 of 64-bit word
 * (i * height + y) * wordsPerRow + floor(x / 64). Padding bits are zero.
 * `data` is the 64-bit view and `words` the 32-bit view (little-endian
 * halves) of the same memory. Per mask: `areas` (int32), `boxes` (int32,
 * [x0, y0, x1, y1] per mask with exclusive ends, [0, 0, 0, 0] when empty) and,
 * when the masks come from dynamicConvMasks, `softSums` (float32: the sum of
 * the sigmoid values inside the binary mask).
 */
import { SotrRangeError, SotrTypeError } from '../errors';
import { Tensor } from '../tensor';
import { Mask, checkBytes, copyWholeBits, maskStats, words32PerRow, type MaskBox } from './mask';
import { shownValue } from '../options';

/**
 * What the BitMasks constructor takes: the size, the bit-packed words (kept, not copied, unless a Uint32Array is not
 * 8-byte aligned) and optionally the per-mask stats.
 */
export interface BitMasksInit {
  count: number;
  height: number;
  width: number;
  /** Bit-packed words: count * height * wordsPerRow 64-bit words (or twice as many 32-bit ones); bits past the width zero. */
  data: BigUint64Array | Uint32Array;
  /** Must equal ceil(width / 64) when given. */
  wordsPerRow?: number | undefined;
  /** Computed from the bits when omitted; must describe them when given. */
  areas?: Int32Array | undefined;
  /** [x0, y0, x1, y1] per mask, exclusive ends; given together with `areas`. */
  boxes?: Int32Array | undefined;
  /** Sum of the sigmoid values inside each mask (dynamicConvMasks); null when unknown. */
  softSums?: Float32Array | null | undefined;
}

function dim(what: string, v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new SotrRangeError(`BitMasks: ${what} must be a non-negative integer, received ${shownValue(v)}`);
  return v as number;
}

/**
 * `count` binary masks of `height` x `width` in one buffer, bit-packed (rows padded to whole 64-bit words, least
 * significant bit first), with each mask's area and box. The format dynamicConvMasks returns on the host.
 */
export class BitMasks {
  /** Number of masks. */
  readonly count: number;
  /** Mask height in pixels. */
  readonly height: number;
  /** Mask width in pixels. */
  readonly width: number;
  /** 64-bit words per row: ceil(width / 64). */
  readonly wordsPerRow: number;
  /** The 64-bit words. */
  readonly data: BigUint64Array;
  /** The same memory as 32-bit words (2 per 64-bit word, low half first). */
  readonly words: Uint32Array;
  /** Set pixels per mask, [count]. */
  readonly areas: Int32Array;
  /** [x0, y0, x1, y1] per mask ([count * 4]), exclusive ends; [0, 0, 0, 0] for an empty mask. */
  readonly boxes: Int32Array;
  /** Sum of the sigmoid values inside each mask, [count], when the masks come from dynamicConvMasks; else null. */
  readonly softSums: Float32Array | null;

  constructor(init: BitMasksInit) {
    if (!init || typeof init !== 'object') throw new SotrTypeError('BitMasks: expected { count, height, width, data }');
    this.count = dim('count', init.count);
    this.height = dim('height', init.height);
    this.width = dim('width', init.width);
    this.wordsPerRow = Math.ceil(this.width / 64);
    if (init.wordsPerRow !== undefined && init.wordsPerRow !== this.wordsPerRow) {
      throw new SotrRangeError(`BitMasks: wordsPerRow must be ceil(width / 64) = ${this.wordsPerRow}, received ${init.wordsPerRow}`);
    }
    const n64 = this.count * this.height * this.wordsPerRow;
    const d = init.data;
    let words: Uint32Array;
    if (d instanceof BigUint64Array) {
      if (d.length !== n64) throw new SotrRangeError(`BitMasks: data needs ${n64} 64-bit words, received ${d.length}`);
      words = new Uint32Array(d.buffer, d.byteOffset, 2 * n64);
    } else if (d instanceof Uint32Array) {
      if (d.length !== 2 * n64) throw new SotrRangeError(`BitMasks: data needs ${2 * n64} 32-bit words, received ${d.length}`);
      words = d.byteOffset % 8 === 0 ? d : d.slice();
    } else {
      throw new SotrTypeError('BitMasks: data must be a BigUint64Array or a Uint32Array');
    }
    // Padding bits past the width must be zero, as Mask requires (areas and boxes would count them, and mask(i)
    // would refuse them): only each row's last used word and the one after it can hold any.
    if (this.width % 64 !== 0) {
      const stride = 2 * this.wordsPerRow;
      const lastWord = Math.floor((this.width - 1) / 32);
      const keep = this.width % 32 === 0 ? 0xffffffff : (1 << this.width % 32) - 1;
      const spare = lastWord + 1 < stride;
      for (let r = 0, b = 0; r < this.count * this.height; r++, b += stride) {
        if ((words[b + lastWord]! & ~keep) !== 0 || (spare && words[b + lastWord + 1] !== 0)) {
          throw new SotrRangeError(`BitMasks: mask ${Math.floor(r / this.height)} row ${r % this.height} has bits set past the width ${this.width}`);
        }
      }
    }
    this.words = words;
    this.data = new BigUint64Array(words.buffer, words.byteOffset, n64);
    const n = this.count;
    if (init.areas !== undefined || init.boxes !== undefined) {
      if (!(init.areas instanceof Int32Array) || init.areas.length !== n) throw new SotrRangeError(`BitMasks: areas must be an Int32Array of ${n}`);
      if (!(init.boxes instanceof Int32Array) || init.boxes.length !== 4 * n) throw new SotrRangeError(`BitMasks: boxes must be an Int32Array of ${4 * n}`);
      this.areas = init.areas;
      this.boxes = init.boxes;
    } else {
      this.areas = new Int32Array(n);
      this.boxes = new Int32Array(4 * n);
      const per = this.height * 2 * this.wordsPerRow;
      for (let i = 0; i < n; i++) {
        const s = maskStats(words, i * per, this.width, this.height);
        this.areas[i] = s.area;
        this.boxes.set(s.box, 4 * i);
      }
    }
    if (init.softSums != null) {
      if (!(init.softSums instanceof Float32Array) || init.softSums.length !== n) throw new SotrRangeError(`BitMasks: softSums must be a Float32Array of ${n}`);
      this.softSums = init.softSums;
    } else {
      this.softSums = null;
    }
  }

  /** From row-major bytes [count, height, width] (nonzero = set). */
  static fromUint8Array(bytes: ArrayLike<number>, count: number, height: number, width: number): BitMasks {
    checkBytes('BitMasks.fromUint8Array', bytes);
    dim('count', count);
    dim('height', height);
    dim('width', width);
    if (bytes.length !== count * height * width) {
      throw new SotrRangeError(`BitMasks.fromUint8Array: ${bytes.length} values do not fill [${count}, ${height}, ${width}]`);
    }
    const stride = words32PerRow(width);
    const words = new Uint32Array(count * height * stride);
    for (let r = 0; r < count * height; r++) {
      const src = r * width;
      const dst = r * stride;
      for (let x = 0; x < width; x++) if (bytes[src + x]) words[dst + (x >>> 5)] |= 1 << (x & 31);
    }
    return new BitMasks({ count, height, width, data: words });
  }

  /** Stacks single masks of one size. */
  static fromMasks(masks: readonly Mask[], size?: { height: number; width: number }): BitMasks {
    if (!Array.isArray(masks)) throw new SotrTypeError('BitMasks.fromMasks: masks must be an array of Mask');
    // Before its size is read (a stray first entry would otherwise read as "no masks").
    if (masks.length > 0 && !(masks[0] instanceof Mask)) throw new SotrTypeError('BitMasks.fromMasks: masks[0] is not a Mask');
    const height = masks[0]?.height ?? size?.height;
    const width = masks[0]?.width ?? size?.width;
    if (height === undefined || width === undefined) throw new SotrTypeError('BitMasks.fromMasks: no masks and no size');
    const per = height * words32PerRow(width);
    const words = new Uint32Array(masks.length * per);
    masks.forEach((m, i) => {
      if (!(m instanceof Mask)) throw new SotrTypeError(`BitMasks.fromMasks: masks[${i}] is not a Mask`);
      if (m.height !== height || m.width !== width) {
        throw new SotrRangeError(`BitMasks.fromMasks: masks[${i}] is ${m.height} x ${m.width}, expected ${height} x ${width}`);
      }
      // From the bits the mask keeps (`m.data` would expand a window and keep the whole image).
      copyWholeBits(m, words, i * per);
    });
    return new BitMasks({ count: masks.length, height, width, data: words });
  }

  #check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new SotrRangeError(`BitMasks: index ${i} is outside [0, ${this.count})`);
  }

  /** Mask i as a Mask (a copy). */
  mask(i: number): Mask {
    this.#check(i);
    const per = this.height * 2 * this.wordsPerRow;
    return new Mask(this.width, this.height, this.words.slice(i * per, (i + 1) * per));
  }

  /** Number of set pixels of mask i. */
  area(i: number): number {
    this.#check(i);
    return this.areas[i];
  }

  /** The box of mask i: [x0, y0, x1, y1], exclusive ends; [0, 0, 0, 0] when empty. */
  box(i: number): MaskBox {
    this.#check(i);
    return Array.from(this.boxes.subarray(4 * i, 4 * i + 4)) as MaskBox;
  }

  /** Whether pixel (x, y) of mask i is set; false outside the image. SotrRangeError for i outside [0, count). */
  get(i: number, x: number, y: number): boolean {
    this.#check(i);
    if (!(x >= 0 && x < this.width && y >= 0 && y < this.height)) return false;
    const stride = 2 * this.wordsPerRow;
    return ((this.words[(i * this.height + y) * stride + (x >>> 5)] >>> (x & 31)) & 1) === 1;
  }

  /** Row-major bytes [count, height, width], 1 = set. */
  toUint8Array(): Uint8Array {
    const { count, height, width } = this;
    const stride = 2 * this.wordsPerRow;
    const out = new Uint8Array(count * height * width);
    for (let r = 0; r < count * height; r++) {
      for (let x = 0; x < width; x++) out[r * width + x] = (this.words[r * stride + (x >>> 5)] >>> (x & 31)) & 1;
    }
    return out;
  }

  /** The bits as an int32 tensor [count, height, 2 * wordsPerRow] (the native ops' form). */
  toTensor(device: string = 'cpu'): Tensor {
    return Tensor.from(new Int32Array(this.words.buffer, this.words.byteOffset, this.words.length), [this.count, this.height, 2 * this.wordsPerRow], { device });
  }
}

/**
 * Bit masks still on a device (as dynamicConvMasks leaves them with
 * `keepOnDevice: true`): the same layout held in tensors, to chain into
 * matrixNms without a round trip. toHost() copies them into a BitMasks.
 */
export class DeviceBitMasks {
  /** Number of masks. */
  readonly count: number;
  /** Mask height in pixels. */
  readonly height: number;
  /** Mask width in pixels. */
  readonly width: number;
  /** 64-bit words per row: ceil(width / 64). */
  readonly wordsPerRow: number;
  /** int32 [count, height, 2 * wordsPerRow] */
  readonly bits: Tensor;
  /** int32 [count] */
  readonly areas: Tensor;
  /** float32 [count] */
  readonly softSums: Tensor;
  /** int32 [count, 4] */
  readonly boxes: Tensor;

  /** @internal Made by dynamicConvMasks. */
  constructor(width: number, bits: Tensor, areas: Tensor, softSums: Tensor, boxes: Tensor) {
    this.count = bits.shape[0];
    this.height = bits.shape[1];
    this.width = width;
    this.wordsPerRow = bits.shape[2] / 2;
    this.bits = bits;
    this.areas = areas;
    this.softSums = softSums;
    this.boxes = boxes;
  }

  /** The device the tensors live on ('cpu', 'cuda:0'). */
  get device(): string {
    return this.bits.device;
  }

  /** Whether dispose() has been called. */
  get disposed(): boolean {
    return this.bits.disposed;
  }

  /** Copies the bits and stats to the host as a BitMasks, after the work queued on the device (this one is kept). */
  async toHost(): Promise<BitMasks> {
    const [bits, areas, soft, boxes] = await Promise.all([this.bits.data(), this.areas.data(), this.softSums.data(), this.boxes.data()]);
    const w = bits as Int32Array;
    return new BitMasks({
      count: this.count,
      height: this.height,
      width: this.width,
      data: new Uint32Array(w.buffer, w.byteOffset, w.length),
      areas: areas as Int32Array,
      boxes: boxes as Int32Array,
      softSums: soft as Float32Array,
    });
  }

  /** Frees the four tensors. Idempotent. */
  dispose(): void {
    this.bits.dispose();
    this.areas.dispose();
    this.softSums.dispose();
    this.boxes.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}
