/**
 * Tensor: a dtype, a shape and device memory owned by the native runtime.
 * Free it with dispose() (or `using` / `await using`); the garbage collector
 * is only a safety net. Disposing while queued work still reads the tensor is
 * safe: the memory returns to the pool when that work completes.
 */
import { isMainThread } from 'node:worker_threads';
import { DisposedError, DTypeError, ShapeError, SotrRangeError, SotrTypeError } from './errors';
import { concreteDevice, resolveDevice, type DeviceSpec } from './device';
import { native, type NativeTensorHandle } from './native';
import { inlineCall } from './inline_turn';
import { deferredScopeId } from './deferred';
import { typedNative, typedNativeAsync } from './native_errors';
import { checkOptions, keysOf } from './options';

/** A tensor's element type. 'float16' and 'bfloat16' are held in Uint16Array on the host. */
export type DType = 'float32' | 'float16' | 'bfloat16' | 'uint8' | 'int32';
/** Host data of a tensor, by dtype: Float32Array, Uint16Array (float16, bfloat16), Uint8Array or Int32Array. */
export type TensorData = Float32Array | Uint16Array | Uint8Array | Int32Array;
/** The host data of each dtype: what `Tensor<D>#data()` resolves to. */
export interface TensorDataOf {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  uint8: Uint8Array;
  int32: Int32Array;
}

const DTYPES: Record<DType, { bytes: number; ctor: { new (b: ArrayBuffer, o?: number, l?: number): TensorData; BYTES_PER_ELEMENT: number } }> = {
  float32: { bytes: 4, ctor: Float32Array },
  float16: { bytes: 2, ctor: Uint16Array },
  bfloat16: { bytes: 2, ctor: Uint16Array },
  uint8: { bytes: 1, ctor: Uint8Array },
  int32: { bytes: 4, ctor: Int32Array },
};

/** Options of Tensor.from() and Tensor.zeros(). */
export interface TensorFromOptions {
  /** Where the tensor lives (default 'cpu'). */
  device?: DeviceSpec | string | undefined;
  /** Required for Uint16Array data ('float16' or 'bfloat16'); inferred otherwise. */
  dtype?: DType | undefined;
}

/** TensorFromOptions whose dtype, when given, is `D`. */
export type TensorFromOptionsOf<D extends DType> = Omit<TensorFromOptions, 'dtype'> & { dtype?: D | undefined };

const FROM_OPTIONS = keysOf<TensorFromOptions>()('device', 'dtype');

/** An entry as returned by readCheckpoint(). */
export interface HostEntry {
  shape: readonly number[];
  dtype: string;
  data: ArrayLike<number | bigint> & { length: number };
}

function inferDType(data: unknown, dtype?: DType): DType {
  if (data instanceof Float32Array) return dtype && dtype !== 'float32' ? bad(dtype, 'Float32Array') : 'float32';
  if (data instanceof Int32Array) return dtype && dtype !== 'int32' ? bad(dtype, 'Int32Array') : 'int32';
  if (data instanceof Uint8Array) return dtype && dtype !== 'uint8' ? bad(dtype, 'Uint8Array') : 'uint8';
  if (data instanceof Uint16Array) {
    if (dtype === 'float16' || dtype === 'bfloat16') return dtype;
    throw new DTypeError(`Tensor.from: Uint16Array data needs dtype 'float16' or 'bfloat16', received ${dtype ?? 'none'}`);
  }
  // Another typed array (Float64Array, Int16Array, ...) has no tensor dtype: say how to convert it.
  const hint = ArrayBuffer.isView(data) && !(data instanceof DataView) ? ` (convert it first, e.g. Float32Array.from(data), or pass a number array with options.dtype)` : '';
  throw new SotrTypeError(
    `Tensor.from: data must be a Float32Array, Int32Array, Uint8Array or Uint16Array (or an array of numbers), received ${Object.prototype.toString.call(data)}${hint}`,
  );
}

