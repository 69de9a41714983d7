/**
 * The results file: JSON Lines, one line per image, each line written with a
 * single append (O_APPEND) and fsync'ed at intervals. Reopening the same file
 * resumes it: the images it already holds are skipped, and a torn last line
 * (a run killed in the middle of a write, or garbage left by a crash: the bytes
 * after the last newline) is cut off so that image is redone. Nothing else is
 * ever cut, and a file with no result line at all is not taken for one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from './args';
import { folderRealKeys } from './inputs';
import { outputError } from './out_files';

/** One instance in a results line. Field order is fixed so lines diff well. */
export interface ResultInstance {
  /** Contiguous class index (0..79 for COCO models). */
  label: number;
  /** Class name. */
  class: string;
  /** COCO category id (for COCO models). */
  category_id: number;
  score: number;
  /** [x, y, width, height] of the mask, in pixels of the original image. */
  bbox: [number, number, number, number];
  /** Mask pixels. */
  area: number;
  /** COCO RLE: { size: [height, width], counts: compressed string } (column-major). */
  segmentation: { size: [number, number]; counts: string };
  /** With --polygons: the mask's outer borders as COCO polygons [[x0, y0, x1, y1, ...], ...] (OpenCV's
   * findContours, RETR_EXTERNAL, CHAIN_APPROX_SIMPLE; borders of fewer than three points left out). */
  polygons?: number[][];
}

export interface ResultLine {
  file: string;
  width?: number;
  height?: number;
  instances?: ResultInstance[];
  /** Set when the image could not be read or segmented; the run goes on. */
  error?: string;
  /**
   * 'image': the file could not be read or decoded (kept on resume; --retry-errors redoes it);
   * 'model': the model failed on it (redone on resume).
   */
  error_kind?: 'image' | 'model';
  /** Milliseconds of model time for this image (its share of the batch). */
  ms?: number;
  /**
   * The names of its --viz overlay and --label-maps file in their folders, where the run had those options: a later
   * run keeps them for this image, so its outputs are found whatever other images that run is given.
   */
  viz?: string;
  label_map?: string;
}

/** What resuming needs to know of an image's last line (not its instances: a results file can be large). */
export interface LineStatus {
  error?: string;
  error_kind?: ResultLine['error_kind'];
  /** The image's name as its line gives it (loadJournal's entries; not the lines a run appends). */
  file?: string;
  /** Its line's output names (ResultLine's `viz`, `label_map`). */
  viz?: string;
  label_map?: string;
}

export interface JournalState {
  /** Status of the last line per resolved file path. */
  done: Map<string, LineStatus>;
  lines: number;
  /** Bytes after the last newline (a torn last line), cut by cutTornLine before appending; 0 if none. */
  truncatedBytes: number;
  /** The file's size when read (cutTornLine cuts only a file still of this size). */
  size: number;
  /** 1-based numbers of complete lines that did not parse (left as they are). */
  badLines: number[];
}

const CHUNK = 1 << 20;

/** A line's result (an object with a string `file`), or undefined when it is not one. */
function parseResultLine(text: string): ResultLine | undefined {
  try {
    const v = JSON.parse(text) as ResultLine;
    return v && typeof v === 'object' && typeof v.file === 'string' ? v : undefined;
  } catch {
    return undefined; // not JSON
  }
}

/**
 * Reads every complete line of a results file, calling `onLine` for each that parses. Returns the byte offset
 * just past the last line that parsed, and the numbers of lines that did not parse. With `finalLine`, bytes after
 * the last newline that parse as a whole result line (a file edited by hand, or by a tool that drops the final
 * newline) are a line too (`finalLineRead`): for readers; a resume still cuts them (a write of ours that lost its
 * newline may have lost more).
 */
export function scanLines(file: string, onLine: (line: ResultLine, n: number) => void, o: { finalLine?: boolean } = {}): ScanResult {
  const pieces = scanPieces(file, onLine, o);
  for (;;) {
    const r = pieces.next();
    if (r.done) return r.value;
  }
}

/**
 * scanLines a piece (1 MB) at a time, the event loop let run between pieces (a signal handler, for one): `stop()`
 * true after a piece ends it with a ScanStopped.
 */
export async function scanLinesAsync(file: string, stop: () => boolean, onLine: (line: ResultLine, n: number) => void, o: { finalLine?: boolean } = {}): Promise<ScanResult> {
  const pieces = scanPieces(file, onLine, o);
  try {
    for (;;) {
      const r = pieces.next();
      if (r.done) return r.value;
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (stop()) throw new ScanStopped();
    }
  } finally {
    pieces.return(undefined as never); // closes the file when stopped or failed
  }
}

