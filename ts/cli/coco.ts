/**
 * COCO for the CLI: category ids and names by label, image ids, and the results file (the format the COCO evaluation tools load with
 * loadRes: a JSON array of {image_id, category_id, segmentation, score, bbox}).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from './args';
import { scanLines, type ResultLine } from './journal';
import { COCO_CLASS_NAMES, categoryId } from '../model/coco';

export { categoryId };

export function className(label: number, names?: readonly string[]): string {
  return names?.[label] ?? COCO_CLASS_NAMES[label] ?? `class ${label}`;
}

export type ImageIdMap = Map<string, number | string>;

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

/** The image id of a results line: from the map, else the number in the file name (COCO style), else the name. */
export function imageId(file: string, ids?: ImageIdMap): number | string {
  if (ids) {
    const hit = ids.get(file) ?? ids.get(file.split(path.sep).join('/')) ?? ids.get(path.basename(file));
    if (hit !== undefined) return hit;
  }
  const stem = path.basename(file, path.extname(file));
  const digits = /(\d+)$/.exec(stem)?.[1];
  if (digits && /^\D*\d+$/.test(stem) && digits.length <= 15) return Number(digits);
  return stem;
}

/**
 * Writes COCO results for every image of a results file (the last line of each file wins), streaming, under a
 * temporary name renamed into place. Returns the counts.
 */
export async function writeCocoResults(
  resultsFile: string,
  out: string,
  ids?: ImageIdMap,
): Promise<{ images: number; detections: number; unmapped: number }> {
  const last = new Map<string, ResultLine>();
  scanLines(resultsFile, (line) => last.set(path.resolve(line.file), line));
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  const tmp = `${out}.partial-${process.pid}`;
  const ws = fs.createWriteStream(tmp);
  const write = (s: string) => (ws.write(s) ? Promise.resolve() : new Promise<void>((r) => ws.once('drain', () => r())));
  let detections = 0;
  let images = 0;
  let unmapped = 0;
  const usedIds = new Map<string, string>();
  try {
    await write('[');
    for (const line of last.values()) {
      if (line.error || !line.instances) continue;
      images++;
      const id = imageId(line.file, ids);
      if (ids && !ids.has(line.file) && !ids.has(path.basename(line.file))) unmapped++;
      const key = `${typeof id}:${id}`;
      const prev = usedIds.get(key);
      if (prev !== undefined && prev !== path.resolve(line.file)) {
        throw new UsageError(`--coco: image id ${JSON.stringify(id)} is shared by ${prev} and ${line.file}; pass --image-ids`);
      }
      usedIds.set(key, path.resolve(line.file));
      for (const inst of line.instances) {
        const rec = { image_id: id, category_id: inst.category_id, segmentation: inst.segmentation, score: inst.score, bbox: inst.bbox };
        await write((detections++ ? ',\n' : '\n') + JSON.stringify(rec));
      }
    }
    await write('\n]\n');
    await new Promise<void>((resolve, reject) => ws.end((err?: Error | null) => (err ? reject(err) : resolve())));
    fs.renameSync(tmp, out);
  } catch (e) {
    ws.destroy();
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  return { images, detections, unmapped };
}
