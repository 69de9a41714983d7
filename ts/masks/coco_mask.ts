/**
 * The COCO mask API's operations on run-length masks, as pycocotools computes them (maskApi.c), for COCO evaluation
 * (ts/eval/coco_eval.ts): polygons and boxes to RLE (rleFrPoly: the boundary upsampled ×5, then its y-boundary
 * points downsampled), union of parts (rleMerge), area, bounding box (rleToBbox), and IoU of RLEs or boxes with the
 * crowd rule (a crowd region's IoU is intersection / detection area). Integers are uint32 where maskApi.c's are;
 * the polygon arithmetic is double with C's truncating int casts, so results match pycocotools bit for bit
 * (tests/eval/coco_eval.test.mjs, against pycocotools goldens).
 */
import { SotrRangeError, SotrTypeError } from '../errors';
import { decodeRleCountsReused } from './rle';
import { shownValue } from '../options';

/** A run-length mask: column-major runs alternating 0s and 1s, starting with 0s; h × w pixels. */
export interface RleMask {
  h: number;
  w: number;
  counts: Uint32Array;
}

/** [x, y, width, height]. */
export type CocoBox = [number, number, number, number];

// rleFromPolygon's working arrays, reused from call to call (grown as needed): the boundary upsampled ×5 is ~10^4
// points for a 300-pixel object, and evaluateCoco rasterises every ground-truth polygon of a run.
let polyU = new Int32Array(1 << 14);
let polyV = new Int32Array(1 << 14);
let polyA = new Uint32Array(1 << 12);
let polyB = new Uint32Array(1 << 12);

/** rleFrPoly: one polygon [x0, y0, x1, y1, ...] rasterised as maskApi.c does. */
export function rleFromPolygon(xy: readonly number[], h: number, w: number): RleMask {
  const k = Math.floor(xy.length / 2);
  const scale = 5;
  const x = new Int32Array(k + 1);
  const y = new Int32Array(k + 1);
  for (let j = 0; j < k; j++) x[j] = Math.trunc(scale * xy[2 * j]! + 0.5);
  x[k] = x[0]!;
  for (let j = 0; j < k; j++) y[j] = Math.trunc(scale * xy[2 * j + 1]! + 0.5);
  y[k] = y[0]!;
  let m = 0;
  for (let j = 0; j < k; j++) m += Math.max(Math.abs(x[j]! - x[j + 1]!), Math.abs(y[j]! - y[j + 1]!)) + 1;
  if (polyU.length < m) [polyU, polyV] = [new Int32Array(m), new Int32Array(m)];
  const u = polyU;
  const v = polyV;
  m = 0;
  // Dense boundary points, one per step along the longer axis of each edge.
  for (let j = 0; j < k; j++) {
    let xs = x[j]!;
    let xe = x[j + 1]!;
    let ys = y[j]!;
    let ye = y[j + 1]!;
    const dx = Math.abs(xe - xs);
    const dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      [xs, xe] = [xe, xs];
      [ys, ye] = [ye, ys];
    }
    const s = dx >= dy ? (ye - ys) / dx : (xe - xs) / dy;
    if (dx >= dy) {
      for (let d = 0; d <= dx; d++) {
        const t = flip ? dx - d : d;
        u[m] = t + xs;
        v[m] = Math.trunc(ys + s * t + 0.5);
        m++;
      }
    } else {
      for (let d = 0; d <= dy; d++) {
        const t = flip ? dy - d : d;
        v[m] = t + ys;
        u[m] = Math.trunc(xs + s * t + 0.5);
        m++;
      }
    }
  }
  // The points where the boundary crosses a pixel column's centre, downsampled to pixels.
  const n = m;
  // Their column-major positions (x * h + y, as uint32), then h * w: at most n + 1 of them.
  if (polyA.length < n + 1) [polyA, polyB] = [new Uint32Array(n + 1), new Uint32Array(n + 1)];
  let na = 0;
  for (let j = 1; j < n; j++) {
    if (u[j] === u[j - 1]) continue;
    let xd = u[j]! < u[j - 1]! ? u[j]! : u[j]! - 1;
    xd = (xd + 0.5) / scale - 0.5;
    if (Math.floor(xd) !== xd || xd < 0 || xd > w - 1) continue;
    let yd = v[j]! < v[j - 1]! ? v[j]! : v[j - 1]!;
    yd = (yd + 0.5) / scale - 0.5;
    if (yd < 0) yd = 0;
    else if (yd > h) yd = h;
    yd = Math.ceil(yd);
    polyA[na++] = (xd * h + yd) >>> 0;
  }
  // The crossings' positions sorted: the run boundaries (zero-length runs merged).
  polyA[na++] = (h * w) >>> 0;
  const a = polyA.subarray(0, na);
  a.sort();
  let p = 0;
  for (let j = 0; j < a.length; j++) {
    const t = a[j]!;
    a[j] = (a[j]! - p) >>> 0;
    p = t;
  }
  const b = polyB;
  let nb = 0;
  b[nb++] = a[0]!;
  for (let j = 1; j < a.length; ) {
    if (a[j]! > 0) b[nb++] = a[j++]!;
    else {
      j++;
      if (j < a.length) b[nb - 1] = (b[nb - 1]! + a[j++]!) >>> 0;
    }
  }
  return { h, w, counts: b.slice(0, nb) };
}

