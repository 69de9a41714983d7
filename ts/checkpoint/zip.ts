/**
 * A minimal, bounded zip reader: the central directory (zip64 included), stored entries as torch writes them,
 * and deflated entries (inflated with node:zlib under a size cap). No encryption, no multi-disk archives.
 */
import { crc32, createInflateRaw } from 'node:zlib';
import { CheckpointFormatError } from '../errors';
import { allocBytes, readBytes, type ByteSource } from './source';

/**
 * Inflates raw deflate data straight into `out` (zlib's chunks copied as they come), so the peak is the entry's size
 * once: collecting the chunks and joining them, as inflateRaw does, held it twice (a hostile 1.9 MB file asking for
 * 2 GB peaked at 3.9 GB). Resolves with the bytes produced; a number above out.length means the data inflates past it
 * (inflating stops there).
 */
function inflateInto(comp: Uint8Array, out: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    const z = createInflateRaw();
    let n = 0;
    z.on('data', (chunk: Buffer) => {
      if (n + chunk.length > out.length) {
        resolve(n + chunk.length);
        z.destroy();
        return;
      }
      out.set(chunk, n);
      n += chunk.length;
    });
    z.on('error', reject);
    z.on('end', () => resolve(n));
    z.end(comp);
  });
}

export interface ZipEntry {
  name: string;
  /** The name as stored, to match against the local header. */
  nameBytes: Uint8Array;
  method: number;
  flags: number;
  crc: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export interface ZipLimits {
  /** Largest central directory accepted. */
  maxDirectoryBytes: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_LOC64 = 0x07064b50;
const SIG_CEN = 0x02014b50;
const SIG_LOC = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;

const utf8 = new TextDecoder('utf-8', { fatal: false });

function u64(dv: DataView, off: number, what: string, label: string): number {
  const v = dv.getBigUint64(off, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointFormatError(`${label}: zip ${what} out of range`);
  return Number(v);
}

/** Reads the central directory; returns entries by name. */
export async function readZipDirectory(src: ByteSource, limits: ZipLimits): Promise<Map<string, ZipEntry>> {
  const label = src.name;
  const bad = (m: string): never => {
    throw new CheckpointFormatError(`${label}: corrupt zip archive: ${m}`);
  };
  if (src.size < EOCD_SIZE) bad('file too small');
  const tailLen = Math.min(src.size, EOCD_SIZE + MAX_COMMENT);
  const tailPos = src.size - tailLen;
  const tail = await readBytes(src, tailPos, tailLen);
  const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
    if (tv.getUint32(i, true) === SIG_EOCD && i + EOCD_SIZE + tv.getUint16(i + 20, true) <= tailLen) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) bad('end of central directory not found (truncated file?)');
  const disk = tv.getUint16(eocd + 4, true);
  const cdDisk = tv.getUint16(eocd + 6, true);
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  const eocdAbs = tailPos + eocd;
  let cdEndLimit = eocdAbs;
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff || disk === 0xffff) {
    // zip64: the locator sits right before the EOCD record.
    if (eocdAbs < 20) bad('zip64 locator missing');
    const loc = await readBytes(src, eocdAbs - 20, 20);
    const lv = new DataView(loc.buffer, loc.byteOffset, 20);
    if (lv.getUint32(0, true) !== SIG_LOC64) bad('zip64 locator missing');
    const recOff = u64(lv, 8, 'zip64 record offset', label);
    if (recOff + 56 > eocdAbs - 20) bad('zip64 record outside the file');
    const rec = await readBytes(src, recOff, 56);
    const rv = new DataView(rec.buffer, rec.byteOffset, 56);
    if (rv.getUint32(0, true) !== SIG_EOCD64) bad('zip64 end record missing');
    if (rv.getUint32(16, true) !== 0 || rv.getUint32(20, true) !== 0) bad('multi-disk archives are not supported');
    count = u64(rv, 32, 'entry count', label);
    cdSize = u64(rv, 40, 'directory size', label);
    cdOffset = u64(rv, 48, 'directory offset', label);
    cdEndLimit = recOff;
  } else if (disk !== 0 || cdDisk !== 0) {
    bad('multi-disk archives are not supported');
  }
  if (cdOffset + cdSize > cdEndLimit) bad('central directory lies outside the file');
  if (cdSize > limits.maxDirectoryBytes) bad(`central directory of ${cdSize} bytes is over the limit`);
  if (count * 46 > cdSize) bad('entry count does not fit the central directory');
  const cd = await readBytes(src, cdOffset, cdSize);
  const dv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdSize || dv.getUint32(p, true) !== SIG_CEN) bad(`central directory entry ${i} is damaged`);
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    let csize = dv.getUint32(p + 20, true);
    let usize = dv.getUint32(p + 24, true);
    const nlen = dv.getUint16(p + 28, true);
    const elen = dv.getUint16(p + 30, true);
    const clen = dv.getUint16(p + 32, true);
    let diskStart = dv.getUint16(p + 34, true);
    let lho = dv.getUint32(p + 42, true);
    const recEnd = p + 46 + nlen + elen + clen;
    if (recEnd > cdSize) bad(`central directory entry ${i} runs past the directory`);
    const name = utf8.decode(cd.subarray(p + 46, p + 46 + nlen));
    // zip64 extended information: only the fields that are saturated appear, in this order.
    if (usize === 0xffffffff || csize === 0xffffffff || lho === 0xffffffff || diskStart === 0xffff) {
      let e = p + 46 + nlen;
      const eEnd = e + elen;
      let found = false;
      while (e + 4 <= eEnd) {
        const id = dv.getUint16(e, true);
        const len = dv.getUint16(e + 2, true);
        if (e + 4 + len > eEnd) break;
        if (id === 0x0001) {
          let q = e + 4;
          const take = (): number => {
            if (q + 8 > e + 4 + len) bad(`zip64 field of '${name}' is short`);
            const v = u64(dv, q, 'zip64 field', label);
            q += 8;
            return v;
          };
          if (usize === 0xffffffff) usize = take();
          if (csize === 0xffffffff) csize = take();
          if (lho === 0xffffffff) lho = take();
          if (diskStart === 0xffff) {
            if (q + 4 > e + 4 + len) bad(`zip64 field of '${name}' is short`);
            diskStart = dv.getUint32(q, true);
          }
          found = true;
          break;
        }
        e += 4 + len;
      }
      if (!found) bad(`'${name}' needs zip64 sizes but has none`);
    }
    if (diskStart !== 0) bad('multi-disk archives are not supported');
    if (entries.has(name)) bad(`entry '${name}' appears twice`);
    entries.set(name, { name, nameBytes: cd.slice(p + 46, p + 46 + nlen), method, flags, crc, compressedSize: csize, size: usize, localHeaderOffset: lho });
    p = recEnd;
  }
  return entries;
}

