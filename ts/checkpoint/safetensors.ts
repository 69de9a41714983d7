/**
 * safetensors: an 8-byte little-endian header length, a JSON header
 * ({name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}), then raw little-endian data.
 */
import { rename, unlink } from 'node:fs/promises';
import { endianness } from 'node:os';
import { CheckpointFormatError, SotrTypeError } from '../errors';
import { throwIfAborted } from '../abort';
import { RawFile } from '../raw_file';
import { allocBytes, mapLimit, readBytes, type ByteSource } from './source';
import { DTYPES, numelOf, type CheckpointDType, type CheckpointEntry } from './types';

const BY_NAME: Record<string, CheckpointDType> = Object.fromEntries(
  (Object.keys(DTYPES) as CheckpointDType[]).map((d) => [DTYPES[d].safetensors, d]),
);

export interface SafetensorsTensorInfo {
  dtype: CheckpointDType;
  shape: number[];
  /** Absolute file offset of the data. */
  start: number;
  length: number;
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensorInfo>;
}

// Objects and arrays a header may nest (3 in the format, one to spare): deeper ones are refused before JSON.parse, which
// would spend ~30x the header's size on them (a 20 MB header of nested arrays exhausted a 512 MB heap: an abort).
const MAX_HEADER_DEPTH = 4;

/** The deepest nesting of objects and arrays in JSON text (brackets inside strings not counted), stopping past the limit. */
function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max && (max = depth) > MAX_HEADER_DEPTH) return max;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** Parses and checks the header of a safetensors source. */
export async function parseSafetensorsHeader(src: ByteSource, maxHeaderBytes: number): Promise<SafetensorsHeader> {
  const label = src.name;
  const bad = (m: string): never => {
    throw new CheckpointFormatError(`${label}: invalid safetensors file: ${m}`);
  };
  if (src.size < 8) bad('file shorter than 8 bytes');
  const lenBuf = await readBytes(src, 0, 8);
  const hlen = new DataView(lenBuf.buffer, lenBuf.byteOffset, 8).getBigUint64(0, true);
  if (hlen > BigInt(maxHeaderBytes)) bad(`header of ${hlen} bytes is over the limit of ${maxHeaderBytes}`);
  if (hlen + 8n > BigInt(src.size)) bad(`header of ${hlen} bytes runs past the end of the file (truncated?)`);
  const n = Number(hlen);
  const hb = await readBytes(src, 8, n);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(hb);
  } catch {
    return bad('header is not valid UTF-8');
  }
  const depth = nestingDepth(text);
  if (depth > MAX_HEADER_DEPTH) bad(`header nests ${depth} levels deep, where a safetensors header has 3 (an object of tensor objects holding arrays)`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return bad(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    return bad(`header is ${Array.isArray(header) ? 'a JSON array' : 'not a JSON object'}, expected an object of tensors`);
  }
  const base = 8 + n;
  const dataLen = src.size - base;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsTensorInfo>();
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('__metadata__ is not an object');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') bad(`__metadata__.${k} is not a string`);
        metadata[k] = s as string;
      }
      continue;
    }
    if (typeof v !== 'object' || v === null) return bad(`entry '${name}' is not an object`);
    const { dtype, shape, data_offsets: off } = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(BY_NAME, dtype)) {
      return bad(`entry '${name}' has unsupported dtype ${JSON.stringify(dtype)}`);
    }
    if (!Array.isArray(shape) || shape.length > 64 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      return bad(`entry '${name}' has an invalid shape`);
    }
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[0] > off[1]) {
      return bad(`entry '${name}' has invalid data_offsets`);
    }
    const dt = BY_NAME[dtype]!;
    const numel = numelOf(shape as number[]);
    const length = (off[1] as number) - (off[0] as number);
    if (numel < 0 || !Number.isSafeInteger(numel * DTYPES[dt].size)) return bad(`entry '${name}': shape [${shape}] is too large`);
    if (numel * DTYPES[dt].size !== length) {
      return bad(`entry '${name}': data_offsets span ${length} bytes, shape [${shape}] of ${dtype} needs ${numel * DTYPES[dt].size}`);
    }
    if ((off[1] as number) > dataLen) return bad(`entry '${name}' runs past the end of the file (truncated?)`);
    tensors.set(name, { dtype: dt, shape: (shape as number[]).slice(), start: base + (off[0] as number), length });
  }
  // Overlapping entries would let a small file claim more memory than it holds.
  const spans = [...tensors.entries()].filter(([, t]) => t.length > 0).sort((a, b) => a[1].start - b[1].start);
  let endSoFar = -1;
  let endName = '';
  for (const [name, t] of spans) {
    if (t.start < endSoFar) bad(`entries '${endName}' and '${name}' overlap`);
    if (t.start + t.length > endSoFar) {
      endSoFar = t.start + t.length;
      endName = name;
    }
  }
  return { metadata, tensors };
}