/** scanLinesAsync (or writeCocoResults) stopped by its `stop()`: Ctrl-C. */
export class ScanStopped extends Error {
  constructor() {
    super('stopped');
    this.name = 'ScanStopped';
  }
}

type ScanResult = { goodEnd: number; size: number; bad: number[]; lastGood: number; end: number; tail: Buffer; finalLineRead: boolean };

function* scanPieces(file: string, onLine: (line: ResultLine, n: number) => void, o: { finalLine?: boolean }): Generator<void, ScanResult> {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    let pos = 0;
    let carry: Buffer = Buffer.alloc(0);
    let carryStart = 0; // the file offset of carry
    let goodEnd = 0;
    let lastGood = 0;
    let n = 0;
    const bad: number[] = [];
    const buf = Buffer.allocUnsafe(CHUNK);
    while (pos < size) {
      const got = fs.readSync(fd, buf, 0, Math.min(CHUNK, size - pos), pos);
      if (got <= 0) break;
      const data = carry.length ? Buffer.concat([carry, buf.subarray(0, got)]) : buf.subarray(0, got);
      const dataStart = carry.length ? carryStart : pos;
      pos += got;
      let start = 0;
      for (;;) {
        const nl = data.indexOf(0x0a, start);
        if (nl < 0) break;
        n++;
        const text = data.toString('utf8', start, nl).trim();
        const v = text ? parseResultLine(text) : undefined;
        if (v) {
          onLine(v, n);
          goodEnd = dataStart + nl + 1;
          lastGood = n;
        } else if (text) bad.push(n);
        start = nl + 1;
      }
      carry = Buffer.from(data.subarray(start));
      carryStart = dataStart + start;
      if (pos < size) yield;
    }
    let finalLineRead = false;
    if (o.finalLine && carry.length) {
      const v = parseResultLine(carry.toString('utf8').trim());
      if (v) {
        onLine(v, n + 1);
        finalLineRead = true;
        return { goodEnd: size, size, bad, lastGood: n + 1, end: size, tail: Buffer.alloc(0), finalLineRead };
      }
    }
    // end: just past the last newline; tail: the bytes after it (a torn line), at most the first 64.
    return { goodEnd, size, bad, lastGood, end: carryStart, tail: carry.subarray(0, 64), finalLineRead };
  } finally {
    fs.closeSync(fd);
  }
}

// A line's output names, where they are plain file names (a hand-edited line naming a path is ignored).
function outputNamesOf(v: ResultLine): Pick<LineStatus, 'viz' | 'label_map'> {
  const ok = (n: unknown): n is string => typeof n === 'string' && n !== '' && n !== '.' && n !== '..' && !/[/\\\0]/.test(n);
  return { ...(ok(v.viz) ? { viz: v.viz } : {}), ...(ok(v.label_map) ? { label_map: v.label_map } : {}) };
}

export function statusOf(line: ResultLine): LineStatus {
  return line.error === undefined ? {} : { error: line.error, ...(line.error_kind ? { error_kind: line.error_kind } : {}) };
}

/**
 * Reads a results file for resuming; modifies nothing (cutTornLine cuts the torn last line once the run's checks
 * have passed). A non-empty file with no result line (--out naming some other file) is a UsageError: appending to
 * it, or cutting it, would destroy it. Its one exception: a lone torn line of ours, or NUL bytes a crash left.
 *
 * `bases`: the folders the lines' relative paths may be relative to, the recorded one first. With more than one,
 * `base` is the one under which most lines name one of `inputs` (absolute paths; the first on a tie or when none
 * does): a file moved with its images (a renamed project folder, another mount point) is read against where they are
 * now, not where its first run was. One read of the file either way.
 */
