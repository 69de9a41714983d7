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
import { boxIou, rleArea, rleIou, rleToBox, segmentationToRle, type CocoBox, type RleMask } from '../masks/coco_mask';
import { turnTaker } from '../event_loop';
import { checkOptions, nearestKey } from '../options';

/** What evaluateCoco compares: 'segm' (mask IoU) or 'bbox' (box IoU). */
export type CocoIouType = 'segm' | 'bbox';

/** The COCO annotation file's parts that evaluation reads. */
export interface CocoGroundTruth {
  images: Array<{ id: number | string; height: number; width: number }>;
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
  categories: Array<{ id: number; name?: string }>;
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
  categories?: readonly (number | string)[];
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

interface Gt {
  id: number;
  area: number;
  crowd: boolean;
  ignore: boolean;
  /** The segmentation, turned into an RLE only while its image is evaluated (500 K results do not fit decoded). */
  segm?: unknown;
  bbox: CocoBox;
  _ignore: boolean;
}

interface Dt {
  id: number;
  area: number;
  score: number;
  segm?: unknown;
  bbox: CocoBox;
}

// evaluateImg's result for one image, category and area range, in flat typed arrays (val2017 makes ~1.6 M of these:
// nested arrays of numbers kept V8's young-generation collections busy, 10-19 ms pauses inside a 10 ms turn).
interface EvalImg {
  D: number;
  dtScores: Float64Array;
  /** [T * D]: 1 where the detection matched a ground truth whose id is not 0 (pycocotools tests the id against 0). */
  dtMatched: Uint8Array;
  /** [T * D] */
  dtIgnore: Uint8Array;
  /** Ground truths not ignored. */
  gtCounted: number;
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
function pairwiseSum(a: readonly number[], lo = 0, n = a.length): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[lo + i]!;
    return res;
  }
  if (n <= 128) {
    const r = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let j = 0; j < 8; j++) r[j] = a[lo + j]!;
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j]! += a[lo + i + j]!;
    let res = r[0]! + r[1]! + (r[2]! + r[3]!) + (r[4]! + r[5]! + (r[6]! + r[7]!));
    for (; i < n; i++) res += a[lo + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, lo, n2) + pairwiseSum(a, lo + n2, n - n2);
}

// np.mean of the entries above -1 (-1 when there are none). numpy reduces in chunks of its ufunc buffer size (8192
// elements), pairwise within a chunk and chunk after chunk: AP over 80 categories averages 80 800 values.
function meanOfValid(values: readonly number[]): number {
  const v = values.filter((x) => x > -1);
  if (v.length === 0) return -1;
  const CHUNK = 8192;
  let sum = 0;
  for (let c = 0; c < v.length; c += CHUNK) sum += pairwiseSum(v, c, Math.min(CHUNK, v.length - c));
  return sum / v.length;
}

// A stable sort's permutation by key ascending (numpy's argsort kind='mergesort').
function argsortStable(keys: ArrayLike<number>): number[] {
  const idx = Array.from({ length: keys.length }, (_, i) => i);
  return idx.sort((a, b) => keys[a]! - keys[b]! || a - b);
}

/** @internal The `categories` option as sorted distinct ids of the ground truth's categories (names resolved through them). */
export function categoryIds(gt: CocoGroundTruth, wanted: unknown): number[] {
  if (!Array.isArray(wanted)) throw new SotrTypeError(`evaluateCoco: categories must be an array of category ids or names, received ${JSON.stringify(wanted)}`);
  const byId = new Set(gt.categories.map((c) => c?.id));
  const byName = new Map<string, number>();
  for (const c of gt.categories) if (c && typeof c.name === 'string' && !byName.has(c.name)) byName.set(c.name, c.id);
  const ids = new Set<number>();
  for (const w of wanted as unknown[]) {
    if (typeof w === 'number') {
      if (!byId.has(w)) throw new SotrRangeError(`evaluateCoco: categories: the ground truth has no category with id ${w}`);
      ids.add(w);
    } else if (typeof w === 'string') {
      const id = byName.get(w);
      if (id === undefined) {
        const near = nearestKey(w.trim(), [...byName.keys()]);
        const hint = !byName.size ? ' (its categories have no names: give ids)' : near !== undefined ? ` (did you mean ${JSON.stringify(near)}?)` : '';
        throw new SotrRangeError(`evaluateCoco: categories: the ground truth has no category named ${JSON.stringify(w)}${hint}`);
      }
      ids.add(id);
    } else {
      throw new SotrTypeError(`evaluateCoco: categories must hold category ids (numbers) or names (strings), received ${String(w)}`);
    }
  }
  return [...ids].sort((a, b) => a - b);
}

/** A COCO image id as a map key: numbers and strings apart, as Python's dict keys are (1 and '1' are two images). */
export function imageKey(id: number | string): string {
  return typeof id === 'number' ? `n${id}` : `s${id}`;
}

