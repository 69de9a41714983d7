/**
 * Sotr: official SOTR checkpoints in, instance masks out.
 *
 *   const model = await Sotr.load('SOTR_R50.pth', { device: 'auto' });
 *   const { instances } = await model.predict('image.jpg');
 *   await model.dispose();
 *
 * The forward pass follows ../shared/docs/sotr-architecture.md (the released code, not the paper). Each image runs
 * with batch-1 semantics (the official evaluation setting), so a batch gives the same per-image results as single
 * calls.
 */
import { performance } from 'node:perf_hooks';
import { setMaxListeners } from 'node:events';
import { AbortError, CheckpointFormatError, CheckpointKeyError, DisposedError, ShapeError, SotrRangeError, SotrTypeError } from '../errors';
import { readCheckpointWithInfo, type CheckpointSource } from '../checkpoint';
import { describeNonFinite, modelNonFinite, type NonFiniteTensor } from '../checkpoint/finite';
import { checkSotrKeys, inferSotrConfig, type SotrCheckpointConfig, type SotrKeyProblems } from '../checkpoint/config';
import { DTYPES, isCheckpointDType, numelOf, type CheckpointEntry, type CheckpointInfo } from '../checkpoint/types';
import { memoryInfo, resolveDevice, synchronize, type Precision } from '../device';
import { checkDeferred, checkPrecision } from '../ops/run';
import { deferredOps, deferredScope } from '../deferred';
import { native } from '../native';
import { checkIdleTrimSetting, hostWorkBegin, hostWorkEnd } from '../host_memory';
import { Tensor } from '../tensor';
import { runResNet } from './backbone';
import {
  checkPostprocessOption,
  POSTPROCESS_KEYS,
  LOAD_OPTION_KEYS,
  resolveConfig,
  type ConfigOverrides,
  type PostprocessOptions,
  type SotrConfig,
  type SotrLoadOptions,
} from './config';
import { runFpn } from './fpn';
import { gridResize, runHeads, splitFeats } from './heads';
import { runMaskBranch } from './mask_branch';
import type { OpCtx } from './ops';
import { MaskFeature, postprocess, type Instance, type LevelMaps, type PostprocessTrace, type ResolvedPostprocess } from './postprocess';
import { DEFAULT_LIMIT_INPUT_PIXELS, checkLimitInputPixels, decodePixels, isRawImage, prepareImageTensor, sharpLib, type DecodedPixels, type ImageInput, type PreparedTensor, type RawImage } from './preprocess';
import { FifoSlots, pipelineDepth } from './admission';
import { abortError, checkSignal, throwIfAborted, watchAbort } from '../abort';
import { runTransformer } from './transformer';
import { buildWeights, type SotrWeights } from './weights';
import { readStoredSettings, withStoredSettings } from './stored_settings';
import { OpProfileSession, type OpProfile } from '../profile';
import { checkOptions, keysOf, shownValue } from '../options';

/**
 * Options of predict() and predictEach(): post-processing values for this call (the model's own from Sotr.load when
 * left out), the outputs to add, cancellation and decoding limits.
 */
export interface PredictOptions extends PostprocessOptions {
  /**
   * `true`: adds per-stage wall times in milliseconds (`result.profile`; synchronising the device between stages).
   * `'ops'`: adds the op profile of this prediction (`result.opProfile`: every op's time, the device's busy and idle
   * time; no synchronisation between stages, so the device idles as it does unprofiled). Ops other code of this thread
   * runs meanwhile are counted too.
   */
  profile?: boolean | 'ops' | undefined;
  /** Adds the network's intermediate tensors (host copies). */
  intermediates?: boolean | undefined;
  /** Cancels the prediction (work already running on the device finishes first). */
  signal?: AbortSignal | undefined;
  /** Largest decoded image accepted, in pixels (default sharp's 268402689; 0: no limit). */
  limitInputPixels?: number | undefined;
  /**
   * Encodes each instance's mask as COCO RLE natively, on the CPU worker threads, with the prediction (default true):
   * `mask.toRLE()` and `toCocoRLE()` then return the stored string instead of scanning the mask on the JavaScript
   * thread (~1.6 ms a 640×480 mask there, against ~12 µs natively). `false` skips it.
   */
  rle?: boolean | undefined;
  /**
   * Traces each instance's mask borders natively with the prediction (`instance.contours`, as OpenCV's
   * findContours gives them; see masksToContours): `true` for the outer borders as simple chains, or
   * `{ mode: 'external' | 'ccomp', approx: 'simple' | 'none' }`. Default off.
   */
  contours?: boolean | { mode?: 'external' | 'ccomp'; approx?: 'simple' | 'none' } | undefined;
}

/** Every predict option, for the unknown-key check (the compiler keeps the list equal to the interface). */
const PREDICT_OPTION_KEYS = keysOf<PredictOptions>()(
  ...POSTPROCESS_KEYS,
  'profile',
  'intermediates',
  'signal',
  'limitInputPixels',
  'rle',
  'contours',
);

/**
 * One image's outcome in `predictEach`: its position in the source, the image as given (typed as the source's
 * elements: a `string` for a list of paths), and its result or error.
 */
export type PredictEachItem<T extends ImageInput = ImageInput> =
  | { index: number; image: T; prediction: Prediction; error?: undefined }
  | { index: number; image: T; prediction?: undefined; error: Error };

/** The element type of a predictEach source (an iterable or async iterable of images). */
export type SourceImage<S> = S extends AsyncIterable<infer A> ? (A extends ImageInput ? A : ImageInput) : S extends Iterable<infer I> ? (I extends ImageInput ? I : ImageInput) : ImageInput;

/** Wall time of each stage of one prediction, in milliseconds (predict's `profile: true`). */
export interface StageTimes {
  /** Waiting for this image's turn behind other predictions of the same model (0 when none ran). */
  queue: number;
  decode: number;
  resize: number;
  backbone: number;
  transformer: number;
  heads: number;
  maskBranch: number;
  postprocess: number;
  total: number;
}

/** An image decoded at its turn, holding its decode slot until `release`, and its place in the run line. */
interface Admitted {
  decoded: DecodedPixels;
  /** performance.now() when predict took it. */
  arrived: number;
  decodeMs: number;
  runTurn: Promise<() => void>;
  release: () => void;
}

