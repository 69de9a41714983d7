/**
 * Checkpoint reader: torch.save files (zip and legacy formats) and safetensors, read into host tensors.
 *
 * Safety model: pickles are interpreted by a restricted unpickler that never runs code and accepts only the
 * globals a state_dict needs; every size read from the file is checked against the file and the limits before
 * anything is allocated. Storages are read straight from disk into the buffers that back the returned tensors.
 */
import { AbortError, CheckpointFormatError, SotrError, SotrRangeError, SotrTypeError } from '../errors';
import { checkOptions, keysOf, shownValue } from '../options';
import { checkSignal, throwIfAborted } from '../abort';
import { parseTorchLegacy } from './legacy';
import { parseSafetensorsHeader, readSafetensorsFrom, writeSafetensors, type TensorCollection } from './safetensors';
import { FileSource, MemorySource, mapLimit, readBytes, type ByteSource } from './source';
import { byteSwap, materialize, selectStateDict, stripPrefixes, type ParsedTorchFile, type StorageInfo, type StoragePlan } from './torch';
import { parseTorchZip } from './torchzip';
import { DTYPES, type CheckpointEntry, type CheckpointFormat, type CheckpointInfo, type CheckpointOptions } from './types';

export type {
  CheckpointDType,
  CheckpointEntry,
  CheckpointFormat,
  CheckpointInfo,
  CheckpointOptions,
  CheckpointTypedArray,
} from './types';
export { DTYPES as CHECKPOINT_DTYPES } from './types';
export { writeSafetensors };
export type { TensorCollection };
export type { NonFiniteTensor } from './finite';
export {
  inferSotrConfig,
  expectedSotrKeys,
  checkSotrKeys,
  type SotrCheckpointConfig,
  type SotrKeyProblems,
  type ShapeProblem,
} from './config';

/** A path, or the whole file already in memory. */
export type CheckpointSource = string | Uint8Array;

const MiB = 1024 * 1024;
/** CheckpointOptions.maxHeaderBytes' default. */
const MAX_HEADER_BYTES = 16 * MiB;

interface Resolved {
  maxPickleBytes: number;
  maxTensors: number;
  maxCopyBytes: number;
  maxInflatedBytes: number;
  maxHeaderBytes: number;
  verifyChecksums: boolean | 'metadata';
  stripPrefixes: string[];
  stateDictKey?: string;
  readConcurrency: number;
  warn: (m: string) => void;
  signal?: AbortSignal;
}

/** The keys of CheckpointOptions (readCheckpoint); readSafetensors takes three of them. */
const CHECKPOINT_OPTIONS = keysOf<CheckpointOptions>()(
  'maxPickleBytes',
  'maxTensors',
  'maxCopyBytes',
  'maxInflatedBytes',
  'verifyChecksums',
  'stripPrefixes',
  'stateDictKey',
  'onWarning',
  'maxHeaderBytes',
  'readConcurrency',
  'signal',
);
const SAFETENSORS_OPTIONS = keysOf<Pick<CheckpointOptions, 'maxHeaderBytes' | 'readConcurrency' | 'signal'>>()('maxHeaderBytes', 'readConcurrency', 'signal');

function positive(v: number | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  // A string or null is a type error, a negative or NaN number a range error.
  if (typeof v !== 'number') throw new SotrTypeError(`CheckpointOptions.${name} must be a non-negative number, received ${shownValue(v)}`);
  if (!(v >= 0)) throw new SotrRangeError(`CheckpointOptions.${name} must be a non-negative number, received ${shownValue(v)}`);
  return v;
}

function checksumMode(v: unknown): boolean | 'metadata' {
  if (v === undefined) return 'metadata';
  if (v === true || v === false || v === 'metadata') return v;
  // Anything else (1, 'all', null) used to mean 'metadata' silently, checking less than the caller asked for.
  const msg = `CheckpointOptions.verifyChecksums must be true, false or 'metadata', received ${shownValue(v)}`;
  if (typeof v === 'string') throw new SotrRangeError(msg);
  throw new SotrTypeError(msg);
}

