/**
 * Files read through raw descriptors (fs.openSync, fs.read, fs.close) rather than node:fs/promises' FileHandle: a
 * worker_thread terminated while a FileHandle of its is being opened or read leaves that descriptor open in the
 * process for good (40 terminations of a worker reading an image in a loop: 11 descriptors left), whereas Node
 * closes a worker's raw descriptors when it exits (Worker's trackUnmanagedFds). The open is synchronous (a system
 * call of microseconds on a local disk) so that the descriptor is known, and tracked, from the start; the reads (and
 * the writes and fsync of a file made with RawFile.create: writeSafetensors) are asynchronous, on libuv's threads.
 */
import * as fs from 'node:fs';

function readAt(fd: number, dest: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.read(fd, dest, offset, length, position, (err, bytesRead) => (err ? reject(err) : resolve(bytesRead)));
  });
}

function writeAt(fd: number, src: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.write(fd, src, offset, length, position, (err, written) => (err ? reject(err) : resolve(written)));
  });
}

// Opened without blocking: opening a FIFO waits for a writer (forever if none comes), and synchronously, the event
// loop with it; so it returns at once and the caller's fstat refuses what is not a regular file. No effect on a
// regular file's reads. (Windows has no O_NONBLOCK: the flags are plain O_RDONLY there.)
const OPEN_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

/** A file open for reading (open), or made for writing (create); close() when done (idempotent). */
export class RawFile {
  #fd: number | null;
  readonly path: string;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
  }

  /** Opens `path` for reading; Node's errors (ENOENT, EACCES, ...) as they are. */
  static open(path: string): RawFile {
    return new RawFile(path, fs.openSync(path, OPEN_FLAGS));
  }

  /** Creates `path` for writing, emptied if it exists (flag 'w'); Node's errors as they are. */
  static create(path: string): RawFile {
    return new RawFile(path, fs.openSync(path, 'w'));
  }

  #descriptor(): number {
    if (this.#fd === null) throw new Error(`${this.path}: used after close`);
    return this.#fd;
  }

  stat(): fs.Stats {
    return fs.fstatSync(this.#descriptor());
  }

  /** Reads up to `length` bytes at `position` into dest[offset...]; the bytes read (0 at the end of the file). */
  read(dest: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return readAt(this.#descriptor(), dest, offset, length, position);
  }

  /** Writes all of `src` at `position` (a short write is continued; up to 1 GiB a call). */
  async writeAll(src: Uint8Array, position: number): Promise<void> {
    for (let off = 0; off < src.length; ) {
      off += await writeAt(this.#descriptor(), src, off, Math.min(src.length - off, 1 << 30), position + off);
    }
  }

  /** fsync, on libuv's threads. */
  sync(): Promise<void> {
    const fd = this.#descriptor();
    return new Promise((resolve, reject) => fs.fsync(fd, (err) => (err ? reject(err) : resolve())));
  }

  close(): void {
    if (this.#fd === null) return;
    const fd = this.#fd;
    this.#fd = null;
    fs.closeSync(fd);
  }
}

/**
 * The whole file, like fs.promises.readFile, through a raw descriptor. A folder fails with EISDIR, anything else that
 * is not a regular file (a device, a FIFO, a socket) with ENOTSUP: /dev/zero and /dev/urandom never end.
 */
export async function readWholeFile(path: string): Promise<Buffer> {
  const file = RawFile.open(path);
  try {
    const st = file.stat();
    if (st.isDirectory()) {
      throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${path}'`), { code: 'EISDIR', errno: -21, syscall: 'read', path });
    }
    if (!st.isFile()) {
      throw Object.assign(new Error(`ENOTSUP: not a regular file, read '${path}'`), { code: 'ENOTSUP', errno: -95, syscall: 'read', path });
    }
    // The size stat gives, then on to the end should the file have grown (or be /proc-like, of size 0).
    const buf = Buffer.allocUnsafe(st.size);
    let n = 0;
    while (n < buf.length) {
      const got = await file.read(buf, n, Math.min(buf.length - n, 1 << 30), n);
      if (got === 0) return buf.subarray(0, n);
      n += got;
    }
    const more: Buffer[] = [];
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const got = await file.read(chunk, 0, chunk.length, n);
      if (got === 0) break;
      more.push(chunk.subarray(0, got));
      n += got;
    }
    return more.length ? Buffer.concat([buf, ...more]) : buf;
  } finally {
    file.close();
  }
}