export function loadJournal(file: string, bases: string | readonly string[] = process.cwd(), inputs: readonly string[] = []): JournalState & { base: string } {
  const candidates = typeof bases === 'string' ? [bases] : bases;
  const done = new Map<string, LineStatus>();
  let lines = 0;
  if (!fs.existsSync(file)) return { done, lines, truncatedBytes: 0, size: 0, badLines: [], base: candidates[0] };
  const wanted = new Set(inputs);
  const hits = candidates.map(() => 0);
  const entries: Array<[string, LineStatus]> = [];
  const { size, bad, end, tail } = scanLines(file, (v) => {
    lines++;
    entries.push([v.file, { ...statusOf(v), file: v.file, ...outputNamesOf(v) }]);
    if (candidates.length > 1 && !path.isAbsolute(v.file)) {
      candidates.forEach((c, i) => {
        if (wanted.has(path.resolve(c, v.file))) hits[i]++;
      });
    }
  });
  let best = 0;
  for (let i = 1; i < candidates.length; i++) if (hits[i] > hits[best]) best = i;
  const base = candidates[best];
  for (const [name, status] of entries) done.set(path.resolve(base, name), status);
  if (!lines) {
    const text = tail.toString('utf8');
    const tornOrBlank = /^[\0\s]*$/.test(text) || text.startsWith('{"file":');
    if (bad.length || !tornOrBlank) {
      throw new UsageError(`--out ${file} is not a results file (no line of it is a sotr predict result); give another --out, or delete it first`);
    }
  }
  return { done, lines, truncatedBytes: size - end, size, badLines: bad, base };
}

/**
 * The line an image already has in `done` (keyed by absolute path): by its path, else by its folder's real path and
 * its name, as expandInputs counts an image reached through a linked folder once. So an image done as
 * photos/2023/x.jpg (photos/2023 -> ../archive/2023) is not redone when a resume names it archive/2023/x.jpg. The
 * real-path index is made on the first miss, one realpath a folder; a linked file (not folder) is matched by its path
 * only.
 */
export function doneLookup(done: ReadonlyMap<string, LineStatus>): (file: string) => LineStatus | undefined {
  const realKey = folderRealKeys();
  let byReal: Map<string, LineStatus> | undefined;
  return (file) => {
    const abs = path.resolve(file);
    const hit = done.get(abs);
    if (hit !== undefined || done.size === 0) return hit;
    byReal ??= new Map([...done].map(([k, v]) => [realKey(k), v]));
    return byReal.get(realKey(abs));
  };
}

/** Cuts the torn last line loadJournal found (when the file is still as it was read). */
export function cutTornLine(file: string, j: JournalState): void {
  if (!j.truncatedBytes) return;
  if (fs.statSync(file).size === j.size) fs.truncateSync(file, j.size - j.truncatedBytes);
}

/** Appends result lines: one write per line, fsync at most every `syncMs` (and on close). */
export class JournalWriter {
  #fd: number;
  #dirty = false;
  #lastSync = Date.now();
  #syncing: Promise<void> | null = null;
  readonly file: string;
  written = 0;

  readonly #sink: ((buf: Buffer) => void) | undefined;

  /** `sink`: the lines go to it instead of the file (`--out -`: stdout; nothing to sync, nothing to resume). */
  constructor(
    file: string,
    overwrite: boolean,
    private readonly syncMs = 1000,
    sink?: (buf: Buffer) => void,
  ) {
    this.file = file;
    this.#sink = sink;
    if (sink) {
      this.#fd = -1;
      return;
    }
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.#fd = fs.openSync(file, overwrite ? 'w' : 'a');
  }

  /** Writes one line (a single append; a short write, which regular files do not do, is completed). */
  append(line: ResultLine): void {
    const buf = Buffer.from(JSON.stringify(line) + '\n', 'utf8');
    if (this.#sink) {
      this.#sink(buf);
      this.written++;
      return;
    }
    let off = 0;
    try {
      while (off < buf.length) off += fs.writeSync(this.#fd, buf, off, buf.length - off);
    } catch (e) {
      // A full disk: the message names --out and the file (Node's names neither); a part written is a torn line,
      // cut by the next run.
      throw outputError('--out', this.file, e);
    }
    this.written++;
    this.#dirty = true;
    if (Date.now() - this.#lastSync >= this.syncMs) void this.sync();
  }

  /** fsync (asynchronous, off the JS thread); concurrent calls share one. */
  sync(): Promise<void> {
    if (!this.#dirty) return this.#syncing ?? Promise.resolve();
    if (this.#syncing) return this.#syncing;
    this.#dirty = false;
    this.#lastSync = Date.now();
    this.#syncing = new Promise<void>((resolve) => fs.fsync(this.#fd, () => resolve())).finally(() => {
      this.#syncing = null;
    });
    return this.#syncing;
  }

  /** fsync now, on this thread (for a hard exit). */
  syncNow(): void {
    if (this.#sink) return;
    try {
      fs.fsyncSync(this.#fd);
    } catch {
      /* closed, or a file system without fsync */
    }
  }

  /** Flushes to disk and closes. */
  async close(): Promise<void> {
    if (this.#sink) return;
    await this.#syncing;
    try {
      fs.fsyncSync(this.#fd);
    } catch {
      /* a file system without fsync */
    }
    fs.closeSync(this.#fd);
  }
}