function resolve(o: CheckpointOptions, fileSize: number): Resolved {
  if (o.stripPrefixes !== undefined && (!Array.isArray(o.stripPrefixes) || !o.stripPrefixes.every((p) => typeof p === 'string'))) {
    throw new SotrTypeError('CheckpointOptions.stripPrefixes must be an array of strings');
  }
  if (o.onWarning !== undefined && typeof o.onWarning !== 'function') {
    throw new SotrTypeError(`CheckpointOptions.onWarning must be a function, received ${typeof o.onWarning}`);
  }
  const r: Resolved = {
    maxPickleBytes: positive(o.maxPickleBytes, 'maxPickleBytes', 64 * MiB),
    maxTensors: positive(o.maxTensors, 'maxTensors', 1_000_000),
    maxCopyBytes: positive(o.maxCopyBytes, 'maxCopyBytes', Math.max(2 * fileSize, 64 * MiB)),
    maxInflatedBytes: positive(o.maxInflatedBytes, 'maxInflatedBytes', Math.min(2048 * MiB, Math.max(32 * fileSize, 64 * MiB))),
    maxHeaderBytes: positive(o.maxHeaderBytes, 'maxHeaderBytes', MAX_HEADER_BYTES),
    verifyChecksums: checksumMode(o.verifyChecksums),
    stripPrefixes: o.stripPrefixes ?? ['module.'],
    readConcurrency: Math.max(1, Math.floor(positive(o.readConcurrency, 'readConcurrency', 4))),
    warn: o.onWarning ?? (() => {}),
  };
  if (o.stateDictKey !== undefined) {
    if (typeof o.stateDictKey !== 'string') throw new SotrTypeError(`CheckpointOptions.stateDictKey must be a string, received ${shownValue(o.stateDictKey)}`);
    r.stateDictKey = o.stateDictKey;
  }
  if (checkSignal('CheckpointOptions', o.signal) !== undefined) r.signal = o.signal;
  return r;
}

async function openSource(source: CheckpointSource): Promise<ByteSource> {
  if (typeof source === 'string') return FileSource.open(source);
  if (source instanceof Uint8Array) return new MemorySource(source);
  throw new SotrTypeError('checkpoint source must be a file path or a Uint8Array');
}

/** The first bytes of a file (up to 512). */
async function headOf(src: ByteSource): Promise<Buffer> {
  const head = await readBytes(src, 0, Math.min(src.size, 512));
  return Buffer.from(head.buffer, head.byteOffset, head.byteLength);
}

/** Whether a file's first bytes are a safetensors file's, sound or damaged (its parser then says what is wrong). */
function isSafetensors(b: Buffer, size: number): boolean {
  // safetensors first: its first 8 bytes are the header's length, which may begin like a pickle (80 02..05: a header
  // of 640, 896, ... bytes) or a zip; a '{' at byte 8 within the file's size is neither (byte 8 is inside a legacy
  // file's magic number, 0xf9, and a zip's compression method, 0 or 8).
  if (b.length >= 9 && b[8] === 0x7b && b.readBigUInt64LE(0) + 8n <= BigInt(size)) return true;
  // A damaged safetensors file (header past the end, a JSON array, stray bytes) still has a length under 4 GiB
  // and a JSON character at byte 8: its parser says what is wrong. No torch file has zeros in bytes 4..7 (a
  // zip's version, a legacy file's magic number).
  return b.length >= 9 && b.readUInt32LE(4) === 0 && b.readUInt32LE(0) >= 2 && /^[{["\s]$/.test(String.fromCharCode(b[8]!));
}

/** Recognises the format from the first bytes. */
async function detect(src: ByteSource): Promise<CheckpointFormat> {
  if (src.size === 0) throw new CheckpointFormatError(`${src.name}: empty file`);
  const b = await headOf(src);
  if (isSafetensors(b, src.size)) return 'safetensors';
  if (b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5) && (b[3] === 4 || b[3] === 6)) return 'torch-zip';
  if (b[0] === 0x80 && b.length >= 2 && b[1]! >= 2 && b[1]! <= 5) return 'torch-legacy';
  if (b.length >= 262 && b.toString('latin1', 257, 262) === 'ustar') {
    throw new CheckpointFormatError(`${src.name}: a tar archive: the tar-based torch.save format (before torch 0.4) is not supported; re-save it with a newer torch`);
  }
  if (b[0] === 0x80) throw new CheckpointFormatError(`${src.name}: pickle protocol ${b[1]} is not supported`);
  // The magic number as protocols 0 and 1 write it (a text LONG).
  if (b.toString('latin1', 0, 27) === 'L119547037146038801333356L\n') {
    throw new CheckpointFormatError(
      `${src.name}: a legacy torch.save file written with pickle protocol 0 or 1, which is not supported; re-save it with torch.save's default pickle_protocol`,
    );
  }
  throw new CheckpointFormatError(
    `${src.name}: not a checkpoint this reader knows (expected a torch.save zip or legacy file, or safetensors; first bytes ${b
      .subarray(0, 8)
      .toString('hex')})`,
  );
}

/** Turns anything unexpected into a typed error; file-system errors (ENOENT, EACCES, …) pass through. */
async function guarded<T>(label: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof SotrError || e instanceof SotrTypeError || e instanceof SotrRangeError) throw e;
    if (e instanceof Error && e.name === 'AbortError') throw new AbortError('reading the checkpoint', (e as Error & { cause?: unknown }).cause);
    if (e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && (e as NodeJS.ErrnoException).syscall) throw e;
    throw new CheckpointFormatError(`${label}: unexpected failure while reading the checkpoint (${(e as Error)?.message ?? String(e)})`, {
      cause: e,
      details: { internal: true },
    });
  }
}

