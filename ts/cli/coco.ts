/**
 * COCO for the CLI: category ids and names by label, image ids, and the results file (the format the COCO evaluation tools load with
 * loadRes: a JSON array of {image_id, category_id, segmentation, score, bbox}).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError, count } from './args';
import { ScanStopped, scanLinesAsync, type ResultLine } from './journal';
import { outputError } from './out_files';
import { cocoCategories } from '../model/coco';
import { SotrRangeError } from '../errors';

export type ImageIdMap = Map<string, number | string>;

/** --class-names: the classes of a checkpoint trained on another dataset, by label. */
export interface ClassNamesFile {
  /** The file as given. */
  file: string;
  names: string[];
  /** From a COCO annotations file; null for a list of names (the model's default ids). */
  categoryIds: number[] | null;
}

/**
 * What the CLI says for Sotr.load's refusal of class names (or their category ids) whose count is not the
 * checkpoint's, read from the error's details: "`given`: 2 classes for a checkpoint that has 5"; null for another
 * error. `given` names where the names came from (--class-names F, or the model's stored settings).
 */
export function classCountMismatch(e: unknown, names: ClassNamesFile, given: string): string | null {
  const d = e instanceof SotrRangeError ? e.details : undefined;
  if ((d?.option !== 'classNames' && d?.option !== 'cocoCategoryIds') || typeof d.received !== 'number' || d.received === d.expected) return null;
  const n = d.received;
  // One line holding commas: a list written on one line, where the file wants one name a line.
  const hint = n === 1 && names.names[0]?.includes(',') ? ' (one name a line: the file has one line, with commas)' : '';
  return `${given}: ${n} class${n === 1 ? '' : 'es'} for a checkpoint that has ${String(d.expected)}${hint}`;
}

/**
 * Reads --class-names: a COCO annotations file (.json with "categories": [{id, name}]: names and category ids in
 * the order detectron2 numbers them, by id), a JSON array of names, or a text file with one name a line.
 */
export function loadClassNames(file: string): ClassNamesFile {
  const fail = (why: string): never => {
    throw new UsageError(`--class-names ${file}: ${why}`);
  };
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    fail((e as Error).message);
  }
  if (/\.json$/i.test(file)) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      fail((e as Error).message);
    }
    if (Array.isArray(doc)) {
      const bad = doc.findIndex((n) => typeof n !== 'string' || !n.trim());
      if (bad >= 0) fail(`entry ${bad} is not a class name (a non-empty string): ${JSON.stringify(doc[bad])}`);
      if (!doc.length) fail('the list is empty');
      return { file, names: doc as string[], categoryIds: null };
    }
    if (!doc || typeof doc !== 'object' || !('categories' in doc)) fail('expected a COCO annotations file ({"categories": [{"id", "name"}]}) or a JSON array of names');
    try {
      const c = cocoCategories(doc);
      return { file, names: c.classNames, categoryIds: c.cocoCategoryIds };
    } catch (e) {
      return fail((e as Error).message.replace(/^cocoCategories: /, ''));
    }
  }
  // One name a line; blank lines at the end are ignored, one in between would shift every later label.
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  while (lines.length && !lines[lines.length - 1]) lines.pop();
  if (!lines.length) fail('no class names (one a line)');
  const blank = lines.indexOf('');
  if (blank >= 0) fail(`line ${blank + 1} is empty (one class name a line, label 0 first)`);
  return { file, names: lines, categoryIds: null };
}

/**
 * Reads --image-ids: a COCO annotations file ({"images": [{"id", "file_name"}]}) or a plain object
 * {"<file name>": id}. Keys are matched against the image's path as written in the results and its base name.
 */
export function loadImageIds(file: string): ImageIdMap {
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`--image-ids ${file}: ${(e as Error).message}`);
  }
  const map: ImageIdMap = new Map();
  if (doc && typeof doc === 'object' && Array.isArray((doc as { images?: unknown }).images)) {
    for (const im of (doc as { images: Array<{ id?: unknown; file_name?: unknown }> }).images) {
      if (typeof im?.file_name === 'string' && (typeof im.id === 'number' || typeof im.id === 'string')) map.set(im.file_name, im.id);
    }
  } else if (doc && typeof doc === 'object' && !Array.isArray(doc)) {
    for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
      if (typeof v === 'number' || typeof v === 'string') map.set(k, v);
    }
  }
  if (!map.size) throw new UsageError(`--image-ids ${file}: expected {"images": [{"id", "file_name"}]} or {"<file name>": id}`);
  return map;
}

