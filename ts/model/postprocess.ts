/**
 * Post-processing (§9–§10), step by step as `SOTR.inference_single_image` does it:
 *  1. sigmoid (float32, PyTorch's rounding) + point NMS (2×2 max-pool, keep cells equal to their window max);
 *  2. ratio = ceil(h / f_h) (from the height only, as the code does);
 *  3. candidates = (cell, class) pairs with probability > scoreThreshold, row-major over (cell, class);
 *  4–7. dynamic 1×1 convolution of the mask feature with each candidate's kernel, binarised at maskThreshold;
 *     keep masks whose area > the level's stride;
 *  8. score × maskness (mean soft value inside the binary mask);
 *  9. sort, keep nmsPre;  10. Matrix NMS (class-aware, gaussian or linear);
 *  11. keep decayed scores >= updateThreshold, sort, keep maxPerImage;
 *  12. soft masks resized ×ratio, cropped to the unpadded size, resized to the original size, > maskThreshold.
 * Then our additions: the minScore output filter, boxes from the masks.
 *
 * Our one deviation from the official code: every sort breaks ties by (score descending, candidate index
 * ascending), where the candidate index is the row-major (cell, class) order of step 3; PyTorch's argsort is
 * unstable, so its tie order is unspecified.
 */
import { AbortError } from '../errors';
import { Tensor } from '../tensor';
import type { SotrConfig, PostprocessOptions } from './config';
import { BitMasks } from '../masks/bitmasks';
import { Mask, words32PerRow } from '../masks/mask';
import { dynamicConv, dynamicConvMasks as dynamicConvMasksOp } from '../ops/dynamic_conv';
import { matrixNms as matrixNmsOp } from '../ops/matrix_nms';
import { op, opts, type OpCtx } from './ops';

const f32 = Math.fround;

/** PyTorch's float32 sigmoid: 1 / (1 + exp(-x)) rounded to float32 at each step (§10 step 1). */
export function sigmoid32(x: number): number {
  return f32(1 / f32(1 + f32(Math.exp(-x))));
}

/** Per-axis source indices and weights of PyTorch's bilinear, align_corners=False, float32 index math. */
export function linearTaps(inSize: number, outSize: number, scaleOverride?: number): { i0: Int32Array; i1: Int32Array; l1: Float32Array } {
  const scale = f32(scaleOverride ?? inSize / outSize);
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const l1 = new Float32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    let src = f32(f32(scale * f32(o + 0.5)) - 0.5);
    if (src < 0) src = 0;
    let a = Math.floor(src);
    if (a > inSize - 1) a = inSize - 1;
    let lam = f32(src - a);
    if (lam > 1) lam = 1;
    i0[o] = a;
    i1[o] = a < inSize - 1 ? a + 1 : a;
    l1[o] = lam;
  }
  return { i0, i1, l1 };
}

export type ResolvedPostprocess = Required<PostprocessOptions>;

export interface Instance {
  /** Contiguous class index. */
  label: number;
  /** Class name. */
  category: string;
  /** COCO category id (80-class models), else null. */
  cocoCategoryId: number | null;
  score: number;
  /** [x0, y0, x1, y1] in original-image pixels, exclusive ends, from the mask. */
  box: [number, number, number, number];
  mask: Mask;
}

/** Binary masks bit-packed per row (LSB first, rows padded to 64-bit words) with per-mask statistics. */
export interface HostBitMasks {
  count: number;
  height: number;
  width: number;
  /** 32-bit words per row (twice the 64-bit wordsPerRow). */
  words: number;
  data: Uint32Array;
  areas: Int32Array;
  softSums: Float32Array;
  /** [x0, y0, x1, y1] per mask, exclusive ends. */
  boxes: Int32Array;
}

export interface LevelMaps {
  /** Class logits [classes, N, N]. */
  cate: Float32Array;
  /** Kernels [D, N, N]. */
  kernel: Float32Array;
  n: number;
}

// ------------------------------------------------------------------------------------------ step 1 and 3

export interface Candidates {
  count: number;
  /** Global cell index (levels concatenated). */
  cells: Int32Array;
  labels: Int32Array;
  scores: Float32Array;
  /** Minimum mask area per candidate (the level's stride). */
  strides: Float32Array;
}