async function readTorch(
  parsed: ParsedTorchFile,
  o: Resolved,
): Promise<{ tensors: Map<string, CheckpointEntry>; info: CheckpointInfo }> {
  const sel = selectStateDict(parsed.root, parsed.label, {
    ...(o.stateDictKey !== undefined ? { stateDictKey: o.stateDictKey } : {}),
    stripPrefixes: o.stripPrefixes,
    maxTensors: o.maxTensors,
    warn: o.warn,
  });
  const roots = new Map<string, StorageInfo>();
  for (const [, t] of sel.tensors) roots.set(t.storage.root.key, t.storage.root);
  const plans = new Map<string, StoragePlan>();
  await mapLimit([...roots.values()], 16, async (info) => {
    plans.set(info.key, await parsed.plan(info));
  });
  // Distinct storages occupy distinct bytes of the file: overlapping records would let a small file claim
  // more memory than it holds.
  const spans = [...plans.entries()].filter(([, p]) => p.length > 0).sort((a, b) => a[1].start - b[1].start);
  let end = -1;
  for (const [key, p] of spans) {
    if (p.start < end) throw new CheckpointFormatError(`${parsed.label}: storage '${key}' overlaps another storage in the file`);
    end = Math.max(end, p.start + p.length);
  }
  const bufs = new Map<string, Uint8Array>();
  let storageBytes = 0;
  await mapLimit([...roots.values()], o.readConcurrency, async (info) => {
    throwIfAborted(o.signal, 'reading the checkpoint');
    const b = await plans.get(info.key)!.read();
    if (parsed.byteOrder === 'big') byteSwap(b, DTYPES[info.dtype].size);
    storageBytes += b.length;
    bufs.set(info.key, b);
  });
  throwIfAborted(o.signal, 'reading the checkpoint');
  const m = { copied: 0, limit: o.maxCopyBytes };
  const tensors = new Map<string, CheckpointEntry>();
  for (const [name, t] of sel.tensors) tensors.set(name, materialize(name, t, bufs.get(t.storage.root.key)!, m, parsed.label));
  const locations = [...parsed.policy.locations].sort();
  return {
    tensors,
    info: {
      format: parsed.format,
      byteOrder: parsed.byteOrder,
      stateDictKey: sel.stateDictKey,
      ignoredEntries: sel.ignoredEntries,
      strippedKeys: sel.strippedKeys,
      locations,
      metadata: {},
      storageBytes,
    },
  };
}

/**
 * Reads a checkpoint (torch.save zip or legacy file, or safetensors) and also says what was found.
 * A training checkpoint `{"model": state_dict, "optimizer": ..., ...}` yields the model's tensors only; the
 * other entries are parsed (they are part of the pickle) but their storages are never read.
 */
