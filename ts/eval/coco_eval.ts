/**
 * COCO detection / instance segmentation evaluation, computed as pycocotools' COCOeval computes it (cocoeval.py with
 * the default parameters: IoU 0.50:0.05:0.95, 101 recall points, maxDets 1/10/100, areas all/small/medium/large),
 * so that the AP of the released SOTR checkpoints can be checked from Node with no Python: `sotr eval`. The quirks
 * are kept on purpose, since they move the numbers: results that carry a `bbox` take its area (not the mask's) for
 * the area ranges (loadRes), a crowd ground truth's IoU is intersection / detection area, ground truths are matched
 * greedily by score with ignored ones last, precision is made monotone and read at the recall points with
 * searchsorted('left'), and -1 marks categories without ground truth. Checked against pycocotools on generated
 * annotations and results (tests/eval/coco_eval.test.mjs).
 */
import { SotrRangeError, SotrTypeError } from '../errors';
import { boxIou, rleArea, rleIouRows, rleToBox, RunPool, segmentationToRle, type CocoBox, type RleMask } from '../masks/coco_mask';
import { turnClock, type TurnClock } from '../event_loop';
import { checkOptions, nearestKey, shownValue } from '../options';

/** What evaluateCoco compares: 'segm' (mask IoU) or 'bbox' (box IoU). */
export type CocoIouType = 'segm' | 'bbox';

export type { CocoBox };

/**
 * A COCO annotation file: the parts evaluation reads, and the other standard fields (optional, not read), so that a
 * parsed instances_val2017.json or a literal copied from one type-checks.
 */
export interface CocoGroundTruth {
  info?: unknown;
  licenses?: unknown[];
  images: Array<{
    id: number | string;
    height: number;
    width: number;
    file_name?: string;
    license?: number;
    coco_url?: string;
    flickr_url?: string;
    date_captured?: string;
  }>;
  annotations: Array<{
    id: number;
    image_id: number | string;
    category_id: number;
    segmentation?: unknown;
    bbox?: CocoBox;
    area: number;
    iscrowd?: number | boolean;
    ignore?: number | boolean;
  }>;
  categories: Array<{ id: number; name?: string; supercategory?: string }>;
}

/** One result, as `sotr predict --coco` writes them (loadRes' format). */
export interface CocoResult {
  image_id: number | string;
  category_id: number;
  score: number;
  segmentation?: unknown;
  bbox?: CocoBox;
}

/** Options of evaluateCoco(). */
export interface CocoEvalOptions {
  /**
   * Evaluate these categories only, as pycocotools does with `params.catIds`: category ids, or names as the ground
   * truth's `categories` spell them (`['person']`). Annotations and results of other categories are left out, and
   * the means run over these (a run of `predict` with `classes` scored over all 80 would count the others as AP 0).
   * Default: every category of the ground truth.
   */
  categories?: readonly (number | string)[] | undefined;
}

/** What evaluateCoco() returns: COCOeval's 12 summary numbers and lines, the counts, and the AP per category. */
export interface CocoEvalSummary {
  iouType: CocoIouType;
  /** The 12 numbers of COCOeval.summarize(), in its order (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl). */
  stats: number[];
  /** summarize()'s printed lines. */
  lines: string[];
  images: number;
  categories: number;
  groundTruths: number;
  detections: number;
  /** AP (IoU 0.50:0.95, all areas, 100 detections) per category id, as detectron2 tabulates it; -1 without ground truth. */
  perCategory: Array<{ categoryId: number; ap: number }>;
}

// numpy.linspace's values: i * step + start, the last set to stop.
function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  const out: number[] = [];
  for (let i = 0; i < num; i++) out.push(i * step + start);
  out[num - 1] = stop;
  return out;
}

const IOU_THRS = linspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1);
const REC_THRS = linspace(0, 1, Math.round(1 / 0.01) + 1);
const MAX_DETS = [1, 10, 100];
const AREA_RNG: Array<[number, number]> = [
  [0, 1e10],
  [0, 32 ** 2],
  [32 ** 2, 96 ** 2],
  [96 ** 2, 1e10],
];
const AREA_LBL = ['all', 'small', 'medium', 'large'];
const EPS = 2.220446049250313e-16; // np.spacing(1)

// numpy's float64 sum (pairwise_sum: blocks of 8 partial sums up to 128 elements, halves above), so that means
// printed with 3 decimals round as pycocotools' do even when a value sits on the rounding boundary.
function pairwiseSum(a: Float64Array, lo: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[lo + i]!;
    return res;
  }
  if (n <= 128) {
    let r0 = a[lo]!;
    let r1 = a[lo + 1]!;
    let r2 = a[lo + 2]!;
    let r3 = a[lo + 3]!;
    let r4 = a[lo + 4]!;
    let r5 = a[lo + 5]!;
    let r6 = a[lo + 6]!;
    let r7 = a[lo + 7]!;
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      r0 += a[lo + i]!;
      r1 += a[lo + i + 1]!;
      r2 += a[lo + i + 2]!;
      r3 += a[lo + i + 3]!;
      r4 += a[lo + i + 4]!;
      r5 += a[lo + i + 5]!;
      r6 += a[lo + i + 6]!;
      r7 += a[lo + i + 7]!;
    }
    let res = r0 + r1 + (r2 + r3) + (r4 + r5 + (r6 + r7));
    for (; i < n; i++) res += a[lo + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, lo, n2) + pairwiseSum(a, lo + n2, n - n2);
}