/** The id --image-ids gives an image (by its path as written in the results, or its base name), if any. */
export function mappedId(file: string, ids: ImageIdMap): number | string | undefined {
  return ids.get(file) ?? ids.get(file.split(path.sep).join('/')) ?? ids.get(path.basename(file));
}

/** The image id of a results line: from the map, else the number in the file name (COCO style), else the name. */
export function imageId(file: string, ids?: ImageIdMap): number | string {
  if (ids) {
    const hit = mappedId(file, ids);
    if (hit !== undefined) return hit;
  }
  const stem = path.basename(file, path.extname(file));
  const digits = /(\d+)$/.exec(stem)?.[1];
  if (digits && /^\D*\d+$/.test(stem) && digits.length <= 15) return Number(digits);
  return stem;
}

/** Why two images cannot share an id, and what to do about it. */
function clashHint(ids: ImageIdMap | undefined, idsFile: string | undefined): string {
  return ids
    ? `--image-ids ${idsFile ?? ''} gives both the same id (a key matches a path as written in the results, or a base name: key them by path)`.replace('  ', ' ')
    : 'pass --image-ids (a COCO annotations file, or {"<file name>": id})';
}

/**
 * Checks the image ids of a run's images before it starts: with --image-ids, every image must be in it (a guessed
 * id, the number in a name, could be another image's); and no two images may share an id, nor one of `earlier`, the
 * images with results already in the file that this run does not redo (they are in the COCO file too; those not in
 * --image-ids are left out of it, so of the check).
 */
export function checkImageIds(
  files: Array<{ file: string; key: string }>,
  ids: ImageIdMap | undefined,
  idsFile?: string,
  earlier: Array<{ file: string; key: string }> = [],
): void {
  if (ids) {
    const missing = files.filter((f) => mappedId(f.file, ids) === undefined).map((f) => f.file);
    if (missing.length) {
      throw new UsageError(
        `--coco: ${count(missing.length, 'image')} ${missing.length === 1 ? 'is' : 'are'} not in --image-ids ${idsFile ?? ''}: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}; ` +
          'add them to it, or leave them out of --input (they get no guessed id: it could be another image\'s)',
      );
    }
  }
  const used = new Map<string, { file: string; key: string }>();
  const mapped = earlier.filter((e) => !ids || mappedId(e.file, ids) !== undefined);
  for (const { file, key } of [...mapped, ...files]) {
    const id = imageId(file, ids);
    const k = `${typeof id}:${id}`;
    const prev = used.get(k);
    if (prev !== undefined && prev.key !== key) {
      const where = mapped.some((e) => e.key === prev.key) ? ` (in the results file already)` : '';
      throw new UsageError(`--coco: image id ${JSON.stringify(id)} is shared by ${prev.file}${where} and ${file}; ${clashHint(ids, idsFile)}`);
    }
    used.set(k, { file, key });
  }
}

/** An image's last line so far, in writeCocoResults: what it gave, and where its records are in the temporary file. */
interface LastLine {
  file: string;
  /** 'image': its records are at [start, end); 'unmapped': not in --image-ids; 'none': an error line, or no instances. */
  kind: 'image' | 'unmapped' | 'none';
  start: number;
  end: number;
  detections: number;
}

/**
 * Writes COCO results for every image of a results file (the last line of each file wins), under a temporary name
 * renamed into place (removed on any failure, and when `stop()` turns true: a ScanStopped, an earlier file left as it was). With --image-ids, images not in it are left out (counted in
 * `unmapped`), never given a guessed id. `base`: the folder the lines' relative paths are relative to.
 */