/** Sigmoid + point NMS per level, then the (cell, class) pairs above the threshold, in row-major order. */
export function selectCandidates(levels: LevelMaps[], numClasses: number, instanceStrides: readonly number[], scoreThreshold: number): Candidates {
  const cells: number[] = [];
  const labels: number[] = [];
  const scores: number[] = [];
  const strides: number[] = [];
  let offset = 0;
  for (let l = 0; l < levels.length; l++) {
    const { cate, n } = levels[l]!;
    const nn = n * n;
    // Only probabilities above the threshold matter (a lower neighbour never suppresses a candidate), and the
    // float32 sigmoid is monotone: skip the exp below a logit bound safely under the threshold.
    const p = new Float32Array(cate.length);
    const bound = scoreThreshold <= 0 ? -Infinity : scoreThreshold >= 1 ? Infinity : Math.log(scoreThreshold / (1 - scoreThreshold)) - 1e-3;
    for (let i = 0; i < cate.length; i++) if (cate[i]! > bound) p[i] = sigmoid32(cate[i]!);
    // keep[c][y][x]: p equals the max over its 2×2 window (top-left neighbours included, −∞ outside).
    const kept = new Float32Array(cate.length);
    for (let c = 0; c < numClasses; c++) {
      const base = c * nn;
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++) {
          const v = p[base + y * n + x]!;
          let m = v;
          if (y > 0) {
            const t = p[base + (y - 1) * n + x]!;
            if (t > m) m = t;
            if (x > 0) {
              const tl = p[base + (y - 1) * n + x - 1]!;
              if (tl > m) m = tl;
            }
          }
          if (x > 0) {
            const lf = p[base + y * n + x - 1]!;
            if (lf > m) m = lf;
          }
          kept[base + y * n + x] = m === v ? v : 0;
        }
      }
    }
    for (let cell = 0; cell < nn; cell++) {
      for (let c = 0; c < numClasses; c++) {
        const v = kept[c * nn + cell]!;
        if (v > scoreThreshold) {
          cells.push(offset + cell);
          labels.push(c);
          scores.push(v);
          strides.push(instanceStrides[l]!);
        }
      }
    }
    offset += nn;
  }
  return {
    count: cells.length,
    cells: Int32Array.from(cells),
    labels: Int32Array.from(labels),
    scores: Float32Array.from(scores),
    strides: Float32Array.from(strides),
  };
}

/** Kernel vectors [count, D] of the given global cells. */
export function gatherKernels(levels: LevelMaps[], cells: Int32Array, D: number): Float32Array {
  const out = new Float32Array(cells.length * D);
  const starts: number[] = [];
  let off = 0;
  for (const l of levels) {
    starts.push(off);
    off += l.n * l.n;
  }
  for (let i = 0; i < cells.length; i++) {
    let l = levels.length - 1;
    while (starts[l]! > cells[i]!) l--;
    const { kernel, n } = levels[l]!;
    const cell = cells[i]! - starts[l]!;
    const nn = n * n;
    for (let d = 0; d < D; d++) out[i * D + d] = kernel[d * nn + cell]!;
  }
  return out;
}

// ------------------------------------------------------------------------------------------ dynamic conv

/** The mask feature of one image, on the device. */
export class MaskFeature {
  #chw: Tensor | null = null;
  constructor(
    /** [1, C, H, W] */
    readonly tensor: Tensor,
    readonly channels: number,
    readonly height: number,
    readonly width: number,
  ) {}

  /** The feature as [C, H, W] (the dynamic conv ops' layout): a view, no copy. */
  async chw(): Promise<Tensor> {
    this.#chw ??= this.tensor.reshape([this.channels, this.height, this.width]);
    return this.#chw;
  }

  dispose(): void {
    this.#chw?.dispose();
    this.#chw = null;
  }
}

function fromBitMasks(b: BitMasks): HostBitMasks {
  return {
    count: b.count,
    height: b.height,
    width: b.width,
    words: 2 * b.wordsPerRow,
    data: b.words,
    areas: b.areas,
    softSums: b.softSums ?? new Float32Array(b.count),
    boxes: b.boxes,
  };
}

