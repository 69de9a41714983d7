/**
 * Public types of the checkpoint reader and the dtype table shared by every format.
 */

/** Element types a checkpoint tensor can have (names as torch spells them, without the `torch.` prefix). */
export type CheckpointDType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool'
  | 'uint16'
  | 'uint32'
  | 'uint64';

/** The array types a checkpoint entry's `data` can have (see CheckpointDType for which holds which). */
export type CheckpointTypedArray =
  | Float32Array
  | Float64Array
  | Uint16Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/**
 * One host tensor: row-major contiguous data in the file's dtype.
 * float16 and bfloat16 come as Uint16Array holding the raw bits (tagged by `dtype`); bool as Uint8Array (0/1).
 * `data` may be a view into a buffer shared with other entries (tensors that shared a storage in the file):
 * treat it as read-only, or copy it before writing.
 */
export interface CheckpointEntry {
  shape: number[];
  dtype: CheckpointDType;
  data: CheckpointTypedArray;
}

/** Options of readCheckpoint() and readCheckpointWithInfo(): size limits, checksums, key handling, cancellation. */
export interface CheckpointOptions {
  /** Largest pickle (`data.pkl`, or the legacy header pickles) accepted. Default 64 MiB. */
  maxPickleBytes?: number | undefined;
  /** Most tensors in the selected state_dict. Default 1,000,000. */
  maxTensors?: number | undefined;
  /**
   * Most bytes allocated for tensors that must be copied out of their storage (non-contiguous views,
   * broadcast/expanded tensors). Contiguous tensors are views of the storage read from disk and do not count.
   * Default: max(2 × file size, 64 MiB).
   */
  maxCopyBytes?: number | undefined;
  /**
   * Most bytes inflated from deflate-compressed zip entries, all entries together. Default min(2 GiB, max(32 × file
   * size, 64 MiB)): torch never compresses, and floats deflate by a few percent, so only a hostile file (a 1.9 MB one
   * asked for 2 GB of zeros) comes near it.
   */
  maxInflatedBytes?: number | undefined;
  /**
   * Largest safetensors JSON header. Default 16 MiB (an R50's is ~60 KB; parsing costs ~30x the header's size in
   * memory, so the format's own 100 MiB limit would allow ~3 GB for a hostile file).
   */
  maxHeaderBytes?: number | undefined;
  /**
   * CRC-32 checks of zip entries. 'metadata' (default) checks data.pkl and the small records; true checks every
   * storage too (costs about one extra pass over memory); false checks nothing.
   */
  verifyChecksums?: boolean | 'metadata' | undefined;
  /** Key prefixes removed from every tensor name (repeatedly, as nested DataParallel wrappers add several). Default ['module.']. */
  stripPrefixes?: string[] | undefined;
  /**
   * Which entry of a wrapped checkpoint holds the state_dict. Default: 'model', then 'state_dict', else the
   * top-level dict itself when it holds tensors.
   */
  stateDictKey?: string | undefined;
  /** Storages read from disk at the same time. Default 4. */
  readConcurrency?: number | undefined;
  /**
   * Called with non-fatal findings (skipped non-tensor values, placeholders in ignored entries, trailing bytes).
   * Default: none, they are dropped (Sotr.load passes its own, which warns; `sotr inspect` prints them).
   */
  onWarning?: ((message: string) => void) | undefined;
  /** Aborts the read between storages (rejects with AbortError). */
  signal?: AbortSignal | undefined;
}

/** The container a checkpoint was read from: torch.save zip, torch.save legacy, or safetensors. */
export type CheckpointFormat = 'torch-zip' | 'torch-legacy' | 'safetensors';

/** What readCheckpointWithInfo() found besides the tensors: format, byte order, wrapper entries, metadata. */
export interface CheckpointInfo {
  format: CheckpointFormat;
  /** Byte order of the file's storages; data are always returned in host (little-endian) order. */
  byteOrder: 'little' | 'big';
  /** Key of the wrapped state_dict ('model', 'state_dict') or null for a bare state_dict / safetensors. */
  stateDictKey: string | null;
  /** Top-level entries that were ignored (e.g. optimizer, scheduler, iteration); their storages were not read. */
  ignoredEntries: string[];
  /** Number of keys that had a prefix (e.g. 'module.') stripped. */
  strippedKeys: number;
  /** Storage locations seen in the file (e.g. 'cpu', 'cuda:0'); everything is loaded to host memory. */
  locations: string[];
  /** safetensors `__metadata__`, empty for torch files. */
  metadata: Record<string, string>;
  /** Bytes read for tensor storages. */
  storageBytes: number;
}

export interface DTypeInfo {
  size: number;
  ctor: new (buffer: ArrayBufferLike, byteOffset: number, length: number) => CheckpointTypedArray;
  alloc: (length: number) => CheckpointTypedArray;
  safetensors: string;
}

const info = (
  size: number,
  C: { new (b: ArrayBufferLike, o: number, l: number): CheckpointTypedArray; new (l: number): CheckpointTypedArray },
  st: string,
): DTypeInfo => ({ size, ctor: C, alloc: (n) => new C(n), safetensors: st });

/**
 * Every checkpoint dtype with its element size in bytes, its typed-array constructor and its safetensors name
 * ('F32', 'BF16', ...).
 */
export const DTYPES: Readonly<Record<CheckpointDType, DTypeInfo>> = {
  float32: info(4, Float32Array, 'F32'),
  float64: info(8, Float64Array, 'F64'),
  float16: info(2, Uint16Array, 'F16'),
  bfloat16: info(2, Uint16Array, 'BF16'),
  int64: info(8, BigInt64Array, 'I64'),
  int32: info(4, Int32Array, 'I32'),
  int16: info(2, Int16Array, 'I16'),
  int8: info(1, Int8Array, 'I8'),
  uint8: info(1, Uint8Array, 'U8'),
  bool: info(1, Uint8Array, 'BOOL'),
  uint16: info(2, Uint16Array, 'U16'),
  uint32: info(4, Uint32Array, 'U32'),
  uint64: info(8, BigUint64Array, 'U64'),
};

export function isCheckpointDType(s: unknown): s is CheckpointDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, s);
}

/** Product of the dims, or -1 when it is not a safe integer. */
export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return -1;
  }
  return n;
}