/** A host copy of a tensor: float32 data, row-major, and its shape. */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

async function toHost(t: Tensor): Promise<HostTensor> {
  return { shape: [...t.shape], data: (await t.data()) as Float32Array };
}

/** The network's intermediate tensors of one prediction, as host copies (predict's `intermediates: true`). */
export interface Intermediates {
  /** The network input: normalised, padded BGR [1, 3, Hp, Wp]. */
  input: HostTensor;
  /** FPN outputs P2..P6, each [1, C, h, w]. */
  fpn: HostTensor[];
  /** Transformer outputs on the five N×N grids, each [1, C, N, N]. */
  transformer: HostTensor[];
  /** Transformer output on the full-resolution P5 (the mask branch's fourth input). */
  transformerP5: HostTensor;
  /** Class logits per level [1, classes, N, N] (before the sigmoid). */
  cateLogits: HostTensor[];
  /** Dynamic kernels per level [1, D, N, N]. */
  kernels: HostTensor[];
  /** Mask feature F [1, D, Hp/4, Wp/4]. */
  maskFeature: HostTensor;
  /** Counts through post-processing. */
  trace: PostprocessTrace;
}

/** One image's result: its size and its instances, plus the profile and intermediates when asked for. */
export interface Prediction {
  /** Original (oriented) image size; masks have this size. */
  width: number;
  height: number;
  /** Sorted by score, descending. */
  instances: Instance[];
  profile?: StageTimes;
  /**
   * With `profile: true`: the model device's allocator peak (`memoryInfo(device).peakBytes`) after each stage, in
   * bytes. Call `resetPeakMemory(device)` just before the prediction to see which stage reaches its peak.
   */
  profilePeakBytes?: Omit<StageTimes, 'queue' | 'decode' | 'total'>;
  /** With `profile: 'ops'`: the ops this prediction ran (see startOpProfile). */
  opProfile?: OpProfile;
  intermediates?: Intermediates;
}

/** A checkpoint: a path, file contents, or tensors already read (name → entry). */
export type SotrSource = CheckpointSource | ReadonlyMap<string, CheckpointEntry> | Readonly<Record<string, CheckpointEntry>>;

function warnDefault(m: string): void {
  process.emitWarning(m, { code: 'SOTR_MODEL' });
}

/**
 * Tensors given as a Map or an object, which no reader has checked: each entry is checked here and named when wrong.
 * A malformed one used to fail deep inside with a plain TypeError, and data of the wrong length only at the first
 * prediction, as a conv's error naming no key. `withData` false (inspectCheckpoint): a header's entries, dtype and
 * shape without values, are enough.
 */
function checkEntries(where: string, entries: ReadonlyMap<unknown, unknown>, withData: boolean): ReadonlyMap<string, CheckpointEntry> {
  for (const [k, e] of entries) {
    if (typeof k !== 'string') throw new SotrTypeError(`${where}: tensor names must be strings, received ${shownValue(k)}`);
    const x = e as Partial<CheckpointEntry> | null;
    if (x === null || typeof x !== 'object' || !Array.isArray(x.shape) || !x.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      const got = x === null || typeof x !== 'object' ? shownValue(x) : Array.isArray(x.shape) ? `shape [${x.shape.join(', ')}]` : `shape ${shownValue(x.shape)}`;
      throw new SotrTypeError(`${where}: tensor '${k}' must be { shape, dtype, data } with a shape of non-negative integers, received ${got}`);
    }
    if (!withData) continue;
    if (!isCheckpointDType(x.dtype)) throw new SotrTypeError(`${where}: tensor '${k}' has an unknown dtype ${shownValue(x.dtype)}`);
    const ctor = DTYPES[x.dtype].ctor as unknown as new () => ArrayLike<unknown>;
    const data: unknown = x.data;
    if (!(data instanceof ctor) && !Array.isArray(data)) {
      throw new SotrTypeError(`${where}: tensor '${k}' (${x.dtype}) needs its data as a ${ctor.name}, received ${Object.prototype.toString.call(data)}`);
    }
    const n = numelOf(x.shape);
    const len = (data as ArrayLike<unknown>).length;
    if (len !== n) throw new ShapeError(`${where}: tensor '${k}' holds ${len} ${len === 1 ? 'value' : 'values'}, its shape [${x.shape.join(', ')}] needs ${n}`);
  }
  return entries as ReadonlyMap<string, CheckpointEntry>;
}

async function readSource(
  where: 'Sotr.load' | 'inspectCheckpoint',
  source: SotrSource,
  o: SotrLoadOptions,
  warn: (m: string) => void,
): Promise<{ entries: ReadonlyMap<string, CheckpointEntry>; info: CheckpointInfo | null }> {
  if (typeof source === 'string' || source instanceof Uint8Array) {
    const r = await readCheckpointWithInfo(source, {
      onWarning: warn,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.stateDictKey !== undefined ? { stateDictKey: o.stateDictKey } : {}),
    });
    return { entries: r.tensors, info: r.info };
  }
  if (source instanceof URL || Array.isArray(source)) {
    // Not a record of tensors (its keys would be reported as hundreds of missing ones).
    throw new SotrTypeError(`${where}: source must be a checkpoint path (a string), its bytes, or a Map of tensors, received ${source instanceof URL ? `a URL (${source.protocol}; pass a path: fileURLToPath(url))` : 'an array'}`);
  }
  const withData = where === 'Sotr.load'; // inspectCheckpoint reads names and shapes only
  if (source instanceof Map) return { entries: checkEntries(where, source, withData), info: null };
  if (source && typeof source === 'object') return { entries: checkEntries(where, new Map(Object.entries(source)), withData), info: null };
  throw new SotrTypeError('Sotr.load: source must be a checkpoint path, its bytes, or a Map of tensors');
}

// resolveConfig over the stored settings; an error about a value only the file gave says so, and how to load without.
function resolveStored(ck: SotrCheckpointConfig, stored: ConfigOverrides | null, options: SotrLoadOptions): SotrConfig {
  try {
    return resolveConfig(ck, withStoredSettings(stored, options));
  } catch (e) {
    const fromFile = Object.keys(stored ?? {}).filter((k) => (options as Record<string, unknown>)[k] === undefined);
    const named = fromFile.find((k) => new RegExp(`\\b${k}\\b`).test((e as Error).message));
    if (named && (e instanceof SotrRangeError || e instanceof SotrTypeError)) {
      e.message += ` (${named} is the file's stored setting: pass ${named}, or useStoredSettings: false)`;
    }
    throw e;
  }
}