/** rleFrBbox: a box [x, y, w, h] as the polygon of its corners. */
export function rleFromBox(box: readonly number[], h: number, w: number): RleMask {
  const [xs, ys] = [box[0]!, box[1]!];
  const [xe, ye] = [xs + box[2]!, ys + box[3]!];
  return rleFromPolygon([xs, ys, xs, ye, xe, ye, xe, ys], h, w);
}

/**
 * Walks two run lists of one size together, as maskApi.c's rleMerge and rleIou do: each step() is one stretch of `c`
 * pixels over which neither mask changes value (`va`, `vb`: 0 or 1), in pixel order, zero-length stretches included;
 * `last` marks the final one. One walker is reused (reset) by each caller, with no closure per pair of masks: a
 * callback per stretch, allocated per pair, was a third of evaluateCoco's mask IoU time.
 */
class RunPairWalk {
  c = 0;
  va = 0;
  vb = 0;
  last = false;
  private A: ArrayLike<number> = [];
  private B: ArrayLike<number> = [];
  private ca = 0;
  private cb = 0;
  private a = 1;
  private b = 1;
  // The values the next stretch starts with (va / vb are the current stretch's).
  private nextVa = 0;
  private nextVb = 0;
  private done = true;

  reset(A: ArrayLike<number>, B: ArrayLike<number>): this {
    this.A = A;
    this.B = B;
    this.ca = A[0] ?? 0;
    this.cb = B[0] ?? 0;
    this.va = this.vb = 0;
    this.nextVa = this.nextVb = 0;
    this.a = this.b = 1;
    this.done = false;
    return this;
  }

  /** Moves to the next stretch; false when the runs are used up. */
  step(): boolean {
    if (this.done) return false;
    const c = Math.min(this.ca, this.cb);
    this.c = c;
    this.va = this.nextVa;
    this.vb = this.nextVb;
    this.ca -= c;
    if (!this.ca && this.a < this.A.length) {
      this.ca = this.A[this.a++]!;
      this.nextVa ^= 1;
    }
    this.cb -= c;
    if (!this.cb && this.b < this.B.length) {
      this.cb = this.B[this.b++]!;
      this.nextVb ^= 1;
    }
    this.last = this.ca + this.cb === 0;
    this.done = this.last;
    return true;
  }
}

// Used synchronously only (rleMerge, rleIouRows), so one serves every call.
const runPairs = new RunPairWalk();

/** rleMerge: the union (or intersection) of masks of one size; different sizes give an empty 0 × 0 mask. */
export function rleMerge(masks: readonly RleMask[], intersect = false): RleMask {
  if (masks.length === 0) return { h: 0, w: 0, counts: new Uint32Array(0) };
  const { h, w } = masks[0]!;
  let cnts: number[] = Array.from(masks[0]!.counts);
  for (let i = 1; i < masks.length; i++) {
    const B = masks[i]!;
    if (B.h !== h || B.w !== w) return { h: 0, w: 0, counts: new Uint32Array(0) };
    // A run ends where the combined value changes (zero-length runs included, as maskApi.c emits them).
    const out: number[] = [];
    let cur = 0;
    let cc = 0;
    const walk = runPairs.reset(cnts, B.counts);
    while (walk.step()) {
      const v = intersect ? walk.va & walk.vb : walk.va | walk.vb;
      if (v !== cur) {
        out.push(cc);
        cc = 0;
        cur = v;
      }
      cc += walk.c;
      if (walk.last) out.push(cc);
    }
    cnts = out;
  }
  return { h, w, counts: Uint32Array.from(cnts) };
}