// np.mean of the first n values' entries above -1 (-1 when there are none), `valid` a scratch array of n or more.
// numpy reduces in chunks of its ufunc buffer size (8192 elements), pairwise within a chunk and chunk after chunk:
// AP over 80 categories averages 80 800 values.
function meanOfValid(values: Float64Array, n: number, valid: Float64Array): number {
  let nv = 0;
  for (let i = 0; i < n; i++) if (values[i]! > -1) valid[nv++] = values[i]!;
  if (nv === 0) return -1;
  const CHUNK = 8192;
  let sum = 0;
  for (let c = 0; c < nv; c += CHUNK) sum += pairwiseSum(valid, c, Math.min(CHUNK, nv - c));
  return sum / nv;
}

// x before y in numpy's ascending order: NaN after every number.
function lt(x: number, y: number): boolean {
  return x < y || (y !== y && x === x);
}

// Stable sorts of index arrays by (k1, k2) ascending, i.e. numpy's argsort kind='mergesort' (the stable order is
// unique, so any stable sort gives its permutation): runs of 16 by insertion, then bottom-up merges between idx
// and tmp. Typed arrays and no comparator closure: the per-image index arrays of the old Array.sort made garbage.
// It looks at the clock between merges: a category's detections over all images (accumulate) can be 10^5 or more.
async function sortStable(idx: Int32Array, lo: number, hi: number, k1: Float64Array, k2: Float64Array, tmp: Int32Array, clock: TurnClock): Promise<void> {
  const before = (a: number, b: number) => lt(k1[a]!, k1[b]!) || (!lt(k1[b]!, k1[a]!) && lt(k2[a]!, k2[b]!));
  const RUN = 16;
  for (let s = lo; s < hi; s += RUN) {
    const e = Math.min(hi, s + RUN);
    for (let i = s + 1; i < e; i++) {
      const v = idx[i]!;
      let j = i - 1;
      for (; j >= s && before(v, idx[j]!); j--) idx[j + 1] = idx[j]!;
      idx[j + 1] = v;
    }
  }
  let src = idx;
  let dst = tmp;
  for (let width = RUN; width < hi - lo; width *= 2) {
    for (let s = lo; s < hi; s += 2 * width) {
      const mid = Math.min(hi, s + width);
      const e = Math.min(hi, s + 2 * width);
      let i = s;
      let j = mid;
      let o = s;
      while (i < mid && j < e) dst[o++] = before(src[j]!, src[i]!) ? src[j++]! : src[i++]!;
      while (i < mid) dst[o++] = src[i++]!;
      while (j < e) dst[o++] = src[j++]!;
      if (clock.due()) await clock.next();
    }
    const t = src;
    src = dst;
    dst = t;
  }
  if (src !== idx) idx.set(src.subarray(lo, hi), lo);
}

// A typed array of at least n entries: `a` itself when long enough, else a new one (scratch reused across loops).
function atLeast<A extends Float64Array | Int32Array | Uint8Array>(a: A, n: number, make: (n: number) => A): A {
  return a.length >= n ? a : make(Math.max(n, 2 * a.length));
}

// atLeast for an array that keeps its first `used` entries when it grows (the IoUs, the cells).
function grownTo<A extends Float64Array | Int32Array>(a: A, used: number, n: number, make: (n: number) => A): A {
  if (a.length >= n) return a;
  const grown = make(Math.max(n, 2 * a.length));
  grown.set(a.subarray(0, used));
  return grown;
}

/** @internal The `categories` option as sorted distinct ids of the ground truth's categories (names resolved through them). */
export function categoryIds(gt: CocoGroundTruth, wanted: unknown): number[] {
  if (!Array.isArray(wanted)) throw new SotrTypeError(`evaluateCoco: categories must be an array of category ids or names, received ${JSON.stringify(wanted)}`, INV, inOption('categories'));
  const byId = new Set(gt.categories.map((c) => c?.id));
  const byName = new Map<string, number>();
  for (const c of gt.categories) if (c && typeof c.name === 'string' && !byName.has(c.name)) byName.set(c.name, c.id);
  const ids = new Set<number>();
  for (const w of wanted as unknown[]) {
    if (typeof w === 'number') {
      if (!byId.has(w)) throw new SotrRangeError(`evaluateCoco: categories: the ground truth has no category with id ${w}`, INV, inOption('categories'));
      ids.add(w);
    } else if (typeof w === 'string') {
      const id = byName.get(w);
      if (id === undefined) {
        const near = nearestKey(w.trim(), [...byName.keys()]);
        const hint = !byName.size ? ' (its categories have no names: give ids)' : near !== undefined ? ` (did you mean ${JSON.stringify(near)}?)` : '';
        throw new SotrRangeError(`evaluateCoco: categories: the ground truth has no category named ${JSON.stringify(w)}${hint}`, INV, inOption('categories'));
      }
      ids.add(id);
    } else {
      throw new SotrTypeError(`evaluateCoco: categories must hold category ids (numbers) or names (strings), received ${shownValue(w)}`, INV, inOption('categories'));
    }
  }
  return [...ids].sort((a, b) => a - b);
}