// A plain array of numbers as the typed array of `dtype`: floats rounded to nearest even (float16 / bfloat16 as
// their bits), integers checked (a fraction or a value out of range would otherwise wrap or truncate in silence).
function fromNumbers(data: readonly number[], dtype: DType): TensorData {
  const int = (lo: number, hi: number, Ctor: Int32ArrayConstructor | Uint8ArrayConstructor): TensorData => {
    const out = new Ctor(data.length);
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (!Number.isInteger(v) || v < lo || v > hi) {
        throw new SotrRangeError(`Tensor.from: element ${i} (${String(v)}) is not ${dtype === 'int32' ? 'an' : 'a'} ${dtype} value (integers ${lo}..${hi})`);
      }
      out[i] = v;
    }
    return out;
  };
  switch (dtype) {
    case 'float32':
      return Float32Array.from(data);
    case 'int32':
      return int(-0x80000000, 0x7fffffff, Int32Array);
    case 'uint8':
      return int(0, 255, Uint8Array);
    case 'float16':
      return Uint16Array.from(data, floatToHalfBits);
    case 'bfloat16':
      return Uint16Array.from(data, floatToBf16Bits);
    default:
      throw new DTypeError(`Tensor.from: unknown dtype '${String(dtype)}'`);
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of a number, rounded to nearest even (as torch's .half()). */
export function floatToHalfBits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // ±Inf, NaN (quiet)
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00; // too large: ±Inf
  if (e <= 0) {
    // a subnormal half, or ±0
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is right (up to Inf)
  return sign | h;
}

/** bfloat16 bits of a number, rounded to nearest even (as torch's .bfloat16()). */
export function floatToBf16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff; // NaN stays NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

function bad(dtype: string, arr: string): never {
  throw new DTypeError(`Tensor.from: dtype '${dtype}' does not match ${arr} data`);
}

export function checkShape(shape: unknown, what = 'shape'): number[] {
  if (!Array.isArray(shape)) throw new SotrTypeError(`${what} must be an array of non-negative integers`);
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new ShapeError(`${what} must hold non-negative integers, received [${shape.join(', ')}]`);
  }
  return shape.slice() as number[];
}

/**
 * A dtype, a shape and memory on one device, owned by the native runtime. Free it with dispose() (or `using` /
 * `await using`); the garbage collector is only a safety net. `D`, the dtype, is known to the compiler for a tensor
 * made by Tensor.from / Tensor.zeros (and its views and copies), so that `data()` resolves to its own typed array;
 * an op's result is a `Tensor` of any dtype, whose `data()` resolves to the union `TensorData`.
 */
export class Tensor<D extends DType = DType> {
  #handle: NativeTensorHandle | null;
  /** The element type. */
  readonly dtype: D;
  /** The dimensions (frozen), row-major; NCHW for images and feature maps. */
  readonly shape: readonly number[];
  /** The concrete device the memory lives on ('cpu', 'cuda:0'). */
  readonly device: string;

  /** @internal Wraps a native handle; use Tensor.from() or an op. */
  constructor(handle: NativeTensorHandle) {
    if (!handle || typeof handle !== 'object' || !('release' in handle)) {
      throw new SotrTypeError('Tensor: use Tensor.from(data, shape, options) to make a tensor');
    }
    this.#handle = handle;
    this.dtype = handle.dtype as D;
    this.shape = Object.freeze(handle.shape.slice());
    this.device = handle.device;
  }

  /**
   * Copies host data into a new tensor on the device (default 'cpu'). A plain array of numbers becomes `options.dtype`
   * (default float32): float16 / bfloat16 rounded to nearest even, int32 / uint8 only from integers in range.
   */
  static from(data: Float32Array, shape: readonly number[], options?: TensorFromOptionsOf<'float32'>): Tensor<'float32'>;
  static from(data: Int32Array, shape: readonly number[], options?: TensorFromOptionsOf<'int32'>): Tensor<'int32'>;
  static from(data: Uint8Array, shape: readonly number[], options?: TensorFromOptionsOf<'uint8'>): Tensor<'uint8'>;
  /** Uint16Array data are float16 or bfloat16 bits: `options.dtype` says which. */
  static from<D extends 'float16' | 'bfloat16'>(data: Uint16Array, shape: readonly number[], options: TensorFromOptionsOf<D> & { dtype: D }): Tensor<D>;
  static from<D extends DType = 'float32'>(data: readonly number[], shape: readonly number[], options?: TensorFromOptionsOf<D>): Tensor<D>;
  /**
   * Data of a type only known as a union (TensorData): a tensor of any dtype. A Uint16Array alone needs its dtype
   * (the overload above): this one refuses it (`never`), as the runtime does.
   */
  static from<A extends TensorData | readonly number[]>(data: A & ([A] extends [Uint16Array] ? never : unknown), shape: readonly number[], options?: TensorFromOptions): Tensor;
  /** Uint16Array data with a dtype known only at run time (a DType variable). */
  static from(data: Uint16Array, shape: readonly number[], options: TensorFromOptions & { dtype: DType }): Tensor;
  static from(data: TensorData | readonly number[], shape: readonly number[], options: TensorFromOptions = {}): Tensor {
    checkOptions('Tensor.from', options, FROM_OPTIONS);
    const s = checkShape(shape as number[]);
    // (Array.isArray does not narrow a readonly array: hence the casts.)
    let arr: TensorData = Array.isArray(data) ? fromNumbers(data as readonly number[], options.dtype ?? 'float32') : (data as TensorData);
    const dtype = inferDType(arr, options.dtype);
    // The addon reads an ArrayBuffer's memory only (a SharedArrayBuffer's failed as a plain "Invalid argument"): such
    // data is copied first, as it is copied into the tensor anyway.
    if (typeof SharedArrayBuffer !== 'undefined' && arr.buffer instanceof SharedArrayBuffer) arr = arr.slice();
    const n = s.reduce((a, b) => a * b, 1);
    if (arr.length !== n) {
      throw new ShapeError(`Tensor.from: ${arr.length} elements do not fill shape [${s.join(', ')}] (${n} elements)`);
    }
    const device = options.device === undefined ? 'cpu' : concreteOrResolve(options.device);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
    } catch (e) {
      // V8 caps a byte view's length (4 GiB in Node 20) below an ArrayBuffer's: such data cannot reach the addon.
      throw new SotrRangeError(`Tensor.from: ${arr.byteLength} bytes of data are more than one JavaScript byte view can hold here (${(e as Error).message}); make smaller tensors`);
    }
    return typedNative(() => new Tensor(native().fromHost(bytes, dtype, s, device)));
  }

  /**
   * @internal A CPU tensor holding the parts' elements one after another, copied off the JavaScript thread. The parts
   * must stay unchanged until the promise settles (the caller holds them meanwhile).
   */
  static async fromParts(parts: readonly TensorData[], shape: readonly number[], dtype: DType): Promise<Tensor> {
    const s = checkShape(shape as number[]);
    // In a worker_thread the copy is made at the call (its environment may be torn down under a copy made later).
    return typedNativeAsync(async () => new Tensor(await native().fromHostParts([...parts], dtype, s, !isMainThread)));
  }

  /** A tensor of zeros. */
  static zeros<D extends DType = 'float32'>(shape: readonly number[], options?: TensorFromOptionsOf<D>): Tensor<D>;
  static zeros(shape: readonly number[], options: TensorFromOptions = {}): Tensor {
    checkOptions('Tensor.zeros', options, FROM_OPTIONS);
    const s = checkShape(shape as number[]);
    const dtype = options.dtype ?? 'float32';
    const n = s.reduce((a, b) => a * b, 1);
    const Ctor = DTYPES[dtype]?.ctor;
    if (!Ctor) throw new DTypeError(`Tensor.zeros: unknown dtype '${dtype}'`);
    // A shape too large for one JavaScript buffer (or for the memory left) failed with V8's RangeError, no code.
    const bytes = n * Ctor.BYTES_PER_ELEMENT;
    if (!Number.isSafeInteger(bytes)) throw new SotrRangeError(`Tensor.zeros: shape [${s.join(', ')}] of ${dtype} would hold more than 2^53 bytes`);
    let zeros: TensorData;
    try {
      zeros = new Ctor(new ArrayBuffer(bytes));
    } catch (e) {
      throw new SotrRangeError(`Tensor.zeros: cannot allocate shape [${s.join(', ')}] of ${dtype} (${bytes} bytes) in one JavaScript buffer: ${(e as Error).message}`);
    }
    return Tensor.from(zeros, s, options);
  }

  /**
   * Turns a checkpoint entry into a tensor. float32/float16/bfloat16/uint8/int32
   * keep their dtype; float64 becomes float32; int64 becomes int32 when every
   * value fits (else a RangeError). `dtype: 'float32'` converts 16-bit floats.
   */
  static fromEntry(entry: HostEntry, options: TensorFromOptions = {}): Tensor {
    checkOptions('Tensor.fromEntry', options, FROM_OPTIONS);
    const shape = checkShape(entry.shape as number[], 'entry.shape');
    const d = entry.data as unknown;
    if (!ArrayBuffer.isView(d) && !Array.isArray(d)) {
      throw new SotrTypeError(`Tensor.fromEntry: entry.data must be a typed array, received ${Object.prototype.toString.call(d)}`);
    }
    let data: TensorData;
    let dtype: DType;
    switch (entry.dtype) {
      case 'float32':
        data = d as Float32Array;
        dtype = 'float32';
        break;
      case 'float64':
        data = Float32Array.from(d as Float64Array);
        dtype = 'float32';
        break;
      case 'float16':
      case 'bfloat16':
        if (options.dtype === 'float32') {
          data = entry.dtype === 'float16' ? halfToFloat(d as Uint16Array) : bf16ToFloat(d as Uint16Array);
          dtype = 'float32';
        } else {
          data = d as Uint16Array;
          dtype = entry.dtype;
        }
        break;
      case 'int64': {
        const src = d as BigInt64Array;
        const out = new Int32Array(src.length);
        for (let i = 0; i < src.length; i++) {
          const v = src[i];
          if (v > 2147483647n || v < -2147483648n) throw new SotrRangeError(`Tensor.fromEntry: int64 value ${v} does not fit int32`);
          out[i] = Number(v);
        }
        data = out;
        dtype = 'int32';
        break;
      }
      case 'int32':
        data = d as Int32Array;
        dtype = 'int32';
        break;
      case 'uint8':
      case 'bool':
        data = d as Uint8Array;
        dtype = 'uint8';
        break;
      default:
        throw new DTypeError(`Tensor.fromEntry: unsupported dtype '${entry.dtype}'`);
    }
    return Tensor.from(data, shape, { device: options.device, dtype });
  }

  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Whether dispose() has been called; a disposed tensor throws DisposedError when used. */
  get disposed(): boolean {
    return this.#handle === null;
  }

  /** @internal The native handle; throws DisposedError after dispose(). */
  get handle(): NativeTensorHandle {
    if (!this.#handle) throw new DisposedError(`Tensor [${this.shape.join(', ')}] ${this.dtype}`);
    return this.#handle;
  }

  /** Copies the data to the host, after all work queued before on its device. */
  async data(): Promise<TensorDataOf[D]> {
    const h = this.handle;
    const buf: ArrayBuffer = await typedNativeAsync(() => inlineCall(() => native().toHost(h, deferredScopeId(this.device))));
    const Ctor = DTYPES[this.dtype].ctor;
    return new Ctor(buf, 0, buf.byteLength / Ctor.BYTES_PER_ELEMENT) as TensorDataOf[D];
  }

  /** A copy on another device (a new tensor; this one is unchanged). */
  async to(device: DeviceSpec | string): Promise<Tensor<D>> {
    const h = this.handle;
    const target = concreteOrResolve(device);
    return typedNativeAsync(async () => new Tensor<D>(await native().copyTo(h, target, deferredScopeId(this.device))));
  }

  /**
   * A tensor of another shape with the same elements, sharing memory (no copy).
   * One dimension may be -1 (inferred). Disposing either does not free the other.
   */
  reshape(shape: readonly number[]): Tensor<D> {
    const h = this.handle;
    const total = this.size;
    if (!Array.isArray(shape)) throw new SotrTypeError('reshape: shape must be an array of non-negative integers (one may be -1)');
    const dims = shape.slice() as number[];
    const free = dims.indexOf(-1);
    if (free >= 0 && dims.indexOf(-1, free + 1) >= 0) throw new ShapeError(`reshape: only one dimension may be -1, received [${shape.join(', ')}]`);
    if (dims.some((d) => d !== -1 && (!Number.isSafeInteger(d) || d < 0))) {
      throw new ShapeError(`reshape: shape must hold non-negative integers (one may be -1), received [${shape.join(', ')}]`);
    }
    if (free >= 0) {
      const rest = dims.reduce((a, d, i) => (i === free ? a : a * d), 1);
      if (rest === 0 || total % rest !== 0) throw new ShapeError(`reshape: cannot infer -1 in [${shape.join(', ')}] for ${total} elements`);
      dims[free] = total / rest;
    }
    const s = checkShape(dims, 'reshape: shape');
    const n = s.reduce((a, b) => a * b, 1);
    if (n !== total) throw new ShapeError(`reshape: [${this.shape.join(', ')}] (${total} elements) cannot become [${shape.join(', ')}] (${n} elements)`);
    return typedNative(() => new Tensor<D>(native().view(h, s, 0)));
  }

  /** Rows [start, end) along the first dimension, sharing memory (no copy). */
  narrow(start: number, end: number): Tensor<D> {
    const h = this.handle;
    if (this.shape.length === 0) throw new ShapeError('narrow: a 0-dim tensor has no first dimension');
    const rows = this.shape[0];
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > rows || start > end) {
      throw new SotrRangeError(`narrow: [${start}, ${end}) is not a range of 0..${rows}`);
    }
    const inner = this.size / (rows || 1);
    return typedNative(() => new Tensor<D>(native().view(h, [end - start, ...this.shape.slice(1)], start * inner)));
  }

  /** Frees the tensor's memory (once queued work that reads it is done). Idempotent. */
  dispose(): void {
    if (this.#handle) {
      this.#handle.release();
      this.#handle = null;
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }

  /** A short description: `Tensor(dtype, [shape], device)`, with ', disposed' once disposed. */
  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}], ${this.device}${this.disposed ? ', disposed' : ''})`;
  }
}

function concreteOrResolve(device: string): string {
  return typedNative(() => (device === 'auto' ? resolveDevice('auto').device : concreteDevice(device)));
}

export function halfToFloat(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i];
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    out[i] = e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15);
  }
  return out;
}

export function bf16ToFloat(src: Uint16Array): Float32Array {
  const u = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i] << 16;
  return new Float32Array(u.buffer);
}

export function dtypeBytes(d: DType): number {
  return DTYPES[d].bytes;
}