/** Offset of an entry's data (after its local header), checked against the file. */
export async function entryDataOffset(src: ByteSource, e: ZipEntry): Promise<number> {
  const bad = (m: string): never => {
    throw new CheckpointFormatError(`${src.name}: corrupt zip entry '${e.name}': ${m}`);
  };
  const nlen = e.nameBytes.length;
  if (e.localHeaderOffset + 30 + nlen > src.size) bad('local header outside the file');
  const h = await readBytes(src, e.localHeaderOffset, 30 + nlen);
  const hv = new DataView(h.buffer, h.byteOffset, 30);
  if (hv.getUint32(0, true) !== SIG_LOC) bad('local header signature missing');
  // A damaged directory offset can land on another entry's header (e.g. a storage of the same size): the local
  // header must describe this entry, or the wrong bytes would load silently.
  if (hv.getUint16(26, true) !== nlen || !h.subarray(30).every((b, i) => b === e.nameBytes[i])) {
    bad('the local header names another entry (damaged central directory)');
  }
  if (hv.getUint16(8, true) !== e.method) bad('local header and central directory disagree on the compression method');
  // Sizes are in the local header only without a data descriptor (flag bit 3; torch sets it) and outside zip64.
  if (!(hv.getUint16(6, true) & 0x8)) {
    const lcs = hv.getUint32(18, true);
    const lus = hv.getUint32(22, true);
    if ((lcs !== 0xffffffff && lcs !== e.compressedSize) || (lus !== 0xffffffff && lus !== e.size)) {
      bad('local header and central directory disagree on the sizes');
    }
  }
  const start = e.localHeaderOffset + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
  if (start + e.compressedSize > src.size) bad(`data [${start}, ${start + e.compressedSize}) runs past the end of the file (truncated?)`);
  return start;
}

export interface EntryReadOptions {
  verifyCrc: boolean;
  /** Remaining inflate budget, shared by all entries of one read; reserved here before inflating, refunded on failure. */
  inflate: { left: number };
  /** Cap for this entry's size (e.g. maxPickleBytes for data.pkl). */
  maxSize?: number | undefined;
  /** Data offset from entryDataOffset, when already known. */
  start?: number | undefined;
}

/** Reads one entry into an 8-byte-aligned buffer of its own. */
export async function readZipEntry(src: ByteSource, e: ZipEntry, opts: EntryReadOptions): Promise<Uint8Array> {
  const bad = (m: string): never => {
    throw new CheckpointFormatError(`${src.name}: zip entry '${e.name}': ${m}`);
  };
  if (e.flags & 0x1) bad('encrypted entries are not supported');
  if (opts.maxSize !== undefined && e.size > opts.maxSize) bad(`${e.size} bytes is over the limit of ${opts.maxSize}`);
  const start = opts.start ?? (await entryDataOffset(src, e));
  let out: Uint8Array;
  if (e.method === 0) {
    if (e.compressedSize !== e.size) bad('stored entry with differing sizes');
    out = allocBytes(e.size);
    await src.readInto(start, out);
  } else if (e.method === 8) {
    if (e.size > opts.inflate.left) {
      bad(`inflates to ${e.size} bytes, over the remaining decompression budget of ${opts.inflate.left} bytes (maxInflatedBytes)`);
    }
    // Reserved before the first await: entries inflating in parallel would otherwise all pass the check.
    opts.inflate.left -= e.size;
    try {
      const comp = await readBytes(src, start, e.compressedSize);
      out = allocBytes(e.size);
      let n: number;
      try {
        n = await inflateInto(comp, out);
      } catch (err) {
        return bad(`cannot inflate (${(err as Error).message})`);
      }
      if (n > e.size) bad(`inflates past the ${e.size} bytes the directory says`);
      if (n !== e.size) bad(`inflated to ${n} bytes, the directory says ${e.size}`);
    } catch (err) {
      opts.inflate.left += e.size;
      throw err;
    }
  } else {
    return bad(`compression method ${e.method} is not supported (only stored and deflate)`);
  }
  if (opts.verifyCrc && (crc32(out) >>> 0) !== e.crc >>> 0) bad('CRC-32 mismatch (corrupt file)');
  return out;
}