/**
 * Evaluates results against COCO ground truth; `iouType` 'segm' (masks) or 'bbox'. Runs on the calling thread,
 * yielding to the event loop between images (COCO val2017 with 100 results an image: about a minute).
 */
export async function evaluateCoco(
  gt: CocoGroundTruth,
  results: readonly CocoResult[],
  iouType: CocoIouType = 'segm',
  options: CocoEvalOptions = {},
): Promise<CocoEvalSummary> {
  if (iouType !== 'segm' && iouType !== 'bbox') throw new SotrRangeError(`evaluateCoco: iouType must be 'segm' or 'bbox', received ${String(iouType)}`);
  checkOptions('evaluateCoco', options, ['categories']);
  if (!gt || !Array.isArray(gt.images) || !Array.isArray(gt.annotations) || !Array.isArray(gt.categories)) {
    throw new SotrTypeError('evaluateCoco: ground truth must have images, annotations and categories (a COCO annotation file)');
  }
  if (!Array.isArray(results)) throw new SotrTypeError('evaluateCoco: results must be an array (a COCO results file)');
  // A turn for the event loop every ~10 ms; the loops check the clock every few dozen items (a result's RLE
  // is decoded here: ~50 µs each at 640×480).
  const maybeYield = turnTaker(10);
  const imgs = new Map<string, { h: number; w: number }>();
  for (const im of gt.images) {
    if (!im || typeof im !== 'object') throw new SotrTypeError('evaluateCoco: each ground-truth image must be an object { id, height, width }');
    const { height: h, width: w } = im;
    if (!Number.isSafeInteger(h) || !Number.isSafeInteger(w) || h < 0 || w < 0 || h * w > 2 ** 32) {
      throw new SotrRangeError(`evaluateCoco: image ${JSON.stringify(im.id)} has height ${String(h)} and width ${String(w)}: expected two non-negative integers`);
    }
    imgs.set(imageKey(im.id), { h, w });
  }
  // p.imgIds and p.catIds: sorted, unique.
  const imgIds = [...new Set(gt.images.map((i) => i.id))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const catIds = options.categories === undefined ? [...new Set(gt.categories.map((c) => c.id))].sort((a, b) => a - b) : categoryIds(gt, options.categories);
  const catSet = new Set(catIds);

  results.forEach((r, i) => {
    if (!r || typeof r !== 'object') throw new SotrTypeError(`evaluateCoco: result ${i} is not an object { image_id, category_id, score, ... }`);
    if (typeof r.score !== 'number') throw new SotrTypeError(`evaluateCoco: result ${i} has no numeric score`);
  });
  // loadRes: every result's image must be in the ground truth; 'bbox' in the first result decides the area.
  const stray = results.filter((r) => !imgs.has(imageKey(r.image_id)));
  if (stray.length) {
    throw new SotrRangeError(
      `evaluateCoco: ${stray.length} result(s) on images the ground truth does not have (first: image_id ${JSON.stringify(stray[0]!.image_id)}); ` +
        'evaluate against the annotation file the images came from',
    );
  }
  const boxFirst = results.length > 0 && Array.isArray(results[0]!.bbox) && results[0]!.bbox.length > 0;
  const gts = new Map<string, Gt[]>();
  const dts = new Map<string, Dt[]>();
  const cell = (m: Map<string, unknown[]>, img: number | string, cat: number) => {
    const k = `${imageKey(img)}|${cat}`;
    let l = m.get(k);
    if (!l) m.set(k, (l = []));
    return l;
  };
  let nGt = 0;
  for (const a of gt.annotations) {
    if (!catSet.has(a.category_id) || !imgs.has(imageKey(a.image_id))) continue;
    const im = imgs.get(imageKey(a.image_id))!;
    const crowd = Boolean(a.iscrowd);
    const g: Gt = { id: a.id, area: a.area, crowd, ignore: crowd, bbox: a.bbox ?? [0, 0, 0, 0], _ignore: false };
    if (iouType === 'segm') g.segm = a.segmentation;
    (cell(gts, a.image_id, a.category_id) as Gt[]).push(g);
    nGt++;
  }
  let nDt = 0;
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    if ((i & 63) === 0) await maybeYield();
    if (!catSet.has(r.category_id)) continue;
    const im = imgs.get(imageKey(r.image_id))!;
    const d: Dt = { id: i + 1, area: 0, score: r.score, bbox: [0, 0, 0, 0] };
    if (boxFirst) {
      const given: unknown = r.bbox;
      // loadRes reads every result's bbox once the first result has one.
      if (!Array.isArray(given) || given.length < 4 || !given.slice(0, 4).every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw new SotrTypeError(`evaluateCoco: result ${i} has no bbox [x, y, w, h] of finite numbers (the first result has one, so every result needs one)`);
      }
      const bb = given as CocoBox;
      d.bbox = bb;
      d.area = bb[2] * bb[3];
      if (iouType === 'segm') {
        const [x1, y1] = [bb[0], bb[1]];
        const [x2, y2] = [bb[0] + bb[2], bb[1] + bb[3]];
        d.segm = r.segmentation ?? [[x1, y1, x1, y2, x2, y2, x2, y1]];
      }
    } else {
      if (r.segmentation === undefined) throw new SotrTypeError(`evaluateCoco: result ${i} has neither bbox nor segmentation`);
      const rle = segmentationToRle(r.segmentation, im.h, im.w);
      d.area = rleArea(rle);
      d.bbox = r.bbox ?? rleToBox(rle);
      if (iouType === 'segm') d.segm = r.segmentation;
    }
    (cell(dts, r.image_id, r.category_id) as Dt[]).push(d);
    nDt++;
  }

  const T = IOU_THRS.length;
  const maxDet = MAX_DETS[MAX_DETS.length - 1]!;
  // computeIoU per (image, category): dts by score (stable), cut to maxDet.
  const ious = new Map<string, Float64Array>(); // [D * G] per (image, category)
  const sortedDts = new Map<string, Dt[]>();
  for (const img of imgIds) {
    for (const cat of catIds) {
      const k = `${imageKey(img)}|${cat}`;
      const g = gts.get(k) ?? [];
      const d0 = dts.get(k) ?? [];
      const d = argsortStable(d0.map((x) => -x.score)).map((i) => d0[i]!).slice(0, maxDet);
      sortedDts.set(k, d);
      if (g.length === 0 || d.length === 0) continue;
      const crowd = g.map((x) => x.crowd);
      if (iouType === 'bbox') ious.set(k, boxIou(d.map((x) => x.bbox), g.map((x) => x.bbox), crowd));
      else {
        const { h, w } = imgs.get(imageKey(img))!;
        const rle = (x: { segm?: unknown }): RleMask => segmentationToRle(x.segm, h, w);
        ious.set(k, rleIou(d.map(rle), g.map(rle), crowd));
      }
    }
    await maybeYield();
  }

  // evaluateImg for each category, area range and image (the order accumulate indexes them in).
  const evalImg = (img: number | string, cat: number, aRng: [number, number]): EvalImg | null => {
    const k = `${imageKey(img)}|${cat}`;
    const g0 = gts.get(k) ?? [];
    const dt = sortedDts.get(k) ?? [];
    if (g0.length === 0 && dt.length === 0) return null;
    for (const g of g0) g._ignore = g.ignore || g.area < aRng[0] || g.area > aRng[1];
    const gtind = argsortStable(g0.map((g) => (g._ignore ? 1 : 0)));
    const gt = gtind.map((i) => g0[i]!);
    const iou = ious.get(k);
    const G = gt.length;
    const D = dt.length;
    const gtm = new Uint8Array(T * G); // [T][G]: matched by a detection (detection ids start at 1)
    const dtm = new Uint8Array(T * D);
    const gtIg = gt.map((g) => g._ignore);
    const dtIg = new Uint8Array(T * D);
    if (iou && G > 0 && D > 0) {
      for (let t = 0; t < T; t++) {
        for (let di = 0; di < D; di++) {
          let best = Math.min(IOU_THRS[t]!, 1 - 1e-10);
          let m = -1;
          for (let gi = 0; gi < G; gi++) {
            if (gtm[t * G + gi]! && !gt[gi]!.crowd) continue;
            if (m > -1 && !gtIg[m] && gtIg[gi]) break;
            const v = iou[di * G + gtind[gi]!]!;
            if (v < best) continue;
            best = v;
            m = gi;
          }
          if (m === -1) continue;
          dtIg[t * D + di] = gtIg[m]! ? 1 : 0;
          dtm[t * D + di] = gt[m]!.id !== 0 ? 1 : 0;
          gtm[t * G + m] = 1;
        }
      }
    }
    // Unmatched detections outside the area range are ignored.
    for (let t = 0; t < T; t++) {
      for (let di = 0; di < D; di++) {
        const a = dt[di]!.area;
        if (dtm[t * D + di] === 0 && (a < aRng[0] || a > aRng[1])) dtIg[t * D + di] = 1;
      }
    }
    const dtScores = new Float64Array(D);
    for (let di = 0; di < D; di++) dtScores[di] = dt[di]!.score;
    let gtCounted = 0;
    for (const ig of gtIg) if (!ig) gtCounted++;
    return { D, dtScores, dtMatched: dtm, dtIgnore: dtIg, gtCounted };
  };

  // accumulate: precision [T][R][K][A][M] and recall [T][K][A][M], -1 where a category has no ground truth.
  const R = REC_THRS.length;
  const K = catIds.length;
  const A = AREA_RNG.length;
  const M = MAX_DETS.length;
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const pIdx = (t: number, r: number, k: number, a: number, m: number) => (((t * R + r) * K + k) * A + a) * M + m;
  const rIdx = (t: number, k: number, a: number, m: number) => ((t * K + k) * A + a) * M + m;
  for (let k = 0; k < K; k++) {
    for (let a = 0; a < A; a++) {
      const E: EvalImg[] = [];
      for (let i = 0; i < imgIds.length; i++) {
        const e = evalImg(imgIds[i]!, catIds[k]!, AREA_RNG[a]!);
        if (e) E.push(e);
        if ((i & 63) === 0) await maybeYield();
      }
      if (E.length === 0) continue;
      for (let m = 0; m < M; m++) {
        const md = MAX_DETS[m]!;
        // Every image's first md detections, one after another: their negated scores and where each came from.
        let n = 0;
        for (const e of E) n += Math.min(md, e.D);
        const negScores = new Float64Array(n);
        const ownerImg = new Int32Array(n);
        const ownerDt = new Int32Array(n);
        n = 0;
        E.forEach((e, ei) => {
          for (let di = 0; di < Math.min(md, e.D); di++, n++) {
            negScores[n] = -e.dtScores[di]!;
            ownerImg[n] = ei;
            ownerDt[n] = di;
          }
        });
        const inds = argsortStable(negScores);
        let npig = 0;
        for (const e of E) npig += e.gtCounted;
        if (npig === 0) continue;
        const nd = inds.length;
        const pr = new Float64Array(nd);
        const rc = new Float64Array(nd);
        for (let t = 0; t < T; t++) {
          await maybeYield();
          let tp = 0;
          let fp = 0;
          for (let j = 0; j < nd; j++) {
            const e = E[ownerImg[inds[j]!]!]!;
            const at = t * e.D + ownerDt[inds[j]!]!;
            const matched = e.dtMatched[at] !== 0;
            const ignored = e.dtIgnore[at] !== 0;
            if (matched && !ignored) tp++;
            else if (!matched && !ignored) fp++;
            rc[j] = tp / npig;
            pr[j] = tp / (fp + tp + EPS);
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
        }
      }
    }
  }

  // summarize.
  const lines: string[] = [];
  const summarize = (ap: boolean, iouThr: number | undefined, area: string, maxDets: number): number => {
    const ai = AREA_LBL.indexOf(area);
    const mi = MAX_DETS.indexOf(maxDets);
    const ts = iouThr === undefined ? IOU_THRS.map((_, i) => i) : IOU_THRS.map((v, i) => (v === iouThr ? i : -1)).filter((i) => i >= 0);
    // The entries in numpy's C order: precision [t][r][k], recall [t][k].
    const vals: number[] = [];
    for (const t of ts) {
      if (ap) for (let r = 0; r < R; r++) for (let k = 0; k < K; k++) vals.push(precision[pIdx(t, r, k, ai, mi)]!);
      else for (let k = 0; k < K; k++) vals.push(recall[rIdx(t, k, ai, mi)]!);
    }
    const mean = meanOfValid(vals);
    const iouStr = iouThr === undefined ? `${IOU_THRS[0]!.toFixed(2)}:${IOU_THRS[T - 1]!.toFixed(2)}` : iouThr.toFixed(2);
    const title = ap ? 'Average Precision' : 'Average Recall';
    lines.push(` ${title.padEnd(18)} ${ap ? '(AP)' : '(AR)'} @[ IoU=${iouStr.padEnd(9)} | area=${area.padStart(6)} | maxDets=${String(maxDets).padStart(3)} ] = ${mean.toFixed(3)}`);
    return mean;
  };
  const stats = [
    summarize(true, undefined, 'all', 100),
    summarize(true, 0.5, 'all', 100),
    summarize(true, 0.75, 'all', 100),
    summarize(true, undefined, 'small', 100),
    summarize(true, undefined, 'medium', 100),
    summarize(true, undefined, 'large', 100),
    summarize(false, undefined, 'all', 1),
    summarize(false, undefined, 'all', 10),
    summarize(false, undefined, 'all', 100),
    summarize(false, undefined, 'small', 100),
    summarize(false, undefined, 'medium', 100),
    summarize(false, undefined, 'large', 100),
  ];
  const perCategory = catIds.map((categoryId, k) => {
    const vals: number[] = [];
    for (let t = 0; t < T; t++) for (let r = 0; r < R; r++) vals.push(precision[pIdx(t, r, k, 0, M - 1)]!);
    return { categoryId, ap: meanOfValid(vals) };
  });
  return { iouType, stats, lines, images: imgIds.length, categories: K, groundTruths: nGt, detections: nDt, perCategory };
}