async function kernelTensor(ctx: OpCtx, kernels: Float32Array, n: number, D: number): Promise<Tensor> {
  return Tensor.from(kernels, [n, D], { device: ctx.device });
}

export async function dynamicConvMasks(ctx: OpCtx, F: MaskFeature, kernels: Float32Array, n: number, threshold: number): Promise<HostBitMasks> {
  const k = await kernelTensor(ctx, kernels, n, F.channels);
  try {
    return fromBitMasks((await op(ctx, dynamicConvMasksOp, await F.chw(), k, opts(ctx, { threshold }))) as BitMasks);
  } finally {
    k.dispose();
  }
}

/** Soft masks sigmoid(k · F) [n, H, W] on the host. */
export async function dynamicConvSoft(ctx: OpCtx, F: MaskFeature, kernels: Float32Array, n: number): Promise<Float32Array> {
  const k = await kernelTensor(ctx, kernels, n, F.channels);
  try {
    const out = await op(ctx, dynamicConv, await F.chw(), k, opts(ctx, { sigmoid: true }));
    try {
      return (await out.data()) as Float32Array;
    } finally {
      out.dispose();
    }
  } finally {
    k.dispose();
  }
}

// ------------------------------------------------------------------------------------------ Matrix NMS

/** Subset of a HostBitMasks (in the given order). */
export function selectMasks(m: HostBitMasks, order: ArrayLike<number>): HostBitMasks {
  const per = m.height * m.words;
  const data = new Uint32Array(order.length * per);
  const areas = new Int32Array(order.length);
  const softSums = new Float32Array(order.length);
  const boxes = new Int32Array(4 * order.length);
  for (let i = 0; i < order.length; i++) {
    const j = order[i]!;
    data.set(m.data.subarray(j * per, (j + 1) * per), i * per);
    areas[i] = m.areas[j]!;
    softSums[i] = m.softSums[j]!;
    boxes.set(m.boxes.subarray(4 * j, 4 * j + 4), 4 * i);
  }
  return { count: order.length, height: m.height, width: m.width, words: m.words, data, areas, softSums, boxes };
}