/**
 * Where evaluateCoco found a problem, in its errors' `details`: `input` 'results' (with the result's `index`),
 * 'groundTruth' (`part` 'images' | 'annotations' | 'categories' and the entry's `index`, where one entry is at fault)
 * or 'options' (`option`), so that a caller (sotr eval) can name the file without reading the message.
 */
export interface CocoEvalErrorDetails {
  input: 'results' | 'groundTruth' | 'options';
  part?: 'images' | 'annotations' | 'categories';
  option?: string;
  index?: number;
  [k: string]: unknown;
}
const at = (details: CocoEvalErrorDetails) => ({ details });
const inResults = (index?: number) => at(index === undefined ? { input: 'results' } : { input: 'results', index });
const inGt = (part?: CocoEvalErrorDetails['part'], index?: number) =>
  at({ input: 'groundTruth', ...(part ? { part } : {}), ...(index !== undefined ? { index } : {}) });
const inOption = (option: string) => at({ input: 'options', option });
const INV = 'SOTR_INVALID_ARGUMENT';

// What an error says of a ground-truth annotation: its index and its id.
function gtName(j: number, a: { id?: unknown }): string {
  return `ground-truth annotation ${j} (id ${JSON.stringify(a.id) ?? 'undefined'})`;
}

// segmentationToRle, its error naming the entry whose segmentation it was ("result 3: COCO segmentation: ..."), so a
// caller (sotr eval) need not decode everything again to find it.
function decodeEntry(name: string, where: { details: CocoEvalErrorDetails }, segm: unknown, h: number, w: number, pool?: RunPool): RleMask {
  try {
    return segmentationToRle(segm, h, w, pool);
  } catch (e) {
    if (e instanceof Error) {
      e.message = `evaluateCoco: ${name}: ${e.message}`;
      // The decoder's own details (if any) kept beside where the entry is.
      const own = (e as { details?: unknown }).details;
      Object.defineProperty(e, 'details', { value: { ...(own && typeof own === 'object' ? own : {}), ...where.details }, enumerable: true, configurable: true });
    }
    throw e;
  }
}

// What an error says of a bad field's value.
function describe(v: unknown): string {
  return v === undefined ? 'missing' : `received ${JSON.stringify(v) ?? String(v)}`;
}

// An array whose first four entries are finite numbers (a longer one is read as far as pycocotools' boxes go).
function isBox(b: unknown): b is CocoBox {
  if (!Array.isArray(b) || b.length < 4) return false;
  for (let c = 0; c < 4; c++) if (typeof b[c] !== 'number' || !Number.isFinite(b[c])) return false;
  return true;
}

/** A COCO image id as a map key: numbers and strings apart, as Python's dict keys are (1 and '1' are two images). */
export function imageKey(id: number | string): string {
  return typeof id === 'number' ? `n${id}` : `s${id}`;
}

/**
 * Evaluates results against COCO ground truth; `iouType` 'segm' (masks) or 'bbox'. Runs on the calling thread,
 * yielding to the event loop every ~8 ms (COCO val2017 with 100 results an image: about 5 s for masks on 2 cores).
 * A ground-truth annotation evaluated without a field COCOeval reads (`bbox` for 'bbox', `segmentation` for 'segm',
 * a numeric `area` unless it is a crowd) is a SotrTypeError naming it, where pycocotools raises KeyError. An RLE whose
 * `size` is not its image's is a SotrRangeError naming the result or annotation, where pycocotools scores it as a miss.
 */