/** rleArea: set pixels. */
export function rleArea(r: RleMask): number {
  let a = 0;
  for (let j = 1; j < r.counts.length; j += 2) a += r.counts[j]!;
  return a >>> 0;
}

/** rleToBbox: [x, y, w, h] of the set pixels (a mask spanning columns gets the full height, as maskApi.c does). */
export function rleToBox(r: RleMask): CocoBox {
  const { h, w } = r;
  const m = Math.floor(r.counts.length / 2) * 2;
  if (m === 0) return [0, 0, 0, 0];
  let xs = w;
  let ys = h;
  let xe = 0;
  let ye = 0;
  let cc = 0;
  let xp = 0;
  for (let j = 0; j < m; j++) {
    cc = (cc + r.counts[j]!) >>> 0;
    const t = (cc - (j % 2)) >>> 0;
    const y = t % h;
    const x = (t - y) / h;
    if (j % 2 === 0) xp = x;
    else if (xp < x) {
      ys = 0;
      ye = h - 1;
    }
    xs = Math.min(xs, x);
    xe = Math.max(xe, x);
    ys = Math.min(ys, y);
    ye = Math.max(ye, y);
  }
  return [xs, ys, xe - xs + 1, ye - ys + 1];
}

/**
 * bbIou: IoU[d][g] of boxes, row-major [D * G] in one array; a crowd ground truth's IoU is intersection / detection
 * area. `out` and `off`: written into out[off, off + D * G) instead of a new array (evaluateCoco's one array).
 */
export function boxIou(dt: readonly CocoBox[], gt: readonly CocoBox[], iscrowd: readonly boolean[], out?: Float64Array, off = 0): Float64Array {
  const G = gt.length;
  const o = out ?? new Float64Array(dt.length * G);
  if (out) out.fill(0, off, off + dt.length * G);
  for (let g = 0; g < G; g++) {
    const B = gt[g]!;
    const ga = B[2] * B[3];
    for (let d = 0; d < dt.length; d++) {
      const D = dt[d]!;
      const da = D[2] * D[3];
      const iw = Math.min(D[2] + D[0], B[2] + B[0]) - Math.max(D[0], B[0]);
      if (iw <= 0) continue;
      const ih = Math.min(D[3] + D[1], B[3] + B[1]) - Math.max(D[1], B[1]);
      if (ih <= 0) continue;
      const i = iw * ih;
      o[off + d * G + g] = i / (iscrowd[g] ? da : da + ga - i);
    }
  }
  return o;
}

/** rleIou: IoU[d][g] of masks, row-major [D * G] (boxes first: no box overlap, IoU 0); masks of different sizes give -1. */
export function rleIou(dt: readonly RleMask[], gt: readonly RleMask[], iscrowd: readonly boolean[]): Float64Array {
  const o = boxIou(dt.map(rleToBox), gt.map(rleToBox), iscrowd);
  rleIouRows(dt, gt, iscrowd, o, 0, 0, dt.length);
  return o;
}

/**
 * @internal rleIou's second step for the rows d0 <= d < d1: `o` holds boxIou of the masks' boxes from `off` on, and each pair whose
 * boxes overlap gets its mask IoU. Row by row, so that a caller can look at the clock between rows (evaluateCoco:
 * a row of a big image's masks can take milliseconds).
 */
export function rleIouRows(dt: readonly RleMask[], gt: readonly RleMask[], iscrowd: readonly boolean[], o: Float64Array, off: number, d0: number, d1: number): void {
  const G = gt.length;
  for (let d = d0; d < d1; d++) {
    const D = dt[d]!;
    for (let g = 0; g < G; g++) {
      const at = off + d * G + g;
      if (!(o[at]! > 0)) continue;
      const B = gt[g]!;
      if (D.h !== B.h || D.w !== B.w) {
        o[at] = -1;
        continue;
      }
      let inter = 0;
      let uni = 0;
      const walk = runPairs.reset(D.counts, B.counts);
      while (walk.step()) {
        if (walk.va | walk.vb) uni += walk.c;
        if (walk.va & walk.vb) inter += walk.c;
      }
      if (inter === 0) uni = 1;
      else if (iscrowd[g]) uni = rleArea(D);
      o[at] = inter / uni;
    }
  }
}