async function matrixNms(ctx: OpCtx, m: HostBitMasks, labels: Int32Array, scores: Float32Array, kernel: 'gaussian' | 'linear', sigma: number): Promise<Float32Array> {
  const bm = new BitMasks({ count: m.count, height: m.height, width: m.width, data: m.data, areas: m.areas, boxes: m.boxes, softSums: m.softSums });
  const r = await op(ctx, matrixNmsOp, bm, labels, scores, { kernel, sigma, device: ctx.device, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  return Float32Array.from(r);
}

// ------------------------------------------------------------------------------------------ step 12

/**
 * Per-axis linear map of "resize in → mid (bilinear), take the first `crop` entries, resize crop → out
 * (bilinear)", composed: each output index gets up to 4 (index, weight) pairs over the input axis.
 */
function composedTaps(inSize: number, midSize: number, crop: number, outSize: number): { idx: Int32Array; w: Float64Array; k: number } {
  const a = linearTaps(inSize, midSize);
  const b = linearTaps(crop, outSize);
  const k = 4;
  const idx = new Int32Array(outSize * k);
  const w = new Float64Array(outSize * k);
  for (let o = 0; o < outSize; o++) {
    const pairs = new Map<number, number>();
    const addTap = (mid: number, wm: number): void => {
      const l1 = a.l1[mid]!;
      const l0 = f32(1 - l1);
      pairs.set(a.i0[mid]!, (pairs.get(a.i0[mid]!) ?? 0) + wm * l0);
      pairs.set(a.i1[mid]!, (pairs.get(a.i1[mid]!) ?? 0) + wm * l1);
    };
    const l1 = b.l1[o]!;
    addTap(b.i0[o]!, f32(1 - l1));
    addTap(b.i1[o]!, l1);
    let j = 0;
    for (const [i, wt] of pairs) {
      idx[o * k + j] = i;
      w[o * k + j] = wt;
      j++;
    }
    for (; j < k; j++) {
      idx[o * k + j] = idx[o * k]!;
      w[o * k + j] = 0;
    }
  }
  return { idx, w, k };
}

/** Final binary masks at the original size from soft masks [n, fh, fw]. */
export function finalMasks(
  soft: Float32Array,
  n: number,
  fh: number,
  fw: number,
  ratio: number,
  h: number,
  w: number,
  H0: number,
  W0: number,
  threshold: number,
): Mask[] {
  // F.interpolate(size=(fh·ratio, fw·ratio))[:, :, :h, :w]: slicing past the end keeps what exists.
  const ch = Math.min(h, fh * ratio);
  const cw = Math.min(w, fw * ratio);
  const ty = composedTaps(fh, fh * ratio, ch, H0);
  const tx = composedTaps(fw, fw * ratio, cw, W0);
  // Per output index, the smallest and largest input index with a positive weight (monotone in the output).
  const span = (t: { idx: Int32Array; w: Float64Array; k: number }, size: number) => {
    const lo = new Int32Array(size);
    const hi = new Int32Array(size);
    for (let o = 0; o < size; o++) {
      let a = Infinity;
      let b = -Infinity;
      for (let k = 0; k < t.k; k++) {
        if (t.w[o * t.k + k]! > 0) {
          a = Math.min(a, t.idx[o * t.k + k]!);
          b = Math.max(b, t.idx[o * t.k + k]!);
        }
      }
      lo[o] = a === Infinity ? 0 : a;
      hi[o] = b === -Infinity ? -1 : b;
    }
    return { lo, hi };
  };
  const sy = span(ty, H0);
  const sx = span(tx, W0);
  const out: Mask[] = [];
  const tmp = new Float64Array(fh * W0);
  const stride = words32PerRow(W0);
  for (let m = 0; m < n; m++) {
    const src = soft.subarray(m * fh * fw, (m + 1) * fh * fw);
    const words = new Uint32Array(stride * H0);
    // The taps form convex combinations: an output can exceed the threshold only if one of its sources does, so
    // only the outputs whose sources meet the box of the source pixels above the threshold are computed.
    let bx0 = fw;
    let by0 = fh;
    let bx1 = -1;
    let by1 = -1;
    for (let y = 0; y < fh; y++) {
      for (let x = 0; x < fw; x++) {
        if (src[y * fw + x]! > threshold) {
          if (x < bx0) bx0 = x;
          if (x > bx1) bx1 = x;
          if (y < by0) by0 = y;
          by1 = y;
        }
      }
    }
    if (bx1 >= 0) {
      let X0 = 0;
      while (X0 < W0 && sx.hi[X0]! < bx0) X0++;
      let X1 = W0;
      while (X1 > X0 && sx.lo[X1 - 1]! > bx1) X1--;
      let Y0 = 0;
      while (Y0 < H0 && sy.hi[Y0]! < by0) Y0++;
      let Y1 = H0;
      while (Y1 > Y0 && sy.lo[Y1 - 1]! > by1) Y1--;
      if (X0 < X1 && Y0 < Y1) {
        const r0 = sy.lo[Y0]!;
        const r1 = sy.hi[Y1 - 1]!;
        for (let y = r0; y <= r1; y++) {
          for (let x = X0; x < X1; x++) {
            let v = 0;
            for (let k = 0; k < tx.k; k++) v += tx.w[x * tx.k + k]! * src[y * fw + tx.idx[x * tx.k + k]!]!;
            tmp[y * W0 + x] = v;
          }
        }
        for (let y = Y0; y < Y1; y++) {
          for (let x = X0; x < X1; x++) {
            let v = 0;
            for (let k = 0; k < ty.k; k++) {
              const wt = ty.w[y * ty.k + k]!;
              if (wt > 0) v += wt * tmp[ty.idx[y * ty.k + k]! * W0 + x]!;
            }
            if (v > threshold) words[y * stride + (x >>> 5)]! |= 1 << (x & 31);
          }
        }
      }
    }
    out.push(new Mask(W0, H0, words));
  }
  return out;
}

// ------------------------------------------------------------------------------------------ the whole step

export interface PostprocessInput {
  levels: LevelMaps[];
  feature: MaskFeature;
  /** Resized size before padding. */
  height: number;
  width: number;
  originalHeight: number;
  originalWidth: number;
}

export interface PostprocessTrace {
  candidates: number;
  afterAreaFilter: number;
  beforeNms: number;
  afterNms: number;
  ratio: number;
}

export function byScoreThenIndex(scores: ArrayLike<number>, index: ArrayLike<number>): (a: number, b: number) => number {
  return (a, b) => {
    const sa = scores[a]!;
    const sb = scores[b]!;
    if (sa !== sb) return sb > sa || Number.isNaN(sa) ? 1 : -1;
    return index[a]! - index[b]!;
  };
}

export async function postprocess(
  ctx: OpCtx,
  cfg: SotrConfig,
  o: ResolvedPostprocess,
  input: PostprocessInput,
  trace?: PostprocessTrace,
): Promise<Instance[]> {
  const { levels, feature: F } = input;
  const D = F.channels;
  const fh = F.height;
  const fw = F.width;
  const ratio = Math.ceil(input.height / fh);
  if (trace) trace.ratio = ratio;
  const cand = selectCandidates(levels, cfg.numClasses, cfg.instanceStrides, o.scoreThreshold);
  if (trace) trace.candidates = cand.count;
  if (cand.count === 0) return [];
  const kernels = gatherKernels(levels, cand.cells, D);
  const masks = await dynamicConvMasks(ctx, F, kernels, cand.count, o.maskThreshold);
  if (ctx.signal?.aborted) throw new AbortError('predict');
  // Steps 7–8: area filter, maskness rescoring.
  const keep: number[] = [];
  for (let i = 0; i < cand.count; i++) if (f32(masks.areas[i]!) > cand.strides[i]!) keep.push(i);
  if (trace) trace.afterAreaFilter = keep.length;
  if (keep.length === 0) return [];
  const score1 = new Float32Array(cand.count);
  for (const i of keep) {
    const area = f32(masks.areas[i]!);
    score1[i] = f32(cand.scores[i]! * f32(masks.softSums[i]! / area));
  }
  // Step 9: sort, keep nmsPre.
  const candIndex = Int32Array.from({ length: cand.count }, (_, i) => i);
  keep.sort(byScoreThenIndex(score1, candIndex));
  const pre = keep.slice(0, o.nmsPre);
  if (trace) trace.beforeNms = pre.length;
  const sel = selectMasks(masks, pre);
  const labels = Int32Array.from(pre, (i) => cand.labels[i]!);
  const sortedScores = Float32Array.from(pre, (i) => score1[i]!);
  // Step 10: Matrix NMS.
  const decayed = await matrixNms(ctx, sel, labels, sortedScores, o.nmsKernel, o.nmsSigma);
  // Step 11: keep >= updateThreshold, sort, top maxPerImage.
  const survivors: number[] = [];
  for (let j = 0; j < pre.length; j++) if (decayed[j]! >= o.updateThreshold) survivors.push(j);
  if (trace) trace.afterNms = survivors.length;
  if (survivors.length === 0) return [];
  const origIndex = Int32Array.from(pre);
  survivors.sort(byScoreThenIndex(decayed, origIndex));
  const final = survivors.slice(0, o.maxPerImage).filter((j) => decayed[j]! >= o.minScore);
  if (final.length === 0) return [];
  // Step 12: soft masks of the survivors, resized to the original image.
  const fk = new Float32Array(final.length * D);
  for (let k = 0; k < final.length; k++) {
    const ci = pre[final[k]!]!;
    fk.set(kernels.subarray(ci * D, (ci + 1) * D), k * D);
  }
  const soft = await dynamicConvSoft(ctx, F, fk, final.length);
  if (ctx.signal?.aborted) throw new AbortError('predict');
  const H0 = input.originalHeight;
  const W0 = input.originalWidth;
  const masksOut = finalMasks(soft, final.length, fh, fw, ratio, input.height, input.width, H0, W0, o.maskThreshold);
  const out: Instance[] = [];
  for (let k = 0; k < final.length; k++) {
    const j = final[k]!;
    const label = labels[j]!;
    const mask = masksOut[k]!;
    out.push({
      label,
      category: cfg.classNames[label] ?? `class_${label}`,
      cocoCategoryId: cfg.cocoCategoryIds ? cfg.cocoCategoryIds[label]! : null,
      score: decayed[j]!,
      box: mask.box,
      mask,
    });
  }
  return out;
}