// How a source is named in messages.
function sourceName(source: SotrSource): string {
  return typeof source === 'string' ? source : 'the checkpoint';
}

function releaseEntryBuffers(entries: ReadonlyMap<string, CheckpointEntry>, callers: ArrayBufferLike | null): void {
  const buffers = new Set<ArrayBuffer>();
  for (const e of entries.values()) {
    const d = e.data as unknown;
    // The reader copies storages into buffers of its own; never the caller's bytes, should that ever change.
    if (ArrayBuffer.isView(d) && d.buffer instanceof ArrayBuffer && d.buffer !== callers) buffers.add(d.buffer);
  }
  try {
    native().releaseHostBuffers([...buffers]);
  } catch {
    // Only memory held a little longer: the garbage collector frees them later.
  }
}

/** Throws for missing or mis-shaped keys (all named); returns the unexpected ones. */
function checkKeys(entries: ReadonlyMap<string, CheckpointEntry>, c: SotrCheckpointConfig): string[] {
  if (c.problems.missing.length || c.problems.misshaped.length) checkSotrKeys(entries, { allowUnexpected: true });
  return c.problems.unexpected;
}

/**
 * An abort that one of the prediction's ops reported ("conv2d was aborted") as the prediction's: "predict was
 * aborted (during conv2d)", the signal's reason as cause. Other errors pass unchanged.
 */
function predictAbort(e: unknown, signal: AbortSignal | undefined): unknown {
  if (!(e instanceof AbortError) || !signal?.aborted || e.operation === 'predict') return e;
  const err = abortError(signal, 'predict');
  err.message = `predict was aborted (during ${e.operation})`;
  return err;
}

/** Freezes an object and the arrays and objects inside it. */
function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * A loaded SOTR model: its weights on one device, ready to segment images. Make one with Sotr.load(); free it with
 * dispose() (or `await using`).
 */