export async function evaluateCoco(
  gt: CocoGroundTruth,
  results: readonly CocoResult[],
  iouType: CocoIouType = 'segm',
  options: CocoEvalOptions = {},
): Promise<CocoEvalSummary> {
  if (iouType !== 'segm' && iouType !== 'bbox') throw new SotrRangeError(`evaluateCoco: iouType must be 'segm' or 'bbox', received ${shownValue(iouType)}`, INV, inOption('iouType'));
  checkOptions('evaluateCoco', options, ['categories']);
  if (!gt || !Array.isArray(gt.images) || !Array.isArray(gt.annotations) || !Array.isArray(gt.categories)) {
    throw new SotrTypeError('evaluateCoco: ground truth must have images, annotations and categories (a COCO annotation file)', INV, inGt());
  }
  if (!Array.isArray(results)) throw new SotrTypeError('evaluateCoco: results must be an array (a COCO results file)', INV, inResults());
  // A turn for the event loop every ~8 ms. Every loop below that can run long looks at the clock per item (an
  // image, a cell, a row of masks, a few hundred results) and yields when the turn is spent, so that a turn ends
  // within ~1 ms of its budget; the working data lives in typed arrays (per result, per annotation, per cell), not
  // in objects per result or per cell, so that the young-generation collections have little to copy. 8 ms, not 10:
  // a collection's pause (scavenges of 1-7 ms here, mostly promoting the caller's freshly parsed input) comes on
  // top of the budget, and 8 + 7 keeps the event loop's wait near 15 ms; the extra yields cost nothing measurable.
  const clock = turnClock(8);
  // Image ids as map keys (imageKey: 1 and '1' are two images); each key's size is the last image's with it.
  const numKeys = new Map<number, number>();
  const strKeys = new Map<string, number>();
  const keyH: number[] = [];
  const keyW: number[] = [];
  const keyOf = (id: unknown): number => (typeof id === 'number' ? numKeys.get(id) : strKeys.get(`${id as string}`)) ?? -1;
  for (let i = 0; i < gt.images.length; i++) {
    const im = gt.images[i];
    if (!im || typeof im !== 'object') throw new SotrTypeError('evaluateCoco: each ground-truth image must be an object { id, height, width }', INV, inGt('images', i));
    const { height: h, width: w } = im;
    if (!Number.isSafeInteger(h) || !Number.isSafeInteger(w) || h < 0 || w < 0 || h * w > 2 ** 32) {
      throw new SotrRangeError(`evaluateCoco: image ${JSON.stringify(im.id)} has height ${String(h)} and width ${String(w)}: expected two non-negative integers`, INV, inGt('images', i));
    }
    let u = keyOf(im.id);
    if (u < 0) {
      u = keyH.length;
      if (typeof im.id === 'number') numKeys.set(im.id, u);
      else strKeys.set(`${im.id as string}`, u);
    }
    keyH[u] = h;
    keyW[u] = w;
    if ((i & 255) === 255 && clock.due()) await clock.next();
  }
  for (let i = 0; i < gt.categories.length; i++) {
    const c = gt.categories[i];
    if (!c || typeof c !== 'object') throw new SotrTypeError(`evaluateCoco: ground-truth category ${i} is not an object { id, name }, received ${c === null ? 'null' : typeof c}`, INV, inGt('categories', i));
  }
  // p.imgIds and p.catIds: sorted, unique.
  const imgIds = [...new Set(gt.images.map((i) => i.id))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const catIds = options.categories === undefined ? [...new Set(gt.categories.map((c) => c.id))].sort((a, b) => a - b) : categoryIds(gt, options.categories);
  const catIndex = new Map(catIds.map((c, k) => [c, k]));
  await clock.next(); // the sorts above: a few ms for 5000 images

  // Each result an object with a score; loadRes: every result's image must be in the ground truth (the strays are
  // reported after the whole check, as before); 'bbox' in the first result decides the area.
  const nRes = results.length;
  const dtKey = new Int32Array(nRes);
  let stray = 0;
  let firstStray = -1;
  for (let i = 0; i < nRes; i++) {
    const r = results[i]; // a hole reads as undefined, refused here
    if (!r || typeof r !== 'object') {
      throw new SotrTypeError(`evaluateCoco: result ${i} is not an object { image_id, category_id, score, ... }, received ${r === null ? 'null' : typeof r}`, INV, inResults(i));
    }
    if (typeof r.score !== 'number') throw new SotrTypeError(`evaluateCoco: result ${i} has no numeric score`, INV, inResults(i));
    dtKey[i] = keyOf(r.image_id);
    if (dtKey[i]! < 0 && stray++ === 0) firstStray = i;
    if ((i & 1023) === 1023 && clock.due()) await clock.next();
  }
  if (stray) {
    throw new SotrRangeError(
      `evaluateCoco: ${stray} result(s) on images the ground truth does not have (first: image_id ${JSON.stringify(results[firstStray]!.image_id)}); ` +
        'evaluate against the annotation file the images came from',
      INV,
      at({ input: 'results', index: firstStray, count: stray }),
    );
  }
  // An RLE at another size than its image's (a results file made at another resolution, or with [w, h]) would be
  // read at its own size and never overlap (IoU -1): a whole file scored AP 0 with no hint (pycocotools too). A
  // ground truth's size is compared before any work (a malformed one is left to segmentationToRle); a result's once
  // decoded, so that a malformed RLE is reported as such first.
  const sizeError = (what: string, where: { details: CocoEvalErrorDetails }, size: readonly unknown[], imageId: unknown, u: number): SotrRangeError =>
    new SotrRangeError(
      `evaluateCoco: ${what} has an RLE of size [${JSON.stringify(size[0])}, ${JSON.stringify(size[1])}], but its image ${JSON.stringify(imageId)} is ` +
        `[${keyH[u]}, ${keyW[u]}] ([height, width]): masks must be at their image's size`,
      INV,
      where,
    );
  const checkGtRleSize = (j: number, a: { id?: unknown; image_id: unknown; segmentation?: unknown }, u: number): void => {
    const segm = a.segmentation;
    if (!segm || typeof segm !== 'object' || Array.isArray(segm)) return;
    const size = (segm as { size?: unknown }).size;
    if (Array.isArray(size) && size.length === 2 && (size[0] !== keyH[u] || size[1] !== keyW[u])) throw sizeError(gtName(j, a), inGt('annotations', j), size, a.image_id, u);
  };
  const checkResultRleSize = (i: number, rle: RleMask, u: number): void => {
    if (rle.h !== keyH[u] || rle.w !== keyW[u]) throw sizeError(`result ${i}`, inResults(i), [rle.h, rle.w], results[i]!.image_id, u);
  };
  const boxFirst = results.length > 0 && Array.isArray(results[0]!.bbox) && results[0]!.bbox.length > 0;

  // Ground truths kept (category evaluated, image known), as loadRes and _prepare read them.
  const nAnn = gt.annotations.length;
  const gtKey = new Int32Array(nAnn).fill(-1);
  const gtCat = new Float64Array(nAnn); // category index (a sort key)
  const gtArea = new Float64Array(nAnn);
  const gtCrowd = new Uint8Array(nAnn);
  const gtIdNonZero = new Uint8Array(nAnn); // pycocotools tests the matched id against 0
  const gtBox: CocoBox[] = new Array<CocoBox>(nAnn);
  const ZERO_BOX: CocoBox = [0, 0, 0, 0];
  let nGt = 0;
  for (let j = 0; j < nAnn; j++) {
    const a = gt.annotations[j];
    if (!a || typeof a !== 'object') {
      throw new SotrTypeError(`evaluateCoco: ground-truth annotation ${j} is not an object { id, image_id, category_id, ... }, received ${a === null ? 'null' : typeof a}`, INV, inGt('annotations', j));
    }
    const k = catIndex.get(a.category_id);
    const u = keyOf(a.image_id);
    if (k === undefined || u < 0) continue;
    // The fields COCOeval reads of a kept ground truth, where it raises KeyError (or TypeError) without them:
    // 'bbox' evaluation its bbox, 'segm' its segmentation, both its area unless it is a crowd (evaluateImg tests
    // `g['ignore'] or g['area'] < ...`). A box of [0, 0, 0, 0] never matched, a NaN area was in every range.
    const crowd = a.iscrowd ? 1 : 0;
    if (iouType === 'bbox' && !isBox(a.bbox)) throw new SotrTypeError(`evaluateCoco: ${gtName(j, a)} has no bbox [x, y, w, h] of finite numbers (${describe(a.bbox)}), which 'bbox' evaluation reads`, INV, inGt('annotations', j));
    if (iouType === 'segm' && a.segmentation === undefined) throw new SotrTypeError(`evaluateCoco: ${gtName(j, a)} has no segmentation, which 'segm' evaluation reads`, INV, inGt('annotations', j));
    if (iouType === 'segm') checkGtRleSize(j, a, u);
    if (!crowd && (typeof a.area !== 'number' || Number.isNaN(a.area))) {
      throw new SotrTypeError(`evaluateCoco: ${gtName(j, a)} has no numeric area (${describe(a.area)}), which the area ranges read`, INV, inGt('annotations', j));
    }
    gtKey[j] = u;
    gtCat[j] = k;
    gtArea[j] = crowd ? 0 : a.area; // a crowd's is not read
    gtCrowd[j] = crowd;
    gtIdNonZero[j] = a.id !== 0 ? 1 : 0;
    gtBox[j] = a.bbox ?? ZERO_BOX;
    nGt++;
    if ((j & 255) === 255 && clock.due()) await clock.next();
  }

  // Results kept: area, box and score (negated: the sort key) per result.
  const dtCat = new Float64Array(nRes).fill(-1);
  const dtNegScore = new Float64Array(nRes);
  const dtArea = new Float64Array(nRes);
  const dtBox: CocoBox[] = new Array<CocoBox>(nRes);
  let nDt = 0;
  for (let i = 0; i < nRes; i++) {
    const r = results[i]!;
    if ((i & 63) === 0 && clock.due()) await clock.next();
    const k = catIndex.get(r.category_id);
    if (k === undefined) {
      dtKey[i] = -1; // left out of the groups below
      continue;
    }
    if (boxFirst) {
      const given: unknown = r.bbox;
      // loadRes reads every result's bbox once the first result has one.
      let finite = Array.isArray(given) && given.length >= 4;
      for (let c = 0; finite && c < 4; c++) finite = !(c in (given as unknown[])) || (typeof (given as unknown[])[c] === 'number' && Number.isFinite((given as number[])[c]));
      if (!finite) {
        throw new SotrTypeError(`evaluateCoco: result ${i} has no bbox [x, y, w, h] of finite numbers (the first result has one, so every result needs one)`, INV, inResults(i));
      }
      const bb = given as CocoBox;
      dtBox[i] = bb;
      dtArea[i] = bb[2] * bb[3];
    } else {
      if (r.segmentation === undefined) throw new SotrTypeError(`evaluateCoco: result ${i} has neither bbox nor segmentation`, INV, inResults(i));
      const rle = decodeEntry(`result ${i}`, inResults(i), r.segmentation, keyH[dtKey[i]!]!, keyW[dtKey[i]!]!);
      checkResultRleSize(i, rle, dtKey[i]!); // its area and box are read at its size
      dtArea[i] = rleArea(rle);
      dtBox[i] = r.bbox ?? rleToBox(rle);
    }
    dtCat[i] = k;
    dtNegScore[i] = -r.score;
    nDt++;
  }
  // The segmentation loadRes gives a result: its own, or (with a bbox first) its box's polygon.
  const dtSegm = (i: number): unknown => {
    const seg = results[i]!.segmentation;
    if (!boxFirst) return seg;
    const bb = dtBox[i]!;
    const [x1, y1] = [bb[0], bb[1]];
    const [x2, y2] = [bb[0] + bb[2], bb[1] + bb[3]];
    return seg ?? [[x1, y1, x1, y2, x2, y2, x2, y1]];
  };

  // Ground truths and results grouped by image key, each group in (category, -score, file order) order: a cell
  // (image, category) is a run in it, its detections sorted as computeIoU sorts them (stable, by score).
  const U = keyH.length;
  const group = async (n: number, keyOfItem: Int32Array, k1: Float64Array, k2: Float64Array) => {
    const start = new Int32Array(U + 1);
    for (let i = 0; i < n; i++) {
      if (keyOfItem[i]! >= 0) start[keyOfItem[i]! + 1]++;
      if ((i & 4095) === 4095 && clock.due()) await clock.next(); // cold code (the first call) runs ~1 µs an item
    }
    for (let u = 0; u < U; u++) start[u + 1] += start[u]!;
    const items = new Int32Array(start[U]!);
    const fill = start.slice(0, U);
    for (let i = 0; i < n; i++) {
      if (keyOfItem[i]! >= 0) items[fill[keyOfItem[i]!]!++] = i;
      if ((i & 4095) === 4095 && clock.due()) await clock.next();
    }
    const tmp = new Int32Array(items.length);
    for (let u = 0; u < U; u++) {
      await sortStable(items, start[u]!, start[u + 1]!, k1, k2, tmp, clock);
      if (clock.due()) await clock.next();
    }
    return { start, items };
  };
  const gtGroups = await group(nAnn, gtKey, gtCat, gtCat);
  const dtGroups = await group(nRes, dtKey, dtCat, dtNegScore);

  // computeIoU per cell (image, category), in pycocotools' order (images, then categories): the detections cut to
  // maxDet, IoUs [D * G] in one growing array. Cells with neither ground truths nor detections are not made.
  const T = IOU_THRS.length;
  const maxDet = MAX_DETS[MAX_DETS.length - 1]!;
  let nCells = 0;
  let cellInt = new Int32Array(6 * 1024); // per cell: category, first gt, G, first dt, D, IoU offset (-1: none)
  let ious = new Float64Array(1 << 16);
  let iouLen = 0;
  const pool = new RunPool();
  const CELL = 6;
  for (let ii = 0; ii < imgIds.length; ii++) {
    const u = keyOf(imgIds[ii]);
    let g = gtGroups.start[u]!;
    const gEnd = gtGroups.start[u + 1]!;
    let d = dtGroups.start[u]!;
    const dEnd = dtGroups.start[u + 1]!;
    while (g < gEnd || d < dEnd) {
      const k = Math.min(g < gEnd ? gtCat[gtGroups.items[g]!]! : Infinity, d < dEnd ? dtCat[dtGroups.items[d]!]! : Infinity);
      const g0 = g;
      while (g < gEnd && gtCat[gtGroups.items[g]!]! === k) g++;
      const d0 = d;
      while (d < dEnd && dtCat[dtGroups.items[d]!]! === k) d++;
      const G = g - g0;
      const D = Math.min(d - d0, maxDet);
      let off = -1;
      if (G > 0 && D > 0) {
        ious = grownTo(ious, iouLen, iouLen + D * G, (x) => new Float64Array(x));
        off = iouLen;
        iouLen += D * G;
        const crowd: boolean[] = [];
        for (let gi = 0; gi < G; gi++) crowd.push(gtCrowd[gtGroups.items[g0 + gi]!] === 1);
        if (iouType === 'bbox') {
          const db: CocoBox[] = [];
          for (let di = 0; di < D; di++) db.push(dtBox[dtGroups.items[d0 + di]!]!);
          const gb: CocoBox[] = [];
          for (let gi = 0; gi < G; gi++) gb.push(gtBox[gtGroups.items[g0 + gi]!]!);
          boxIou(db, gb, crowd, ious, off);
        } else {
          // rleIou, a mask or a row at a time: a big image's masks take milliseconds each to decode and compare.
          // The cell's runs share one buffer (pool), reused by the next cell.
          const [h, w] = [keyH[u]!, keyW[u]!];
          pool.reset();
          const dr: RleMask[] = [];
          for (let di = 0; di < D; di++) {
            const i = dtGroups.items[d0 + di]!;
            dr.push(decodeEntry(`result ${i}`, inResults(i), dtSegm(i), h, w, pool));
            checkResultRleSize(i, dr[di]!, u);
            if (clock.due()) await clock.next();
          }
          const gr: RleMask[] = [];
          for (let gi = 0; gi < G; gi++) {
            const j = gtGroups.items[g0 + gi]!;
            gr.push(decodeEntry(gtName(j, gt.annotations[j]!), inGt('annotations', j), gt.annotations[j]!.segmentation, h, w, pool));
            if (clock.due()) await clock.next();
          }
          boxIou(dr.map(rleToBox), gr.map(rleToBox), crowd, ious, off);
          for (let di = 0; di < D; di++) {
            rleIouRows(dr, gr, crowd, ious, off, di, di + 1);
            if (clock.due()) await clock.next();
          }
        }
      }
      cellInt = grownTo(cellInt, CELL * nCells, CELL * (nCells + 1), (x) => new Int32Array(x));
      const c = CELL * nCells++;
      [cellInt[c], cellInt[c + 1], cellInt[c + 2], cellInt[c + 3], cellInt[c + 4], cellInt[c + 5]] = [k, g0, G, d0, D, off];
      if (clock.due()) await clock.next();
    }
  }
  // The cells of each category, in image order (the order evaluateImg's results reach accumulate in).
  const R = REC_THRS.length;
  const K = catIds.length;
  const A = AREA_RNG.length;
  const M = MAX_DETS.length;
  const catStart = new Int32Array(K + 1);
  for (let c = 0; c < nCells; c++) {
    catStart[cellInt[CELL * c]! + 1]++;
    if ((c & 4095) === 4095 && clock.due()) await clock.next();
  }
  for (let k = 0; k < K; k++) catStart[k + 1] += catStart[k]!;
  const catCells = new Int32Array(nCells);
  const catFill = catStart.slice(0, K);
  for (let c = 0; c < nCells; c++) {
    catCells[catFill[cellInt[CELL * c]!]!++] = c;
    if ((c & 4095) === 4095 && clock.due()) await clock.next();
  }

  // evaluateImg and accumulate, a category at a time. Its detections (each cell's first maxDet, cell after cell)
  // are sorted by score once: the sort for fewer detections an image (maxDets 1, 10) is the same order with the
  // detections ranked at or past the limit left out, as a stable sort of a subsequence is.
  // precision [T][R][K][A][M] and recall [T][K][A][M], -1 where a category has no ground truth.
  const precision = new Float64Array(T * R * K * A * M);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  // 7.8 MB for 80 categories: filled (and its pages faulted in) a slice at a time.
  for (let s = 0; s < precision.length; s += 1 << 16) {
    precision.fill(-1, s, s + (1 << 16));
    if (clock.due()) await clock.next();
  }
  const pIdx = (t: number, r: number, k: number, a: number, m: number) => (((t * R + r) * K + k) * A + a) * M + m;
  const rIdx = (t: number, k: number, a: number, m: number) => ((t * K + k) * A + a) * M + m;
  const bestStart = IOU_THRS.map((v) => Math.min(v, 1 - 1e-10));
  // Scratch, grown as needed: per detection of the category (position p), per ground truth of a cell.
  let posNegScore = new Float64Array(1024);
  let posArea = new Float64Array(1024);
  let posRank = new Int32Array(1024); // rank in its image's detections (di)
  let order = new Int32Array(1024);
  let sortTmp = new Int32Array(1024);
  let dtMatched = new Uint8Array(T * 1024); // [T][n]
  let dtIgnore = new Uint8Array(T * 1024); // [T][n]
  let pr = new Float64Array(1024);
  let rc = new Float64Array(1024);
  let gtOrder = new Int32Array(64); // gtind
  let gtIg = new Uint8Array(64); // _ignore, in gtind's order
  let gtMatched = new Uint8Array(T * 64); // [T][G]
  for (let k = 0; k < K; k++) {
    const c0 = catStart[k]!;
    const c1 = catStart[k + 1]!;
    if (c0 === c1) continue; // no evaluateImg result: precision and recall stay -1
    let n = 0;
    for (let ci = c0; ci < c1; ci++) n += cellInt[CELL * catCells[ci]! + 4]!;
    posNegScore = atLeast(posNegScore, n, (x) => new Float64Array(x));
    posArea = atLeast(posArea, n, (x) => new Float64Array(x));
    posRank = atLeast(posRank, n, (x) => new Int32Array(x));
    order = atLeast(order, n, (x) => new Int32Array(x));
    sortTmp = atLeast(sortTmp, n, (x) => new Int32Array(x));
    dtMatched = atLeast(dtMatched, T * n, (x) => new Uint8Array(x));
    dtIgnore = atLeast(dtIgnore, T * n, (x) => new Uint8Array(x));
    pr = atLeast(pr, n, (x) => new Float64Array(x));
    rc = atLeast(rc, n, (x) => new Float64Array(x));
    let p = 0;
    for (let ci = c0; ci < c1; ci++) {
      const c = CELL * catCells[ci]!;
      for (let di = 0; di < cellInt[c + 4]!; di++, p++) {
        const i = dtGroups.items[cellInt[c + 3]! + di]!;
        posNegScore[p] = dtNegScore[i]!;
        posArea[p] = dtArea[i]!;
        posRank[p] = di;
        order[p] = p;
      }
    }
    await sortStable(order, 0, n, posNegScore, posNegScore, sortTmp, clock);

    for (let a = 0; a < A; a++) {
      const [lo, hi] = AREA_RNG[a]!;
      dtMatched.fill(0, 0, T * n);
      dtIgnore.fill(0, 0, T * n);
      let npig = 0;
      p = 0;
      for (let ci = c0; ci < c1; ci++) {
        const c = CELL * catCells[ci]!;
        const [gFirst, G, D, off] = [cellInt[c + 1]!, cellInt[c + 2]!, cellInt[c + 4]!, cellInt[c + 5]!];
        // gtind: the ground truths not ignored first, then the ignored ones, each in file order.
        gtOrder = atLeast(gtOrder, G, (x) => new Int32Array(x));
        gtIg = atLeast(gtIg, G, (x) => new Uint8Array(x));
        gtMatched = atLeast(gtMatched, T * G, (x) => new Uint8Array(x));
        let q = 0;
        for (let pass = 0; pass < 2; pass++) {
          for (let gi = 0; gi < G; gi++) {
            const j = gtGroups.items[gFirst + gi]!;
            const ig = gtCrowd[j]! === 1 || gtArea[j]! < lo || gtArea[j]! > hi ? 1 : 0;
            if (ig !== pass) continue;
            gtOrder[q] = gi;
            gtIg[q++] = ig;
          }
        }
        for (let gi = 0; gi < G; gi++) if (!gtIg[gi]) npig++;
        if (off >= 0) {
          gtMatched.fill(0, 0, T * G);
          for (let t = 0; t < T; t++) {
            for (let di = 0; di < D; di++) {
              let best = bestStart[t]!;
              let m = -1;
              for (let gi = 0; gi < G; gi++) {
                if (gtMatched[t * G + gi]! && !gtCrowd[gtGroups.items[gFirst + gtOrder[gi]!]!]) continue;
                if (m > -1 && !gtIg[m] && gtIg[gi]) break;
                const v = ious[off + di * G + gtOrder[gi]!]!;
                if (v < best) continue;
                best = v;
                m = gi;
              }
              if (m === -1) continue;
              dtIgnore[t * n + p + di] = gtIg[m]!;
              dtMatched[t * n + p + di] = gtIdNonZero[gtGroups.items[gFirst + gtOrder[m]!]!]!;
              gtMatched[t * G + m] = 1;
            }
          }
        }
        // Unmatched detections outside the area range are ignored.
        for (let t = 0; t < T; t++) {
          for (let di = 0; di < D; di++) {
            const ar = posArea[p + di]!;
            if (dtMatched[t * n + p + di] === 0 && (ar < lo || ar > hi)) dtIgnore[t * n + p + di] = 1;
          }
        }
        p += D;
        if (clock.due()) await clock.next();
      }
      if (npig === 0) continue;
      for (let m = 0; m < M; m++) {
        const md = MAX_DETS[m]!;
        for (let t = 0; t < T; t++) {
          let tp = 0;
          let fp = 0;
          let nd = 0;
          for (let q = 0; q < n; q++) {
            const at = order[q]!;
            if (posRank[at]! >= md) continue;
            const matched = dtMatched[t * n + at] !== 0;
            const ignored = dtIgnore[t * n + at] !== 0;
            if (matched && !ignored) tp++;
            else if (!matched && !ignored) fp++;
            rc[nd] = tp / npig;
            pr[nd] = tp / (fp + tp + EPS);
            nd++;
          }
          recall[rIdx(t, k, a, m)] = nd ? rc[nd - 1]! : 0;
          for (let i = nd - 1; i > 0; i--) if (pr[i]! > pr[i - 1]!) pr[i - 1] = pr[i]!;
          // searchsorted(rc, recThrs, 'left'); recall points past the last detection keep precision 0.
          let pi = 0;
          for (let ri = 0; ri < R; ri++) {
            while (pi < nd && rc[pi]! < REC_THRS[ri]!) pi++;
            precision[pIdx(t, ri, k, a, m)] = pi < nd ? pr[pi]! : 0;
            if (pi >= nd) {
              for (let r2 = ri; r2 < R; r2++) precision[pIdx(t, r2, k, a, m)] = 0;
              break;
            }
          }
          if (clock.due()) await clock.next();
        }
      }
    }
  }

  // summarize, a line at a time (each reads T * R * K values: 80 800 for COCO), into reused arrays.
  const lines: string[] = [];
  const vals = new Float64Array(T * R * K);
  const valid = new Float64Array(T * R * K);
  const summarize = (ap: boolean, iouThr: number | undefined, area: string, maxDets: number): number => {
    const ai = AREA_LBL.indexOf(area);
    const mi = MAX_DETS.indexOf(maxDets);
    const ts = iouThr === undefined ? IOU_THRS.map((_, i) => i) : IOU_THRS.map((v, i) => (v === iouThr ? i : -1)).filter((i) => i >= 0);
    // The entries in numpy's C order: precision [t][r][k], recall [t][k].
    let nv = 0;
    for (const t of ts) {
      if (ap) for (let r = 0; r < R; r++) for (let k = 0; k < K; k++) vals[nv++] = precision[pIdx(t, r, k, ai, mi)]!;
      else for (let k = 0; k < K; k++) vals[nv++] = recall[rIdx(t, k, ai, mi)]!;
    }
    const mean = meanOfValid(vals, nv, valid);
    const iouStr = iouThr === undefined ? `${IOU_THRS[0]!.toFixed(2)}:${IOU_THRS[T - 1]!.toFixed(2)}` : iouThr.toFixed(2);
    const title = ap ? 'Average Precision' : 'Average Recall';
    lines.push(` ${title.padEnd(18)} ${ap ? '(AP)' : '(AR)'} @[ IoU=${iouStr.padEnd(9)} | area=${area.padStart(6)} | maxDets=${String(maxDets).padStart(3)} ] = ${mean.toFixed(3)}`);
    return mean;
  };
  const SUMMARIES: Array<[boolean, number | undefined, string, number]> = [
    [true, undefined, 'all', 100],
    [true, 0.5, 'all', 100],
    [true, 0.75, 'all', 100],
    [true, undefined, 'small', 100],
    [true, undefined, 'medium', 100],
    [true, undefined, 'large', 100],
    [false, undefined, 'all', 1],
    [false, undefined, 'all', 10],
    [false, undefined, 'all', 100],
    [false, undefined, 'small', 100],
    [false, undefined, 'medium', 100],
    [false, undefined, 'large', 100],
  ];
  const stats: number[] = [];
  for (const [ap, iouThr, area, maxDets] of SUMMARIES) {
    stats.push(summarize(ap, iouThr, area, maxDets));
    if (clock.due()) await clock.next();
  }
  const perCategory: Array<{ categoryId: number; ap: number }> = [];
  for (let k = 0; k < K; k++) {
    let nv = 0;
    for (let t = 0; t < T; t++) for (let r = 0; r < R; r++) vals[nv++] = precision[pIdx(t, r, k, 0, M - 1)]!;
    perCategory.push({ categoryId: catIds[k]!, ap: meanOfValid(vals, nv, valid) });
    if (clock.due()) await clock.next();
  }
  return { iouType, stats, lines, images: imgIds.length, categories: K, groundTruths: nGt, detections: nDt, perCategory };
}