export async function readCheckpointWithInfo(
  source: CheckpointSource,
  options: CheckpointOptions = {},
): Promise<{ tensors: Map<string, CheckpointEntry>; info: CheckpointInfo }> {
  checkOptions('readCheckpoint', options, CHECKPOINT_OPTIONS);
  resolve(options ?? {}, 0); // the options' values, before the file is opened
  const src = await openSource(source);
  try {
    return await guarded(src.name, async () => {
      const o = resolve(options, src.size);
      throwIfAborted(o.signal, 'reading the checkpoint');
      const format = await detect(src);
      if (format === 'safetensors') {
        const r = await readSafetensorsFrom(src, { maxHeaderBytes: o.maxHeaderBytes, readConcurrency: o.readConcurrency, ...(o.signal ? { signal: o.signal } : {}) });
        const tensors = new Map<string, CheckpointEntry>();
        let stripped = 0;
        for (const [k, v] of r.tensors) {
          const name = stripPrefixes(k, o.stripPrefixes);
          if (name !== k) stripped++;
          if (tensors.has(name)) throw new CheckpointFormatError(`${src.name}: key '${name}' appears twice (after stripping prefixes)`);
          tensors.set(name, v);
        }
        if (tensors.size === 0) throw new CheckpointFormatError(`${src.name}: the safetensors file holds no tensors`);
        return {
          tensors,
          info: {
            format,
            byteOrder: 'little',
            stateDictKey: null,
            ignoredEntries: [],
            strippedKeys: stripped,
            locations: [],
            metadata: r.metadata,
            storageBytes: r.bytes,
          },
        };
      }
      const inflate = { left: o.maxInflatedBytes };
      const parsed =
        format === 'torch-zip'
          ? await parseTorchZip(src, { maxPickleBytes: o.maxPickleBytes, verifyChecksums: o.verifyChecksums, inflate })
          : await parseTorchLegacy(src, { maxPickleBytes: o.maxPickleBytes, warn: o.warn });
      return readTorch(parsed, o);
    });
  } finally {
    await src.close();
  }
}

/**
 * Reads the tensors of a checkpoint: name → { shape, dtype, data } in the file's dtype (host memory).
 * See readCheckpointWithInfo.
 */
export async function readCheckpoint(source: CheckpointSource, options: CheckpointOptions = {}): Promise<Map<string, CheckpointEntry>> {
  return (await readCheckpointWithInfo(source, options)).tensors;
}

/** Reads a safetensors file (or buffer) only. */
export async function readSafetensors(
  source: CheckpointSource,
  options: Pick<CheckpointOptions, 'maxHeaderBytes' | 'readConcurrency' | 'signal'> = {},
): Promise<Map<string, CheckpointEntry>> {
  checkOptions('readSafetensors', options, SAFETENSORS_OPTIONS);
  resolve(options ?? {}, 0);
  const src = await openSource(source);
  try {
    return await guarded(src.name, async () => {
      const o = resolve(options, src.size);
      return (await readSafetensorsFrom(src, { maxHeaderBytes: o.maxHeaderBytes, readConcurrency: o.readConcurrency, ...(o.signal ? { signal: o.signal } : {}) })).tensors;
    });
  } finally {
    await src.close();
  }
}

/** The header of a safetensors file: metadata and each tensor's dtype and shape, without reading data. */
export async function readSafetensorsHeader(
  source: CheckpointSource,
  options: Pick<CheckpointOptions, 'maxHeaderBytes'> = {},
): Promise<{ metadata: Record<string, string>; tensors: Map<string, { dtype: string; shape: number[] }> }> {
  checkOptions('readSafetensorsHeader', options, ['maxHeaderBytes']);
  const src = await openSource(source);
  try {
    return await guarded(src.name, async () => {
      const h = await parseSafetensorsHeader(src, positive(options.maxHeaderBytes, 'maxHeaderBytes', MAX_HEADER_BYTES));
      const tensors = new Map<string, { dtype: string; shape: number[] }>();
      for (const [k, t] of h.tensors) tensors.set(k, { dtype: t.dtype, shape: t.shape });
      return { metadata: h.metadata, tensors };
    });
  } finally {
    await src.close();
  }
}

/**
 * @internal Whether a file is safetensors as readCheckpoint recognises it, sound or damaged (reading it then says
 * what is wrong): the CLI's inspect and convert choose their path with it.
 */
export async function isSafetensorsFile(file: string): Promise<boolean> {
  const src = await FileSource.open(file);
  try {
    return src.size > 0 && isSafetensors(await headOf(src), src.size);
  } finally {
    await src.close();
  }
}

/**
 * @internal The metadata of a checkpoint file that is safetensors (as readCheckpoint recognises it), from its header
 * alone, parsed and checked as readCheckpoint does (the same limit, the same CheckpointFormatError naming the file);
 * null for a file of another format, or of none this reader knows (reading it says what it is). `sotr predict` reads
 * a model's stored settings with it before the load.
 */
export async function safetensorsMetadata(file: string): Promise<Record<string, string> | null> {
  const src = await FileSource.open(file);
  try {
    return await guarded(src.name, async () => {
      if (!isSafetensors(await headOf(src), src.size)) return null;
      return (await parseSafetensorsHeader(src, MAX_HEADER_BYTES)).metadata;
    });
  } finally {
    await src.close();
  }
}
