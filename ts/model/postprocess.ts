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
import { Mask } from '../masks/mask';
import { dynamicConv, dynamicConvMasks as dynamicConvMasksOp } from '../ops/dynamic_conv';
import { matrixNms as matrixNmsOp } from '../ops/matrix_nms';
import { resizeMasksToList } from '../ops/resize_masks';
import { op, opts, type OpCtx } from './ops';

const f32 = Math.fround;

/** PyTorch's float32 sigmoid: 1 / (1 + exp(-x)) rounded to float32 at each step (§10 step 1). */
export function sigmoid32(x: number): number {
  return f32(1 / f32(1 + f32(Math.exp(-x))));
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

/** Soft masks sigmoid(k · F) [n, H, W] as a CPU tensor (the caller disposes it). */
export async function dynamicConvSoft(ctx: OpCtx, F: MaskFeature, kernels: Float32Array, n: number): Promise<Tensor> {
  const k = await kernelTensor(ctx, kernels, n, F.channels);
  try {
    const out = await op(ctx, dynamicConv, await F.chw(), k, opts(ctx, { sigmoid: true }));
    if (out.device === 'cpu') return out;
    try {
      return await out.to('cpu');
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
// The two resizes and the threshold run natively (ops/resize_masks.ts), off the JavaScript thread.

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
  let masksOut: Mask[];
  try {
    if (ctx.signal?.aborted) throw new AbortError('predict');
    masksOut = await resizeMasksToList(soft, {
      ratio,
      crop: [input.height, input.width],
      size: [input.originalHeight, input.originalWidth],
      threshold: o.maskThreshold,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
  } finally {
    soft.dispose();
  }
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