// Polygon and box coordinates: finite and within ±2^20 pixels. pycocotools rasterises a polygon at five steps a pixel
// along each edge, so a coordinate of 1e12 would take forever (there and here) instead of meaning anything.
const COORD_LIMIT = 2 ** 20;
function checkCoordinates(what: string, p: readonly unknown[]): void {
  for (const v of p) {
    if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > COORD_LIMIT) {
      throw new SotrRangeError(`COCO segmentation: ${what} coordinates must be finite numbers within ±${COORD_LIMIT}, received ${shownValue(v)}`);
    }
  }
}

/** Checks an RLE's size and runs: non-negative integers, the runs covering exactly h x w pixels. */
function checkRle(h: number, w: number, counts: ArrayLike<number>): void {
  if (!Number.isSafeInteger(h) || !Number.isSafeInteger(w) || h < 0 || w < 0 || h * w > 2 ** 32) {
    throw new SotrRangeError(`COCO segmentation: RLE size [${String(h)}, ${String(w)}] must be two non-negative integers (at most 2^32 pixels)`);
  }
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (!Number.isSafeInteger(c) || c < 0) throw new SotrRangeError(`COCO segmentation: RLE run ${i} is ${String(c)}, not a non-negative integer`);
    total += c;
  }
  // Runs that do not cover the size exactly would make the run walks (rleIou, rleMerge) never end, here as in
  // pycocotools' C code.
  if (total !== h * w) throw new SotrRangeError(`COCO segmentation: the RLE's runs cover ${total} pixels, its size ${h} x ${w} has ${h * w}`);
}

/**
 * @internal Room for many masks' runs in one buffer, handed out as views (evaluateCoco: a Uint32Array of its own
 * per mask decoded was 10^5 small off-heap allocations, whose external bytes set off full collections). `reset()`
 * when the masks are no longer used; a view handed out stays valid (a full buffer is replaced, not reused).
 */
export class RunPool {
  private buf = new Uint32Array(1 << 16);
  private used = 0;
  take(n: number): Uint32Array {
    if (this.used + n > this.buf.length) {
      this.buf = new Uint32Array(Math.max(n, this.buf.length));
      this.used = 0;
    }
    this.used += n;
    return this.buf.subarray(this.used - n, this.used);
  }
  reset(): void {
    this.used = 0;
  }
}

/**
 * A COCO segmentation (polygons, uncompressed or compressed RLE) as one RleMask (annToRLE; parts merged). With a
 * `pool`, an RLE's runs go into it (see RunPool).
 */
export function segmentationToRle(segm: unknown, h: number, w: number, pool?: RunPool): RleMask {
  if (Array.isArray(segm)) {
    if (segm.length === 0) return rleMerge([]);
    // frPyObjects sends a list whose first entry has 4 numbers to frBbox, which raises there (it wants an ndarray),
    // so such annotations cannot occur in a file pycocotools evaluates; we rasterise them as boxes, as it intends.
    const parts = (segm as number[][]).map((p) => {
      if (!Array.isArray(p)) throw new SotrTypeError('COCO segmentation: a polygon must be an array of numbers');
      checkCoordinates('polygon', p);
      return Array.isArray(segm[0]) && segm[0].length === 4 ? rleFromBox(p, h, w) : rleFromPolygon(p, h, w);
    });
    return rleMerge(parts);
  }
  const o = segm as { counts?: unknown; size?: unknown };
  if (!o || typeof o !== 'object' || !Array.isArray(o.size) || o.size.length !== 2) {
    throw new SotrTypeError('COCO segmentation: expected polygons or an RLE { size: [h, w], counts }');
  }
  const [rh, rw] = o.size as [number, number];
  let counts: ArrayLike<number>;
  if (Array.isArray(o.counts)) counts = o.counts as number[];
  else if (typeof o.counts === 'string') counts = decodeRleCountsReused(o.counts);
  else throw new SotrRangeError('COCO segmentation: RLE counts must be a string or an array of numbers');
  checkRle(rh, rw, counts);
  const runs = pool ? pool.take(counts.length) : new Uint32Array(counts.length);
  for (let i = 0; i < counts.length; i++) runs[i] = counts[i]! >>> 0;
  return { h: rh, w: rw, counts: runs };
}