export async function writeCocoResults(
  resultsFile: string,
  out: string,
  ids?: ImageIdMap,
  o: { base?: string; idsFile?: string; stop?: () => boolean } = {},
): Promise<{ images: number; detections: number; unmapped: string[] }> {
  const base = o.base ?? process.cwd();
  // One pass, each line parsed once: its records are written as it is read, and each image's byte range kept. An
  // image met again (a retried failure, a line written twice) moves to the end of `last`, and its earlier records, if
  // it had any, are cut out afterwards, what follows them moved down (rare: both lines must have instances). A
  // results file is ~70 KB a line with 100 masks: holding every line took 4.3 GB of memory for 45 000 images, and the
  // two passes that replaced it (last line numbers, then those lines) parsed every line twice.
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  const tmp = `${out}.partial-${process.pid}`;
  // Synchronous writes of 1 MB pieces: an error (a full disk, a clash found half-way) is thrown here, and the
  // temporary file is gone before it reaches the caller.
  let fd: number;
  try {
    fd = fs.openSync(tmp, 'w+'); // read back should some records have to be cut out
  } catch (e) {
    throw outputError('--coco', out, e);
  }
  let pending = '';
  let bytes = 0; // written to the file or pending: where the next record starts
  const write = (s: string) => {
    pending += s;
    bytes += Buffer.byteLength(s);
    if (pending.length >= 1 << 20) {
      fs.writeSync(fd, pending);
      pending = '';
    }
  };
  const last = new Map<string, LastLine>(); // by resolved path, in the order of each image's last line
  const dead: Array<[number, number]> = []; // byte ranges of records an image's later line replaced
  let records = 0;
  try {
    write('[');
    // Read a piece at a time, the event loop let run between pieces, so Ctrl-C (`stop`) is seen during a long write.
    await scanLinesAsync(resultsFile, o.stop ?? (() => false), (line: ResultLine) => {
      const key = path.resolve(base, line.file);
      const prev = last.get(key);
      if (prev) {
        last.delete(key);
        if (prev.end > prev.start) dead.push([prev.start, prev.end]);
      }
      const entry: LastLine = { file: line.file, kind: 'none', start: bytes, end: bytes, detections: 0 };
      last.set(key, entry);
      if (line.error || !line.instances) return;
      if (ids && mappedId(line.file, ids) === undefined) {
        entry.kind = 'unmapped';
        return;
      }
      entry.kind = 'image';
      const id = imageId(line.file, ids);
      for (const inst of line.instances) {
        const rec = { image_id: id, category_id: inst.category_id, segmentation: inst.segmentation, score: inst.score, bbox: inst.bbox };
        write((records++ ? ',\n' : '\n') + JSON.stringify(rec));
      }
      entry.end = bytes;
      entry.detections = line.instances.length;
    });
    write('\n]\n');
    fs.writeSync(fd, pending);
    pending = '';
    // Checked on the last lines only, in their order (an image's replaced line holds no id).
    let detections = 0;
    let images = 0;
    const unmapped: string[] = [];
    const usedIds = new Map<string, string>();
    for (const e of last.values()) {
      if (e.kind === 'unmapped') unmapped.push(e.file);
      if (e.kind !== 'image') continue;
      const id = imageId(e.file, ids);
      const k = `${typeof id}:${id}`;
      const prev = usedIds.get(k);
      if (prev !== undefined) throw new UsageError(`--coco: image id ${JSON.stringify(id)} is shared by ${prev} and ${e.file}; ${clashHint(ids, o.idsFile)}`);
      usedIds.set(k, e.file);
      images++;
      detections += e.detections;
    }
    if (dead.length) cutOut(fd, bytes, dead);
    fs.closeSync(fd);
    if (o.stop?.()) throw new ScanStopped(); // the earlier file stays as it was
    fs.renameSync(tmp, out);
    return { images, detections, unmapped };
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      /* closed already */
    }
    fs.rmSync(tmp, { force: true });
    // A full disk names --coco and its file, not the temporary (Node's message names neither).
    throw e instanceof ScanStopped ? e : outputError('--coco', out, e);
  }
}

/**
 * Removes the `cut` byte ranges from the `size` bytes of `fd`, moving what follows each down (in place: what is
 * written never passes what is read) and truncating. The ranges are whole records, each written after ',\n' (after
 * '\n' when first): when the first record written is cut, the ',' before the first one kept goes too.
 */
function cutOut(fd: number, size: number, cut: Array<[number, number]>): void {
  cut.sort((a, b) => a[0] - b[0]);
  const buf = Buffer.allocUnsafe(1 << 20);
  let to = cut[0]![0]; // nothing before the first cut moves
  const move = (from: number, end: number) => {
    for (let pos = from; pos < end; ) {
      const got = fs.readSync(fd, buf, 0, Math.min(buf.length, end - pos), pos);
      if (got <= 0) throw new Error(`--coco: the temporary file ended at ${pos} of ${size} bytes`);
      let at = to === 1 && buf[0] === 0x2c ? 1 : 0; // only the '[' kept so far: its ',' goes
      while (at < got) {
        const n = fs.writeSync(fd, buf, at, got - at, to);
        at += n;
        to += n;
      }
      pos += got;
    }
  };
  for (let i = 0; i < cut.length; i++) move(cut[i]![1], i + 1 < cut.length ? cut[i + 1]![0] : size);
  fs.ftruncateSync(fd, to);
}
