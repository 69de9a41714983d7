/**
 * `sotr eval`: COCO AP of a results file against a COCO annotation file, computed as pycocotools computes it
 * (ts/eval/coco_eval.ts), so the released checkpoints' published numbers can be checked with no Python.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EVAL_USAGE, EXIT, UsageError, count, flag, listOption, parse, str } from './args';
import { imageId, type ImageIdMap } from './coco';
import { scanLines, type ResultLine } from './journal';
import type { CliIO } from './predict';
import { categoryIds, evaluateCoco, imageKey, type CocoEvalErrorDetails, type CocoGroundTruth, type CocoIouType, type CocoResult } from '../eval/coco_eval';
import { SotrError, SotrRangeError, SotrTypeError } from '../errors';

function readJson(file: string, what: string): unknown {
  if (!fs.existsSync(file)) throw new UsageError(`${what} not found: ${file}`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${what} ${file} is not JSON: ${(e as Error).message}`);
  }
}

/** Where a result came from in a JSON Lines file: its line number and its index in the line's instances. */
type Origin = { line: number; instance: number };

/**
 * Our JSON Lines results as COCO results: images found by file name in the annotations, else by the number in it.
 * The last line of an image wins (a retried image has two), and so does the last of two paths with one image id
 * (a resume from another folder wrote the same images again under other relative paths): never both.
 */