export interface SafetensorsReadOptions {
  maxHeaderBytes: number;
  readConcurrency: number;
  signal?: AbortSignal | undefined;
}

export async function readSafetensorsFrom(
  src: ByteSource,
  o: SafetensorsReadOptions,
): Promise<{ tensors: Map<string, CheckpointEntry>; metadata: Record<string, string>; bytes: number }> {
  assertLittleEndianHost();
  const h = await parseSafetensorsHeader(src, o.maxHeaderBytes);
  const out = new Map<string, CheckpointEntry>();
  const names = [...h.tensors.keys()];
  for (const name of names) out.set(name, undefined as unknown as CheckpointEntry); // keep header order
  let bytes = 0;
  await mapLimit(names, o.readConcurrency, async (name) => {
    throwIfAborted(o.signal, 'reading the checkpoint');
    const t = h.tensors.get(name)!;
    const buf = allocBytes(t.length);
    await src.readInto(t.start, buf);
    bytes += t.length;
    const d = DTYPES[t.dtype];
    out.set(name, { shape: t.shape, dtype: t.dtype, data: new d.ctor(buf.buffer, buf.byteOffset, t.length / d.size) });
  });
  return { tensors: out, metadata: h.metadata, bytes };
}

function assertLittleEndianHost(): void {
  if (endianness() !== 'LE') throw new CheckpointFormatError('checkpoint I/O needs a little-endian host');
}

/** Named checkpoint entries: a Map, an iterable of [name, entry] pairs, or a plain object (writeSafetensors). */
export type TensorCollection =
  | ReadonlyMap<string, CheckpointEntry>
  | Iterable<readonly [string, CheckpointEntry]>
  | Readonly<Record<string, CheckpointEntry>>;

function toPairs(t: TensorCollection): [string, CheckpointEntry][] {
  if (t instanceof Map) return [...t.entries()];
  if (typeof (t as Iterable<unknown>)[Symbol.iterator] === 'function') {
    return [...(t as Iterable<readonly [string, CheckpointEntry]>)].map(([k, v]) => [k, v]);
  }
  return Object.entries(t as Record<string, CheckpointEntry>);
}

/**
 * Writes tensors as a safetensors file (keys sorted, header padded to 8 bytes). The file is written under a
 * temporary name and renamed into place, so readers never see a partial file.
 */
export async function writeSafetensors(path: string, tensors: TensorCollection, metadata?: Record<string, string>): Promise<void> {
  assertLittleEndianHost();
  const pairs = toPairs(tensors).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SotrTypeError(`writeSafetensors: metadata '${k}' must be a string`);
    }
    header.__metadata__ = { ...metadata };
  }
  let offset = 0;
  const blobs: Uint8Array[] = [];
  const seen = new Set<string>();
  for (const [name, e] of pairs) {
    if (name === '__metadata__') throw new SotrTypeError("writeSafetensors: '__metadata__' cannot be a tensor name");
    if (seen.has(name)) throw new SotrTypeError(`writeSafetensors: duplicate tensor name '${name}'`);
    seen.add(name);
    const d = (DTYPES as Record<string, (typeof DTYPES)[CheckpointDType] | undefined>)[e?.dtype];
    if (d === undefined) throw new SotrTypeError(`writeSafetensors: '${name}' has unknown dtype ${JSON.stringify(e?.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((x) => Number.isSafeInteger(x) && x >= 0)) {
      throw new SotrTypeError(`writeSafetensors: '${name}' has an invalid shape`);
    }
    const numel = numelOf(e.shape);
    if (!ArrayBuffer.isView(e.data) || e.data.BYTES_PER_ELEMENT !== d.size || (e.data as { length: number }).length !== numel) {
      throw new SotrTypeError(`writeSafetensors: '${name}': data must be a ${d.size}-byte typed array of ${numel} elements for ${e.dtype} [${e.shape}]`);
    }
    const bytes = new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    header[name] = { dtype: d.safetensors, shape: e.shape, data_offsets: [offset, offset + bytes.length] };
    blobs.push(bytes);
    offset += bytes.length;
  }
  let hjson = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (hjson.length % 8)) % 8;
  if (pad) hjson = Buffer.concat([hjson, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hjson.length));
  const tmp = `${path}.partial-${process.pid}-${Date.now().toString(36)}`;
  // A raw descriptor (ts/raw_file.ts), not a FileHandle: closed should a worker be terminated while it writes.
  const file = RawFile.create(tmp);
  try {
    let pos = 0;
    for (const b of [len, hjson, ...blobs]) {
      await file.writeAll(b, pos);
      pos += b.length;
    }
    // On disk before the rename: a crash must not leave the final name holding a file whose data never arrived.
    await file.sync();
    file.close();
    await rename(tmp, path);
  } catch (e) {
    try {
      file.close();
    } catch {
      /* closed already, or the close failed: the file goes either way */
    }
    await unlink(tmp).catch(() => {});
    throw e;
  }
}
