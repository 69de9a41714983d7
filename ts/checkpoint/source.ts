/**
 * Random-access byte sources (a file or a buffer in memory) and aligned buffer allocation.
 * Storages are read straight into the buffers that back the returned tensors: one copy, no intermediate.
 */
import { RawFile } from '../raw_file';
import { CheckpointFormatError } from '../errors';

export interface ByteSource {
  readonly name: string;
  readonly size: number;
  /** Fills `dest` with the bytes at [pos, pos + dest.length); throws CheckpointFormatError past the end. */
  readInto(pos: number, dest: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** Largest single read request (Node caps one read at 2 GiB). */
const MAX_CHUNK = 1 << 30;

/** An uninitialised, 8-byte aligned byte buffer of its own (not from Node's pool). */
export function allocBytes(n: number): Uint8Array {
  if (n === 0) return new Uint8Array(0);
  const b = Buffer.allocUnsafeSlow(n);
  // allocUnsafeSlow gives a buffer that owns its ArrayBuffer from offset 0: typed views of any element size fit.
  if (b.byteOffset !== 0) {
    const c = new Uint8Array(n);
    return c;
  }
  return new Uint8Array(b.buffer, 0, n);
}

export async function readBytes(src: ByteSource, pos: number, len: number): Promise<Uint8Array> {
  const out = allocBytes(len);
  await src.readInto(pos, out);
  return out;
}

function checkRange(src: ByteSource, pos: number, len: number): void {
  if (!(Number.isSafeInteger(pos) && Number.isSafeInteger(len) && pos >= 0 && len >= 0 && pos + len <= src.size)) {
    throw new CheckpointFormatError(
      `${src.name}: truncated or corrupt file: needs bytes [${pos}, ${pos + len}) but the file has ${src.size} bytes`,
    );
  }
}

export class FileSource implements ByteSource {
  private constructor(
    readonly name: string,
    readonly size: number,
    private file: RawFile,
  ) {}

  // A raw descriptor (ts/raw_file.ts), not a FileHandle: closed should a worker be terminated while it reads.
  static async open(path: string): Promise<FileSource> {
    const file = RawFile.open(path);
    try {
      const st = file.stat();
      if (!st.isFile()) throw new CheckpointFormatError(`${path}: not a regular file`);
      return new FileSource(path, st.size, file);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  async readInto(pos: number, dest: Uint8Array): Promise<void> {
    checkRange(this, pos, dest.length);
    let done = 0;
    while (done < dest.length) {
      const want = Math.min(MAX_CHUNK, dest.length - done);
      const bytesRead = await this.file.read(dest, done, want, pos + done);
      if (bytesRead <= 0) {
        throw new CheckpointFormatError(`${this.name}: file ended early at byte ${pos + done} (was it truncated while reading?)`);
      }
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    this.file.close();
  }
}

export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(
    private bytes: Uint8Array,
    readonly name = '<buffer>',
  ) {
    this.size = bytes.length;
  }

  async readInto(pos: number, dest: Uint8Array): Promise<void> {
    checkRange(this, pos, dest.length);
    dest.set(this.bytes.subarray(pos, pos + dest.length));
  }

  async close(): Promise<void> {}
}

/** Runs `fn` over `items` with at most `limit` in flight; rejects with the first error after all settle. */
export async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { e: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (failed === null && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        if (failed === null) failed = { e };
      }
    }
  };
  const n = Math.max(1, Math.min(limit, items.length));
  await Promise.all(Array.from({ length: n }, worker));
  if (failed !== null) throw (failed as { e: unknown }).e;
}