function fromResultLines(
  file: string,
  gt: CocoGroundTruth,
  known: Set<string>,
): { results: CocoResult[]; origins: Origin[]; images: number; unmatched: string[]; superseded: string[]; bad: number[]; torn: boolean } {
  const ids: ImageIdMap = new Map();
  for (const im of gt.images as Array<{ id: number | string; file_name?: string }>) if (typeof im.file_name === 'string') ids.set(im.file_name, im.id);
  const last = new Map<string, { line: ResultLine; n: number; id: number | string; key: string }>();
  const superseded = new Set<string>();
  let lines = 0;
  const scan = scanLines(file, (line, n) => {
    lines++;
    const id = imageId(line.file, ids);
    const idKey = imageKey(id);
    const key = path.resolve(line.file);
    const prev = last.get(idKey);
    if (prev && prev.key !== key) superseded.add(prev.line.file);
    last.set(idKey, { line, n, id, key });
  }, { finalLine: true });
  // The bytes after the last newline, unless they are a whole result line: a torn line (a killed run), never scored.
  const torn = !/^[\0\s]*$/.test(scan.tail.toString('utf8'));
  // No line to score would be AP 0 with exit 0: a wrong file, or one a crash left empty.
  if (!lines) {
    const why = scan.bad.length
      ? `${count(scan.bad.length, 'line')} ${scan.bad.length === 1 ? 'that is not a result (line' : 'that are not results (the first: line'} ${scan.bad[0]})`
      : torn
        ? 'only a torn line with no newline at its end'
        : 'nothing (it is empty)';
    throw new UsageError(`--results ${file} holds no result lines (sotr predict's JSON Lines): ${why}`);
  }
  const results: CocoResult[] = [];
  const origins: Origin[] = [];
  const unmatched: string[] = [];
  let images = 0;
  for (const { line, n, id } of last.values()) {
    if (line.error || line.instances === undefined || line.instances === null) continue;
    if (!Array.isArray(line.instances)) throw new UsageError(`--results ${file}: line ${n}: "instances" is not an array`);
    if (!known.has(imageKey(id))) {
      unmatched.push(line.file);
      continue;
    }
    images++;
    line.instances.forEach((inst, k) => {
      if (!isObject(inst)) throw new UsageError(`--results ${file}: line ${n}, instance ${k}: ${describe(inst)}, not an object`);
      results.push({ image_id: id, category_id: inst.category_id, score: inst.score, segmentation: inst.segmentation, bbox: inst.bbox });
      origins.push({ line: n, instance: k });
    });
  }
  return { results, origins, images, unmatched, superseded: [...superseded], bad: scan.bad, torn };
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const describe = (x: unknown): string => (x === null ? 'null' : Array.isArray(x) ? 'an array' : (JSON.stringify(x) ?? String(x)).slice(0, 40));


/**
 * The entries the CLI reads itself (file names, ids, category names, results' boxes) and hands to evaluateCoco:
 * a null or a number among them is named with its index here, not a TypeError with a stack.
 */
function checkEntries(list: unknown[], what: string, where: string): void {
  for (let i = 0; i < list.length; i++) {
    if (!isObject(list[i])) throw new UsageError(`${where}: ${what} ${i} is ${describe(list[i])}, not an object`);
  }
}

export async function evalCommand(argv: string[], io: CliIO): Promise<number> {
  const p = parse('eval', argv, {
    gt: { type: 'string' },
    results: { type: 'string' },
    iou: { type: 'string' },
    'box-area': { type: 'boolean' },
    'per-category': { type: 'boolean' },
    categories: { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  }, false);
  if (flag(p, 'help')) {
    io.stdout.write(EVAL_USAGE + '\n');
    return EXIT.ok;
  }
  const gtFile = str(p, 'gt');
  const resFile = str(p, 'results');
  if (!gtFile) throw new UsageError('--gt <annotations.json> is required');
  if (!resFile) throw new UsageError('--results <coco.json | results.jsonl> is required');
  // Each type once: --iou segm,segm would evaluate (and print) it twice.
  const types = [...new Set((str(p, 'iou') ?? 'segm,bbox').split(',').map((s) => s.trim()))];
  for (const t of types) if (t !== 'segm' && t !== 'bbox') throw new UsageError(`--iou: 'segm', 'bbox' or both, received '${t}'`);
  const gt = readJson(gtFile, '--gt') as CocoGroundTruth;
  if (!gt || !Array.isArray(gt.images) || !Array.isArray(gt.annotations) || !Array.isArray(gt.categories)) {
    throw new UsageError(`--gt ${gtFile}: not a COCO annotation file (needs images, annotations, categories)`);
  }
  checkEntries(gt.images, 'image', `--gt ${gtFile}`);
  checkEntries(gt.annotations, 'annotation', `--gt ${gtFile}`);
  checkEntries(gt.categories, 'category', `--gt ${gtFile}`);
  let results: CocoResult[];
  // A result's index as the user finds it: in the array of a COCO results file, or a line of JSON Lines.
  let resultName = (i: number): string => `result ${i}`;
  if (isJsonLines(resFile)) {
    if (!fs.existsSync(resFile)) throw new UsageError(`--results not found: ${resFile}`);
    const r = fromResultLines(resFile, gt, new Set(gt.images.map((i) => imageKey(i.id))));
    results = r.results;
    resultName = (i) => (r.origins[i] ? `line ${r.origins[i].line}, instance ${r.origins[i].instance}` : `result ${i}`);
    if (r.bad.length) {
      io.stderr.write(`sotr eval: ${count(r.bad.length, 'line')} of ${resFile} ${r.bad.length === 1 ? 'is not a result line (line' : 'are not result lines (the first: line'} ${r.bad[0]}), left out\n`);
    }
    if (r.torn) io.stderr.write(`sotr eval: the last line of ${resFile} has no newline at its end (a torn line), left out\n`);
    if (r.superseded.length) {
      io.stderr.write(`sotr eval: ${count(r.superseded.length, 'line')} of ${resFile} ${r.superseded.length === 1 ? 'has' : 'have'} the image id of a later line under another path (${r.superseded.slice(0, 3).join(', ')}${r.superseded.length > 3 ? ', ...' : ''}): the last line of each image is scored\n`);
    }
    if (r.unmatched.length) {
      io.stderr.write(`sotr eval: ${count(r.unmatched.length, 'image')} of ${resFile} ${r.unmatched.length === 1 ? 'is' : 'are'} not in ${gtFile} (by file name or the number in it), left out: ${r.unmatched.slice(0, 3).join(', ')}${r.unmatched.length > 3 ? ', ...' : ''}\n`);
    }
  } else {
    const r = readJson(resFile, '--results');
    if (!Array.isArray(r)) throw new UsageError(`--results ${resFile}: expected a JSON array of COCO results (sotr predict --coco)`);
    results = r as CocoResult[];
    checkEntries(results, 'result', `--results ${resFile}`);
  }
  const out: Record<string, unknown> = { gt: gtFile, results: resFile };
  // detectron2's COCOEvaluator (how the official numbers were made) drops the results' boxes for mask AP, so that
  // the small/medium/large ranges use mask areas; pycocotools' loadRes alone would take the box area.
  const boxArea = flag(p, 'box-area');
  // --categories person,car or ids: only those, as pycocotools' params.catIds (after sotr predict --classes).
  const catArg = str(p, 'categories');
  const items = listOption(p, 'categories', 'category names or ids');
  let categories: Array<number | string> | undefined;
  if (items) {
    const names = new Set(gt.categories.map((c) => c.name));
    // A name that is all digits is still a name when the annotation file has it; else a number is an id.
    categories = items.map((x) => (/^\d+$/.test(x) && !names.has(x) ? Number(x) : x));
    try {
      categoryIds(gt, categories); // the names and ids checked before the long runs
    } catch (e) {
      throw new UsageError(`--categories: ${(e as Error).message.replace(/^evaluateCoco: categories: /, '')}`);
    }
  }
  const maskAreaResults = (): CocoResult[] => results.map(({ bbox: _bbox, ...r }) => r);
  if (catArg !== undefined) out.categories = catArg;
  for (const t of types as CocoIouType[]) {
    const t0 = performance.now();
    const given = t === 'segm' && !boxArea ? maskAreaResults() : results;
    let s: Awaited<ReturnType<typeof evaluateCoco>>;
    try {
      s = await evaluateCoco(gt, given, t, categories ? { categories } : {});
    } catch (e) {
      if (!(e instanceof SotrError || e instanceof SotrTypeError || e instanceof SotrRangeError)) throw e;
      // The library's own checks of the data: a data error naming the file (and the entry), not an unexpected one.
      // Which input is at fault comes from the error's details (CocoEvalErrorDetails), not from its wording.
      const msg = e.message.replace(/^evaluateCoco: /, '');
      const d = e.details as Partial<CocoEvalErrorDetails> | undefined;
      if (d?.input === 'results') {
        const named = d.index !== undefined && msg.startsWith(`result ${d.index}`) ? resultName(d.index) + msg.slice(`result ${d.index}`.length) : msg;
        throw new UsageError(`--results ${resFile}: ${named}`);
      }
      if (d?.input === 'groundTruth') throw new UsageError(`--gt ${gtFile}: ${msg}`);
      throw new UsageError(`--gt ${gtFile} (--results ${resFile}): ${msg}`);
    }
    io.stdout.write(`${t}: ${count(s.images, 'image')}, ${count(s.categories, 'category', 'categories')}, ${count(s.groundTruths, 'ground truth')}, ${count(s.detections, 'result')} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
    io.stdout.write(s.lines.join('\n') + '\n');
    const names = new Map(gt.categories.map((c) => [c.id, c.name ?? String(c.id)]));
    if (flag(p, 'per-category')) {
      io.stdout.write(`per-category ${t} AP in % (IoU 0.50:0.95, all areas, 100 detections; - for a category without ground truth):\n`);
      for (const c of s.perCategory) io.stdout.write(`  ${(names.get(c.categoryId) ?? String(c.categoryId)).padEnd(16)} ${c.ap < 0 ? '  -' : (100 * c.ap).toFixed(3)}\n`);
    }
    out[t] = { stats: s.stats, lines: s.lines, perCategory: s.perCategory.map((c) => ({ ...c, name: names.get(c.categoryId) })) };
  }
  const jsonOut = str(p, 'json');
  if (jsonOut) {
    fs.mkdirSync(path.dirname(path.resolve(jsonOut)), { recursive: true });
    fs.writeFileSync(jsonOut, JSON.stringify(out, null, 2) + '\n');
  }
  return EXIT.ok;
}

// sotr predict's results (JSON Lines, whatever --out was called: .JSONL, .ndjson, .txt) or a COCO results array:
// told by the name, else by the first character (an array starts with '[', a line of results with '{').
function isJsonLines(file: string): boolean {
  if (/\.(jsonl|ndjson)$/i.test(file)) return true;
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const b = Buffer.alloc(256);
    const n = fs.readSync(fd, b, 0, b.length, 0);
    const first = b.subarray(0, n).toString('latin1').trimStart()[0];
    return first === '{';
  } catch {
    return false; // the COCO path reports a missing or unreadable file
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