export class Sotr {
  /**
   * The configuration in use: the structure read from the checkpoint, the constants from Sotr.load's options. Frozen,
   * its arrays too (an assignment throws in strict-mode code): the thresholds are per call (predict's options), the
   * rest is fixed at load, where it is checked.
   */
  readonly config: Readonly<SotrConfig>;
  /** The concrete device ('cpu', 'cuda:0'). */
  readonly device: string;
  /** The arithmetic of the model's ops (Sotr.load's `precision`, default 'fp32'). */
  readonly precision: Precision;
  readonly #deferred: boolean;
  readonly #weights: SotrWeights;
  readonly #tensors: Tensor[];
  readonly #fallbacks = new Set<string>();
  readonly #inflight = new Set<Promise<unknown>>();
  // Aborted when dispose() begins: a predictEach waiting on a slow source stops taking images at once.
  readonly #disposeStarted = (() => {
    const c = new AbortController();
    setMaxListeners(0, c.signal); // one listener per predictEach iteration in progress
    return c;
  })();
  // Turns (./admission.ts): `depth` images run at a time, one more may decode meanwhile; first come, first served.
  readonly #runSlots: FifoSlots;
  readonly #decodeSlots: FifoSlots;
  #pending = 0;
  #disposed = false;
  #disposing: Promise<void> | null = null;

  private constructor(config: SotrConfig, device: string, precision: Precision, weights: SotrWeights, tensors: Tensor[], deferred: boolean) {
    this.#deferred = deferred;
    this.config = deepFreeze(config);
    this.device = device;
    this.precision = precision;
    this.#weights = weights;
    this.#tensors = tensors;
    const depth = pipelineDepth(device);
    this.#runSlots = new FifoSlots(depth);
    this.#decodeSlots = new FifoSlots(depth + 1);
  }

  /**
   * Loads a checkpoint (torch.save zip or legacy file, `{"model": ...}` or bare state_dict, safetensors, or a Map
   * of tensors). The structure comes from the tensors; the constants from `options` or the official values.
   * Unexpected keys warn (fail with `strict`); missing or mis-shaped keys throw CheckpointKeyError naming them.
   */
  static async load(source: SotrSource, options: SotrLoadOptions = {}): Promise<Sotr> {
    checkOptions('Sotr.load', options, LOAD_OPTION_KEYS);
    checkSignal('Sotr.load', options.signal);
    throwIfAborted(options.signal, 'Sotr.load');
    if (options.onWarning !== undefined && typeof options.onWarning !== 'function') {
      throw new SotrTypeError(`Sotr.load: onWarning must be a function, received ${typeof options.onWarning}`);
    }
    const warn = options.onWarning ?? warnDefault;
    const precision = checkPrecision('Sotr.load', options.precision);
    checkIdleTrimSetting();
    if (options.useStoredSettings !== undefined && typeof options.useStoredSettings !== 'boolean') {
      throw new SotrTypeError(`Sotr.load: useStoredSettings must be a boolean, received ${shownValue(options.useStoredSettings)}`);
    }
    const { entries, info } = await readSource('Sotr.load', source, options, warn);
    const stored = options.useStoredSettings === false ? null : readStoredSettings(info?.metadata, sourceName(source));
    throwIfAborted(options.signal, 'Sotr.load');
    const inferred = inferSotrConfig(entries);
    const unexpected = checkKeys(entries, inferred);
    if (unexpected.length) {
      const list = unexpected.length > 10 ? `${unexpected.slice(0, 10).join(', ')}, … (${unexpected.length - 10} more)` : unexpected.join(', ');
      if (options.strict) {
        throw new CheckpointKeyError(`the checkpoint has ${unexpected.length} unexpected ${unexpected.length === 1 ? 'key' : 'keys'}: ${list}`, { details: { unexpected } });
      }
      warn(`the checkpoint has ${unexpected.length} unexpected ${unexpected.length === 1 ? 'key' : 'keys'} (ignored): ${list}`);
    }
    // NaN or ±Inf in a weight (a damaged file, a diverged run) gives wrong instances or none, silently: say so.
    const nonFinite = await modelNonFinite(entries, unexpected);
    throwIfAborted(options.signal, 'Sotr.load');
    if (nonFinite.length) {
      const what = `the checkpoint has NaN or infinite values in ${describeNonFinite(nonFinite)}`;
      if (options.strict) throw new CheckpointFormatError(what, { details: { nonFinite } });
      warn(`${what}: its predictions will be wrong (a damaged file, or a training run that diverged)`);
    }
    const config = resolveStored(inferred, stored, options);
    const device = resolveDevice(options.device ?? 'auto').device;
    const { weights, tensors } = buildWeights(entries, config, device);
    // The checkpoint's bytes now live in the tensors. When we read the file (or copied the bytes given), the
    // buffers are ours alone: free them now rather than at V8's next full collection (an R50 is 240 MB).
    if (typeof source === 'string' || source instanceof Uint8Array) {
      releaseEntryBuffers(entries, source instanceof Uint8Array ? source.buffer : null);
    }
    if (options.deferredOps !== undefined && typeof options.deferredOps !== 'boolean')
      throw new SotrTypeError(`Sotr.load: deferredOps must be a boolean, received ${JSON.stringify(options.deferredOps)}`);
    // Default: on for GPU models (the H100 A/B: 54.5 -> 45.4 ms per bf16 R50 prediction, 94.1 -> 92.0 ms in fp32,
    // same instances), off on the CPU (inline tiny calls do better there); SOTR_DEFERRED_OPS=1/0 overrides.
    const env = process.env.SOTR_DEFERRED_OPS;
    const deferred = options.deferredOps ?? (env === '1' ? true : env === '0' ? false : device !== 'cpu');
    return new Sotr(config, device, precision, weights, tensors, deferred);
  }

  /** Whether this model queues its ops without a completion each (Sotr.load's `deferredOps`). */
  get deferredOps(): boolean {
    return this.#deferred;
  }

  /** Ops that had no kernel for the model's device and ran on the CPU instead (copies in and out; slow). */
  get fallbackOps(): string[] {
    return [...this.#fallbacks].sort();
  }

  /** True once dispose() has finished (after the predictions that were in flight). */
  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * Images given to `predict` whose results have not been returned yet: running, decoding or waiting for their
   * turn (a model runs one image at a time on the CPU, two on a GPU; the rest wait in arrival order). A server
   * can shed load on it (`if (model.pendingImages >= 8) reply 503`).
   */
  get pendingImages(): number {
    return this.#pending;
  }

  /**
   * Runs one prediction on a synthetic image of `width` × `height` (default: the test size, short side minSize,
   * 4:3) and discards it, so that the first real prediction does not pay for packing and transforming the weights,
   * first-touching memory and, on a GPU, loading the kernels (on the CPU about 0.7 s of a random R50's 4.1 s first
   * prediction). It also loads the image decoder (sharp: ~60 ms of the JavaScript thread, once per process, that
   * the first encoded image would otherwise pay). For a server: call it before taking requests.
   */
  async warmup(options: { width?: number; height?: number } = {}): Promise<void> {
    checkOptions('warmup', options, ['width', 'height']);
    const height = options.height ?? this.config.minSize;
    const width = options.width ?? Math.round((height * 4) / 3);
    for (const [k, v] of [['width', width], ['height', height]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new SotrRangeError(`warmup: ${k} must be a positive integer, received ${shownValue(v)}`);
    }
    // The synthetic image is made here: refuse what predict would (before allocating its pixels).
    if (width * height > DEFAULT_LIMIT_INPUT_PIXELS) {
      throw new SotrRangeError(`warmup: ${width}×${height} exceeds the default limitInputPixels (${DEFAULT_LIMIT_INPUT_PIXELS} pixels)`);
    }
    sharpLib();
    await this.predict(syntheticImage(width, height), { rle: true });
  }

  /** Segments one image, or each image of an array (same results as single calls). */
  predict(image: ImageInput, options?: PredictOptions): Promise<Prediction>;
  predict(images: readonly ImageInput[], options?: PredictOptions): Promise<Prediction[]>;
  predict(input: ImageInput | readonly ImageInput[], options?: PredictOptions): Promise<Prediction | Prediction[]>;
  predict(input: ImageInput | readonly ImageInput[], options: PredictOptions = {}): Promise<Prediction | Prediction[]> {
    if (this.#disposed || this.#disposing) return Promise.reject(new DisposedError('Sotr model'));
    try {
      checkOptions('predict', options, PREDICT_OPTION_KEYS);
      checkSignal('predict', options.signal);
    } catch (e) {
      return Promise.reject(e);
    }
    // An array as it is at the call, its raw frames copied: the caller may change the array or reuse a frame's
    // buffer as soon as predict returns, as with one raw frame (the images run later, a few at a time).
    const many = Array.isArray(input) ? (input as readonly ImageInput[]).map(snapshotRawImage) : null;
    const n = many ? many.length : 1;
    const p = many ? this.#predictMany(many, options) : this.#predictOne(input as ImageInput, options);
    this.#inflight.add(p);
    this.#pending += n;
    hostWorkBegin();
    const done = () => {
      this.#inflight.delete(p);
      this.#pending -= n;
      hostWorkEnd();
    };
    p.then(done, done);
    return p;
  }

  /**
   * Segments each image of an iterable or async iterable (an array, a generator of paths, frames from a camera),
   * yielding `{ index, image, prediction }` or, for an image that failed, `{ index, image, error }` in the source's
   * order: a bad file costs its own result only. Images are taken from the source as the pipeline has room (the
   * images running on the model plus one decoding), so a slow consumer holds back the source and memory stays that
   * of a few images; a slow source does not hold back a result that is ready, an abort or a dispose. Leaving the loop early (`break`, a throw) cancels the images taken ahead and closes the source.
   * Thrown, ending the iteration: an abort of `options.signal` (AbortError, at once); the source's own error, and
   * `DisposedError` once the model is being disposed, both after the images already taken are yielded (dispose
   * waits for those).
   */
  // (The type refuses a string, which is an iterable of strings: one path, for predict.)
  predictEach<S extends Iterable<ImageInput> | AsyncIterable<ImageInput>>(
    images: S extends string ? never : S,
    options: PredictOptions = {},
  ): AsyncGenerator<PredictEachItem<SourceImage<S>>, void, undefined> {
    if (this.#disposed || this.#disposing) throw new DisposedError('Sotr model');
    checkOptions('predictEach', options, PREDICT_OPTION_KEYS);
    checkImageSource(images);
    checkSignal('predictEach', options.signal);
    // Option values once, here, rather than as the same error for every image.
    this.#postOptions(options, 'predictEach');
    checkOutputOptions('predictEach', options);
    return this.#pipeline(images, options, true) as AsyncGenerator<PredictEachItem<SourceImage<S>>, void, undefined>;
  }

  async #predictMany(images: readonly ImageInput[], options: PredictOptions): Promise<Prediction[]> {
    // Results keep their order; the first failure is thrown, and the images taken ahead of it are cancelled.
    const out: Prediction[] = [];
    for await (const item of this.#pipeline(images, options, false)) {
      if (item.error !== undefined) throw item.error;
      out.push(item.prediction);
    }
    return out;
  }

  /**
   * The images of an iterable through the model, in order. On a GPU two run at once: the next image's forward
   * queues on the device while this one's host-side post-processing runs (the H100 sat idle through ~50 ms of host
   * work per image); on the CPU both would share the same cores, so one (SOTR_PIPELINE_DEPTH, read when the model
   * loads, overrides). One more image is taken and decoded meanwhile, so at most depth + 1 images are held ahead of
   * the consumer. Each image also takes its turn with other calls' images (#admit, #run).
   * `each`: predictEach, whose images count in pendingImages and #inflight one by one as they are taken (predict
   * counts a whole array at the call) and which stops at a model being disposed.
   */
  async *#pipeline(images: Iterable<ImageInput> | AsyncIterable<ImageInput>, options: PredictOptions, each: boolean): AsyncGenerator<PredictEachItem, void, undefined> {
    const user = options.signal;
    const what = each ? 'predictEach' : 'predict';
    // Cancels the images taken ahead when the iteration ends early (the consumer left, a failure in predict([...]))
    // or the caller's signal aborts. (Not AbortSignal.any: its dependent signals pile up on a long-lived parent
    // signal in Node 20 and 22, e.g. a server's shutdown signal given to every call.)
    // The caller's reason is passed on: the images' AbortErrors keep it as their cause, as a single predict's does.
    const stop = new AbortController();
    const unwatchUser = user && !user.aborted ? watchAbort(user, () => stop.abort(user.reason)) : () => {};
    if (user?.aborted) stop.abort(user.reason);
    const opts: PredictOptions = { ...options, signal: stop.signal };
    const room = this.#runSlots.size + 1;
    const ahead: Array<Promise<PredictEachItem>> = [];
    let source: Iterator<ImageInput> | AsyncIterator<ImageInput> | null = null;
    let exhausted = false;
    let index = 0;
    // A source that threw, or a model being disposed, ends the iteration once the images already taken are yielded.
    let ending: unknown = null;
    // An async source's next item, asked for while the images taken run. A slow source (uploads, a camera) must not
    // hold back a result that is ready, an abort, or (predictEach) a dispose: each of them is raced against it.
    let asked: Promise<SourceStep> | null = null;
    let interruptedWhileAsking = false;
    // Whichever comes first: the source's answer, the head's result, or what must stop the taking of images (an
    // abort; predictEach's model disposing). Listeners, not a long-lived promise raced every time: each race would
    // leave a reaction on it, one per image for as long as the iteration runs (a camera: days).
    const disposing = each ? this.#disposeStarted.signal : null;
    const firstOf = async (pending: Promise<SourceStep>, head: Promise<PredictEachItem> | undefined): Promise<SourceStep | 'head' | 'interrupted'> => {
      if (stop.signal.aborted || disposing?.aborted) return 'interrupted';
      let onInterrupt = (): void => {};
      try {
        return await new Promise<SourceStep | 'head' | 'interrupted'>((resolve) => {
          onInterrupt = () => resolve('interrupted');
          stop.signal.addEventListener('abort', onInterrupt, { once: true });
          disposing?.addEventListener('abort', onInterrupt, { once: true }); // a model's own signal: no listener limit
          void pending.then(resolve);
          void head?.then(() => resolve('head'));
        });
      } finally {
        stop.signal.removeEventListener('abort', onInterrupt);
        disposing?.removeEventListener('abort', onInterrupt);
      }
    };
    const takeStep = (step: SourceStep): void => {
      asked = null;
      if ('error' in step) {
        exhausted = true; // a source that threw is finished: no return() owed
        ending = step.error;
      } else if (step.result.done) exhausted = true;
      else ahead.push(this.#take(index++, step.result.value, opts, each));
    };
    try {
      for (;;) {
        while (!exhausted && ending === null && asked === null && ahead.length < room) {
          if (user?.aborted) throw abortError(user, what);
          if (each && (this.#disposed || this.#disposing)) {
            ending = new DisposedError('Sotr model');
            break;
          }
          source ??= iteratorOf(images);
          let r: IteratorResult<ImageInput> | PromiseLike<IteratorResult<ImageInput>>;
          try {
            r = source.next();
          } catch (e) {
            takeStep({ error: e });
            break;
          }
          if (!isThenable(r)) takeStep({ result: r }); // a sync iterator's image: taken at once
          else asked = Promise.resolve(r).then((result): SourceStep => ({ result }), (error: unknown): SourceStep => ({ error }));
        }
        if (asked !== null) {
          // Whichever comes first: the source's image, the head's result, an abort or a dispose.
          const head = ahead[0];
          const first = await firstOf(asked, head);
          if (first === 'interrupted') {
            interruptedWhileAsking = true;
            if (user?.aborted) throw abortError(user, what);
            ending ??= new DisposedError('Sotr model'); // predictEach's model is being disposed: take no more
            if (!head) throw ending;
          } else if (first !== 'head') {
            takeStep(first);
            continue;
          }
        }
        const head = ahead.shift();
        if (!head) {
          if (ending !== null) throw ending;
          return;
        }
        const item = await head;
        if (item.error !== undefined && user?.aborted) throw item.error instanceof AbortError ? item.error : abortError(user, what);
        yield item;
      }
    } finally {
      unwatchUser();
      stop.abort();
      await Promise.all(ahead); // never rejects: the outcomes of the cancelled images
      if (source && !exhausted) {
        // The source is closed before the iteration ends, as a for-await loop's would be: when the consumer leaves
        // while the source is producing an image, that image is awaited (and dropped) first, as an async generator's
        // return() waits for it anyway. After an abort or a dispose that came while the source was producing, the
        // iteration ends at once and the source is closed once it answers (it may never: a camera that stopped).
        const pendingAnswer = asked;
        const closed = Promise.resolve(pendingAnswer)
          .then(() => source?.return?.())
          .catch(() => {});
        if (!interruptedWhileAsking) await closed;
      }
    }
  }

  /** Starts one image of the pipeline (its raw pixels copied now, before the source can reuse them). */
  #take(index: number, image: ImageInput, options: PredictOptions, each: boolean): Promise<PredictEachItem> {
    const run = this.#admit(image, options).then((a) => this.#run(a, options));
    if (each) {
      this.#pending++;
      this.#inflight.add(run);
      hostWorkBegin();
      const done = (): void => {
        this.#inflight.delete(run);
        this.#pending--;
        hostWorkEnd();
      };
      run.then(done, done);
    }
    return run.then(
      (prediction): PredictEachItem => ({ index, image, prediction }),
      (error: unknown): PredictEachItem => ({ index, image, error: error instanceof Error ? error : new Error(String(error)) }),
    );
  }

  async #predictOne(image: ImageInput, options: PredictOptions): Promise<Prediction> {
    return this.#run(await this.#admit(image, options), options);
  }

  /**
   * An image joins both lines when it arrives, so that images run in arrival order (a small image decoded sooner
   * does not overtake a large one), then is decoded once a decode slot is free. A raw frame is copied at once,
   * within the caller's call (the caller may reuse its buffer as soon as predict returns), and needs no decode slot:
   * it is decoded already. Runs synchronously up to its first await: the lines are joined within the call.
   */
  async #admit(image: ImageInput, options: PredictOptions): Promise<Admitted> {
    const arrived = performance.now();
    const raw = isRawImage(image);
    const copied = raw ? this.#decode(image, options) : null; // before anything else: the caller's buffer
    const runTurn = this.#runSlots.acquire(options.signal);
    runTurn.catch(() => {}); // an abort rejects it while the image decodes: awaited (and thrown) in #run
    const decodeTurn = raw ? null : this.#decodeSlots.acquire(options.signal);
    let release = (): void => {};
    try {
      if (decodeTurn) release = await decodeTurn;
      const t0 = performance.now();
      const decoded = await (copied ?? this.#decode(image, options));
      return { decoded, arrived, decodeMs: performance.now() - (raw ? arrived : t0), runTurn, release };
    } catch (e) {
      // Not admitted: give up both places (a turn granted later is handed straight on).
      release();
      runTurn.then((r) => r(), () => {});
      decodeTurn?.then((r) => r(), () => {});
      throw e;
    }
  }

  /** An image's run, at its turn: forward and post-processing; its run and decode slots are freed after. */
  async #run(a: Admitted, options: PredictOptions): Promise<Prediction> {
    try {
      const releaseRun = await a.runTurn;
      try {
        return await this.#runNow(a.decoded, options, a.decodeMs, performance.now() - a.arrived - a.decodeMs);
      } finally {
        releaseRun();
      }
    } catch (e) {
      throw predictAbort(e, options.signal);
    } finally {
      a.release();
    }
  }

  // The decoder's pixels, unconverted: the native pre-processing converts them to BGR off this thread.
  #decode(image: ImageInput, options: PredictOptions): Promise<DecodedPixels> {
    return decodePixels(image, options.limitInputPixels !== undefined ? { limitInputPixels: options.limitInputPixels } : {});
  }

  #postOptions(o: PredictOptions, where = 'predict'): ResolvedPostprocess {
    const r = {} as Record<string, unknown>;
    for (const k of POSTPROCESS_KEYS) {
      const v = (o as Record<string, unknown>)[k];
      r[k] = v === undefined ? this.config[k] : checkPostprocessOption(where, k, v, this.config.classNames);
    }
    return r as unknown as ResolvedPostprocess;
  }

  async #runNow(decoded: DecodedPixels, options: PredictOptions, decodeMs: number, queuedMs: number): Promise<Prediction> {
    if (!this.#deferred) return this.#forward(decoded, options, decodeMs, queuedMs);
    // Deferred ops: this prediction's ops on the model's device are queued without a completion each; a failure
    // surfaces at the next host read (post-processing reads), or here at the end.
    const scope = deferredScope(this.device);
    try {
      const r = await deferredOps.run(scope, () => this.#forward(decoded, options, decodeMs, queuedMs));
      await synchronize(this.device);
      checkDeferred(scope);
      return r;
    } catch (e) {
      // Reported once: drop a later failure of this prediction's queued ops (the scope's entry would stay).
      await synchronize(this.device).catch(() => {});
      try {
        checkDeferred(scope);
      } catch {
        // the first error is the one thrown
      }
      throw e;
    }
  }

  async #forward(decoded: DecodedPixels, options: PredictOptions, decodeMs: number, queuedMs: number): Promise<Prediction> {
    if (options === null || typeof options !== 'object') throw new SotrTypeError('predict: options must be an object');
    const post = this.#postOptions(options);
    const signal = options.signal;
    checkSignal('predict', signal);
    const check = () => {
      if (signal?.aborted) throw abortError(signal, 'predict');
    };
    check();
    const { contours } = checkOutputOptions('predict', options);
    const profile = options.profile === true;
    // This environment's ops, every device (post-processing runs on the CPU for a CUDA model).
    const opSession = options.profile === 'ops' ? new OpProfileSession({ thisThreadOnly: true }) : null;
    const times: StageTimes = { queue: queuedMs, decode: decodeMs, resize: 0, backbone: 0, transformer: 0, heads: 0, maskBranch: 0, postprocess: 0, total: 0 };
    const peaks = { resize: 0, backbone: 0, transformer: 0, heads: 0, maskBranch: 0, postprocess: 0 };
    let t = performance.now();
    const lap = async (stage: keyof typeof peaks): Promise<void> => {
      if (profile) {
        await synchronize(this.device);
        const now = performance.now();
        times[stage] += now - t;
        t = now;
        peaks[stage] = memoryInfo(this.device).peakBytes;
      }
      check();
    };
    const cfg = this.config;
    const ctx: OpCtx = { device: this.device, precision: this.precision, fallbacks: this.#fallbacks, ...(signal ? { signal } : {}) };
    const want = options.intermediates === true;
    const scope = new Set<{ dispose(): void }>();
    const keep = <T extends { dispose(): void }>(x: T): T => {
      scope.add(x);
      return x;
    };
    const inter: Partial<Intermediates> = {};
    try {
      // Resize, normalise and pad on the CPU queue (native pillowResize), then upload to the model's device.
      const prep: PreparedTensor = await prepareImageTensor(decoded, cfg, signal ? { signal } : {});
      const host = keep(prep.tensor);
      await lap('resize');
      const w = this.#weights;
      if (want) inter.input = { shape: [1, 3, prep.paddedHeight, prep.paddedWidth], data: (await host.data()) as Float32Array };
      const x = host.device === this.device ? host : keep(await host.to(this.device));
      if (x !== host) host.dispose();
      const c = await runResNet(ctx, cfg, w, x);
      c.forEach(keep);
      x.dispose();
      const p = await runFpn(ctx, w, c);
      p.forEach(keep);
      for (const ci of c) ci.dispose();
      if (want) inter.fpn = await Promise.all(p.map((pi) => toHost(pi)));
      await lap('backbone');
      const feats = await splitFeats(ctx, p);
      keep(feats[0]!);
      keep(feats[4]!);
      const ys: Tensor[] = [];
      for (let i = 0; i < 5; i++) {
        const g = keep(await gridResize(ctx, feats[i]!, cfg.numGrids[i]!));
        ys.push(keep(await runTransformer(ctx, cfg, w.transformer, g)));
        g.dispose();
      }
      feats[0]!.dispose();
      feats[4]!.dispose();
      const p5t = keep(await runTransformer(ctx, cfg, w.transformer, p[3]!));
      if (want) {
        inter.transformer = await Promise.all(ys.map((y) => toHost(y)));
        inter.transformerP5 = await toHost(p5t);
      }
      await lap('transformer');
      const levels: LevelMaps[] = [];
      if (want) {
        inter.cateLogits = [];
        inter.kernels = [];
      }
      for (let i = 0; i < 5; i++) {
        const { cate, kernel } = await runHeads(ctx, cfg, w, ys[i]!);
        keep(cate);
        keep(kernel);
        ys[i]!.dispose();
        if (want) {
          inter.cateLogits!.push(await toHost(cate));
          inter.kernels!.push(await toHost(kernel));
        }
        // Post-processing's candidate selection runs on the CPU workers: CPU tensors (copies on a CUDA model).
        const onCpu = async (t: Tensor): Promise<Tensor> => {
          if (t.device === 'cpu') return t;
          const c = keep(await t.to('cpu'));
          t.dispose();
          return c;
        };
        levels.push({ cate: await onCpu(cate), kernel: await onCpu(kernel), n: cfg.numGrids[i]! });
      }
      await lap('heads');
      const feature = keep(await runMaskBranch(ctx, cfg, w, [p[0]!, p[1]!, p[2]!, p5t]));
      for (const pi of p) pi.dispose();
      p5t.dispose();
      const F = keep(new MaskFeature(feature, feature.shape[1]!, feature.shape[2]!, feature.shape[3]!));
      if (want) inter.maskFeature = await toHost(feature);
      await lap('maskBranch');
      const trace: PostprocessTrace = { candidates: 0, distinctCells: 0, afterAreaFilter: 0, beforeNms: 0, afterNms: 0, ratio: 0 };
      const instances = await postprocess(
        ctx,
        cfg,
        post,
        { levels, feature: F, height: prep.height, width: prep.width, originalHeight: prep.originalHeight, originalWidth: prep.originalWidth },
        trace,
        { rle: options.rle !== false, ...(contours ? { contours } : {}) },
      );
      await lap('postprocess');
      const result: Prediction = { width: prep.originalWidth, height: prep.originalHeight, instances };
      if (profile) {
        times.total = Object.entries(times).reduce((a, [k, v]) => (k === 'total' ? a : a + v), 0);
        result.profile = times;
        result.profilePeakBytes = peaks;
      }
      if (want) {
        inter.trace = trace;
        result.intermediates = inter as Intermediates;
      }
      if (opSession) result.opProfile = opSession.stop();
      return result;
    } finally {
      for (const s of scope) s.dispose();
      if (opSession?.open) opSession.stop();
    }
  }

  /** Frees every device tensor of the model, after the predictions in flight finish. Idempotent. */
  dispose(): Promise<void> {
    if (this.#disposed) return Promise.resolve();
    this.#disposeStarted.abort();
    this.#disposing ??= (async () => {
      await Promise.allSettled([...this.#inflight]);
      for (const t of this.#tensors) t.dispose();
      this.#tensors.length = 0;
      this.#disposed = true;
    })();
    return this.#disposing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

const INSPECT_OPTION_KEYS = LOAD_OPTION_KEYS.filter((k) => k !== 'device' && k !== 'precision');

/** What inspectCheckpoint() reports: the file's format, its size, the configuration it gives and its key problems. */
export interface CheckpointInspection {
  /** Container kind: 'torch-zip' | 'torch-legacy' | 'safetensors' (or 'tensors' for an in-memory map). */
  format: string;
  /** Key of the state dict inside a wrapped checkpoint ('model'), or null. */
  stateDictKey: string | null;
  /** Entries ignored next to the state dict (optimizer, scheduler, …). */
  ignoredEntries: string[];
  tensors: number;
  parameters: number;
  variant: SotrConfig['variant'];
  /** The configuration Sotr.load would use (null when the structure is unusable; see configError). */
  config: SotrConfig | null;
  configError: string | null;
  /** Key differences from the structure expected for the inferred configuration. */
  problems: SotrKeyProblems;
  /** True when Sotr.load would accept the checkpoint (unexpected keys and non-finite values only warn). */
  loadable: boolean;
  /** The model's tensors holding NaN or ±Inf (Sotr.load warns about them; `strict` refuses them), in key order. */
  nonFinite: NonFiniteTensor[];
  /** The settings the file stores (metadata 'sotr_settings'), applied under the options in `config`; null: none. */
  storedSettings: ConfigOverrides | null;
}

/** What a checkpoint is, what model it describes and how it differs from the expected structure (`sotr inspect`). */
export async function inspectCheckpoint(source: SotrSource, options: Omit<SotrLoadOptions, 'device' | 'precision'> = {}): Promise<CheckpointInspection> {
  checkOptions('inspectCheckpoint', options, INSPECT_OPTION_KEYS);
  checkSignal('inspectCheckpoint', options.signal);
  throwIfAborted(options.signal, 'inspectCheckpoint');
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function') {
    throw new SotrTypeError(`inspectCheckpoint: onWarning must be a function, received ${typeof options.onWarning}`);
  }
  const warn = options.onWarning ?? (() => {});
  const { entries, info } = await readSource('inspectCheckpoint', source, options, warn);
  const ck = inferSotrConfig(entries);
  let config: SotrConfig | null = null;
  let configError: string | null = null;
  let stored: ConfigOverrides | null = null;
  try {
    stored = options.useStoredSettings === false ? null : readStoredSettings(info?.metadata, sourceName(source));
    config = resolveStored(ck, stored, options);
  } catch (e) {
    configError = e instanceof Error ? e.message : String(e);
  }
  let parameters = 0;
  for (const e of entries.values()) parameters += e.shape.reduce((a, b) => a * b, 1);
  const p = ck.problems;
  const nonFinite = await modelNonFinite(entries, p.unexpected);
  return {
    format: info?.format ?? 'tensors',
    stateDictKey: info?.stateDictKey ?? null,
    ignoredEntries: info?.ignoredEntries ?? [],
    tensors: entries.size,
    parameters,
    variant: config?.variant ?? 'custom',
    config,
    configError,
    problems: p,
    loadable: config !== null && p.missing.length === 0 && p.misshaped.length === 0,
    nonFinite,
    storedSettings: stored,
  };
}

/** @internal A BGR gradient with some texture, so that a model's heads find candidates and the post-processing runs
 * too (warmup, `sotr bench`). */
export function syntheticImage(width: number, height: number): RawImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (Math.imul(i, 2654435761) >>> 26) + ((i / 3 / width) & 0xbf);
  return { data, width, height, channels: 3, format: 'bgr' };
}

// predict's output options (profile, rle, contours), checked; contours undefined when off.
function checkOutputOptions(where: string, options: PredictOptions): { contours: { mode: 'external' | 'ccomp'; approx: 'simple' | 'none' } | undefined } {
  if (options.profile !== undefined && typeof options.profile !== 'boolean' && options.profile !== 'ops')
    throw new SotrTypeError(`${where}: profile must be true, false or 'ops', received ${JSON.stringify(options.profile)}`);
  if (options.rle !== undefined && typeof options.rle !== 'boolean') throw new SotrTypeError(`${where}: rle must be a boolean, received ${JSON.stringify(options.rle)}`);
  if (options.intermediates !== undefined && typeof options.intermediates !== 'boolean') {
    throw new SotrTypeError(`${where}: intermediates must be a boolean, received ${JSON.stringify(options.intermediates)}`);
  }
  if (options.limitInputPixels !== undefined) checkLimitInputPixels(`${where}: limitInputPixels`, options.limitInputPixels);
  const c = options.contours;
  if (c === undefined || c === false) return { contours: undefined };
  if (c === true) return { contours: { mode: 'external', approx: 'simple' } };
  if (c === null || typeof c !== 'object') throw new SotrTypeError(`${where}: contours must be a boolean or { mode, approx }, received ${JSON.stringify(c)}`);
  checkOptions(`${where}: contours`, c, ['mode', 'approx']);
  const mode = c.mode ?? 'external';
  const approx = c.approx ?? 'simple';
  if (mode !== 'external' && mode !== 'ccomp') throw new SotrRangeError(`${where}: contours.mode must be 'external' or 'ccomp', received ${JSON.stringify(mode)}`);
  if (approx !== 'simple' && approx !== 'none') throw new SotrRangeError(`${where}: contours.approx must be 'simple' or 'none', received ${JSON.stringify(approx)}`);
  return { contours: { mode, approx } };
}

// predictEach's source: an iterable or async iterable of images. A string, bytes or one raw image are iterable (or
// look like a source) by accident: they are one image, for predict().
function checkImageSource(images: unknown): void {
  const what =
    typeof images === 'string' ? 'a string' : images instanceof Uint8Array ? 'bytes' : isRawImage(images) ? 'a raw image' : null;
  if (what) throw new SotrTypeError(`predictEach: images must be an iterable of images (an array, a generator, an async iterable), received ${what}: for one image, use predict()`);
  const ok = images !== null && typeof images === 'object' && (Symbol.asyncIterator in images || Symbol.iterator in images);
  if (!ok) throw new SotrTypeError(`predictEach: images must be an iterable or async iterable of images, received ${images === null ? 'null' : typeof images}`);
}

/** A raw frame with its own copy of the pixels (anything else as it is; a bad frame is refused later, in order). */
function snapshotRawImage(image: ImageInput): ImageInput {
  if (!isRawImage(image) || !(image.data instanceof Uint8Array || image.data instanceof Uint8ClampedArray)) return image;
  const { data, width, height, channels, format } = image;
  return format === undefined ? { data: data.slice(), width, height, channels } : { data: data.slice(), width, height, channels, format };
}

/** One answer of an images source: its iterator's result, or what its next() threw or rejected with. */
type SourceStep = { result: IteratorResult<ImageInput> } | { error: unknown };

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return (typeof x === 'object' || typeof x === 'function') && x !== null && typeof (x as { then?: unknown }).then === 'function';
}

function iteratorOf(images: Iterable<ImageInput> | AsyncIterable<ImageInput>): Iterator<ImageInput> | AsyncIterator<ImageInput> {
  const it = Symbol.asyncIterator in images ? (images as AsyncIterable<ImageInput>)[Symbol.asyncIterator]() : (images as Iterable<ImageInput>)[Symbol.iterator]();
  if (it === null || typeof it !== 'object' || typeof it.next !== 'function') throw new SotrTypeError('predictEach: the images\' iterator has no next()');
  return it;
}
