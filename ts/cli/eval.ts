/**
 * `sotr eval`: COCO AP of a results file against a COCO annotation file, computed as pycocotools computes it
 * (ts/eval/coco_eval.ts), so the released checkpoints' published numbers can be checked with no Python.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EVAL_USAGE, EXIT, UsageError, flag, listOption, parse, str } from './args';
import { imageId, type ImageIdMap } from './coco';
import { scanLines, type ResultLine } from './journal';
import type { CliIO } from './predict';
import { categoryIds, evaluateCoco, imageKey, type CocoGroundTruth, type CocoIouType, type CocoResult } from '../eval/coco_eval';

function readJson(file: string, what: string): unknown {
  if (!fs.existsSync(file)) throw new UsageError(`${what} not found: ${file}`);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${what} ${file} is not JSON: ${(e as Error).message}`);
  }
}

/**
 * Our JSON Lines results as COCO results: images found by file name in the annotations, else by the number in it.
 * The last line of an image wins (a retried image has two), and so does the last of two paths with one image id
 * (a resume from another folder wrote the same images again under other relative paths): never both.
 */
function fromResultLines(
  file: string,
  gt: CocoGroundTruth,
  known: Set<string>,
): { results: CocoResult[]; images: number; unmatched: string[]; superseded: string[] } {
  const ids: ImageIdMap = new Map();
  for (const im of gt.images as Array<{ id: number | string; file_name?: string }>) if (typeof im.file_name === 'string') ids.set(im.file_name, im.id);
  const last = new Map<string, { line: ResultLine; id: number | string; key: string }>();
  const superseded = new Set<string>();
  scanLines(file, (line) => {
    const id = imageId(line.file, ids);
    const idKey = imageKey(id);
    const key = path.resolve(line.file);
    const prev = last.get(idKey);
    if (prev && prev.key !== key) superseded.add(prev.line.file);
    last.set(idKey, { line, id, key });
  });
  const results: CocoResult[] = [];
  const unmatched: string[] = [];
  let images = 0;
  for (const { line, id } of last.values()) {
    if (line.error || !line.instances) continue;
    if (!known.has(imageKey(id))) {
      unmatched.push(line.file);
      continue;
    }
    images++;
    for (const inst of line.instances) results.push({ image_id: id, category_id: inst.category_id, score: inst.score, segmentation: inst.segmentation, bbox: inst.bbox });
  }
  return { results, images, unmatched, superseded: [...superseded] };
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
  const types = (str(p, 'iou') ?? 'segm,bbox').split(',').map((s) => s.trim());
  for (const t of types) if (t !== 'segm' && t !== 'bbox') throw new UsageError(`--iou: 'segm', 'bbox' or both, received '${t}'`);
  const gt = readJson(gtFile, '--gt') as CocoGroundTruth;
  if (!gt || !Array.isArray(gt.images) || !Array.isArray(gt.annotations) || !Array.isArray(gt.categories)) {
    throw new UsageError(`--gt ${gtFile}: not a COCO annotation file (needs images, annotations, categories)`);
  }
  let results: CocoResult[];
  if (resFile.endsWith('.jsonl')) {
    if (!fs.existsSync(resFile)) throw new UsageError(`--results not found: ${resFile}`);
    const r = fromResultLines(resFile, gt, new Set(gt.images.map((i) => imageKey(i.id))));
    results = r.results;
    if (r.superseded.length) {
      io.stderr.write(`sotr eval: ${r.superseded.length} line(s) of ${resFile} have the image id of a later line under another path (${r.superseded.slice(0, 3).join(', ')}${r.superseded.length > 3 ? ', ...' : ''}): the last line of each image is scored\n`);
    }
    if (r.unmatched.length) {
      io.stderr.write(`sotr eval: ${r.unmatched.length} image(s) of ${resFile} are not in ${gtFile} (by file name or the number in it), left out: ${r.unmatched.slice(0, 3).join(', ')}${r.unmatched.length > 3 ? ', ...' : ''}\n`);
    }
  } else {
    const r = readJson(resFile, '--results');
    if (!Array.isArray(r)) throw new UsageError(`--results ${resFile}: expected a JSON array of COCO results (sotr predict --coco)`);
    results = r as CocoResult[];
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
    const s = await evaluateCoco(gt, t === 'segm' && !boxArea ? maskAreaResults() : results, t, categories ? { categories } : {});
    io.stdout.write(`${t}: ${s.images} images, ${s.categories} categories, ${s.groundTruths} ground truths, ${s.detections} results (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
    io.stdout.write(s.lines.join('\n') + '\n');
    const names = new Map(gt.categories.map((c) => [c.id, c.name ?? String(c.id)]));
    if (flag(p, 'per-category')) {
      io.stdout.write(`per-category ${t} AP (IoU 0.50:0.95, all areas, 100 detections):\n`);
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
