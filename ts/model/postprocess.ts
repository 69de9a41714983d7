/**
 * Post-processing (§9–§10), step by step as `SOTR.inference_single_image` does it:
 *  1. sigmoid (float32, PyTorch's rounding) + point NMS (2×2 max-pool, keep cells equal to their window max);
 *  2. ratio = ceil(h / f_h) (from the height only, as the code does);
 *  3. candidates = (cell, class) pairs with probability > scoreThreshold, row-major over (cell, class);
 *  4–7. dynamic 1×1 convolution of the mask feature with each candidate's kernel, binarised at maskThreshold;
 *     keep masks whose area > the level's stride (we compute each distinct cell's mask once: a cell's classes share
 *     its kernel);
 *  8. score × maskness (mean soft value inside the binary mask);
 *  9. sort, keep nmsPre;  10. Matrix NMS (class-aware, gaussian or linear);
 *  11. keep decayed scores >= updateThreshold, sort, keep maxPerImage;
 *  12. soft masks resized ×ratio, cropped to the unpadded size, resized to the original size, > maskThreshold.
 * Then our additions: the minScore output filter, boxes from the masks; and before step 3, the `classes` option (the
 * other classes' pairs are never candidates, as if their logits were -inf).
 *
 * Where it runs (the JavaScript thread does none of the per-candidate work): steps 1–3 (ops/select_candidates), the
 * kernel gather (ops/gather_kernels) and steps 7–9 on the masks' statistics (ops/rank_candidates) are native CPU ops
 * on the worker threads; the dynamic convolutions, the gather of the kept masks (ops/gather_rows), Matrix NMS and
 * step 12's resizes (ops/resize_masks, whose CUDA twin is bit-identical to the CPU's) run on the model's device, so a
 * CUDA model copies only small per-candidate statistics to the host and the final packed masks back. JavaScript
 * handles the counts and step 11 (at most nmsPre scores). The TypeScript these ops replaced is the reference of
 * their tests (tests/model/postprocess_reference.mjs), which they match bit for bit.
 *
 * Our one deviation from the official code: every sort breaks ties by (score descending, candidate index
 * ascending), where the candidate index is the row-major (cell, class) order of step 3; PyTorch's argsort is
 * unstable, so its tie order is unspecified.
 */
import { abortError } from '../abort';
import { Tensor } from '../tensor';
import type { SotrConfig, PostprocessOptions } from './config';
import { DeviceBitMasks } from '../masks/bitmasks';
import type { Mask } from '../masks/mask';
import { dynamicConv, dynamicConvMasks as dynamicConvMasksOp } from '../ops/dynamic_conv';
import { gatherKernels } from '../ops/gather_kernels';
import { gatherRows } from '../ops/gather_rows';
import { matrixNms as matrixNmsOp } from '../ops/matrix_nms';
import { rankCandidates } from '../ops/rank_candidates';
import { resizeMasksToInstances } from '../ops/resize_masks';
import type { Contour, ContourOptions } from '../ops/mask_contours';
import { selectCandidates } from '../ops/select_candidates';
import { op, opts, type OpCtx } from './ops';

/** The post-processing values of one prediction, checked; `classes` as sorted labels (null: every class). */
export type ResolvedPostprocess = Omit<Required<PostprocessOptions>, 'classes'> & { classes: readonly number[] | null };

/** One segmented object: its class, score, box and mask in the original image (and its contours when asked for). */
export interface Instance {
  /** Contiguous class index. */
  label: number;
  /** Class name. */
  category: string;
  /** Category id: `config.cocoCategoryIds[label]` (COCO's for 80-class models, or the `cocoCategoryIds` load option), else null. */
  cocoCategoryId: number | null;
  /** Final score in [0, 1] (class probability × maskness, after Matrix NMS decay). */
  score: number;
  /** [x0, y0, x1, y1] in original-image pixels, exclusive ends, from the mask. */
  box: [number, number, number, number];
  /** The binary mask, at the original image's size. */
  mask: Mask;
  /**
   * With predict's `contours` option: the mask's borders as OpenCV's findContours gives them (see masksToContours),
   * traced natively with the prediction.
   */
  contours?: Contour[];
}

/** What predict makes besides the masks: their COCO RLE, their contours. */
export interface PostprocessOutputs {
  rle?: boolean;
  contours?: Pick<ContourOptions, 'mode' | 'approx'>;
}

export interface LevelMaps {
  /** Class logits [1, classes, N, N], a CPU tensor. */
  cate: Tensor;
  /** Kernels [1, D, N, N], a CPU tensor. */
  kernel: Tensor;
  n: number;
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

/** Soft masks sigmoid(k · F) [n, H, W] of kernels [n, D] (a CPU tensor), left on the model's device (the caller disposes it). */
export async function dynamicConvSoft(ctx: OpCtx, F: MaskFeature, kernels: Tensor): Promise<Tensor> {
  const k = kernels.device === ctx.device ? kernels : await kernels.to(ctx.device);
  try {
    return await op(ctx, dynamicConv, await F.chw(), k, opts(ctx, { sigmoid: true }));
  } finally {
    if (k !== kernels) k.dispose();
  }
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

/** Counts through one prediction's post-processing (in Intermediates.trace). */
export interface PostprocessTrace {
  /** (cell, class) pairs above scoreThreshold. */
  candidates: number;
  /** The candidates' distinct cells: the masks computed in steps 4–7. */
  distinctCells: number;
  /** Candidates whose mask area is above their level's stride. */
  afterAreaFilter: number;
  /** Candidates given to Matrix NMS (at most nmsPre). */
  beforeNms: number;
  /** Candidates whose decayed score is at least updateThreshold. */
  afterNms: number;
  /** Upsampling factor of the soft masks: ceil(input height / mask-feature height). */
  ratio: number;
}

/** Score descending (NaN last), then index ascending: the tie-breaking of every sort (step 11's, here). */
export function byScoreThenIndex(scores: ArrayLike<number>, index: ArrayLike<number>): (a: number, b: number) => number {
  return (a, b) => {
    const sa = scores[a]!;
    const sb = scores[b]!;
    if (sa !== sb) return sb > sa || Number.isNaN(sa) ? 1 : -1;
    return index[a]! - index[b]!;
  };
}

/**
 * Steps 1–12. What runs where: steps 1–3 (selectCandidates), the kernel gather (gatherKernels) and steps 7–9
 * (rankCandidates, on the masks' statistics) are native ops on the CPU workers; the dynamic convolutions (steps 4–7,
 * 12), the gather of the kept masks (gatherRows), Matrix NMS (step 10) and step 12's resizes (resizeMasks) run on the
 * model's device. The JavaScript thread only handles counts and step 11 (at most nmsPre scores). On a CUDA model the
 * CPU ops' inputs (level maps, per-candidate statistics: 24 bytes a candidate) are copied to the host and the kept
 * candidates' order goes back as a host index; the masks stay on the device and only the survivors' bit-packed
 * resized masks and [n, 5] stats come back.
 */
export async function postprocess(
  ctx: OpCtx,
  cfg: SotrConfig,
  o: ResolvedPostprocess,
  input: PostprocessInput,
  trace?: PostprocessTrace,
  outputs: PostprocessOutputs = {},
): Promise<Instance[]> {
  const { levels, feature: F } = input;
  const fh = F.height;
  const ratio = Math.ceil(input.height / fh);
  if (trace) trace.ratio = ratio;
  const sig = ctx.signal ? { signal: ctx.signal } : {};
  const owned: Array<{ dispose(): void }> = [];
  const own = <T extends { dispose(): void }>(x: T): T => {
    owned.push(x);
    return x;
  };
  const onDevice = async (t: Tensor, device: string): Promise<Tensor> => (t.device === device ? t : own(await t.to(device)));
  // Promise.all for calls that own() their results: waits for every one before rethrowing the first failure, so
  // none resolves after the finally below has disposed the rest (it would stay alive until the GC found it).
  const allSettled = async <T>(ps: Array<Promise<T>>): Promise<T[]> => {
    const r = await Promise.allSettled(ps);
    const failed = r.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (failed) throw failed.reason;
    return r.map((x) => (x as PromiseFulfilledResult<T>).value);
  };
  const check = () => {
    if (ctx.signal?.aborted) throw abortError(ctx.signal, 'predict');
  };
  try {
    // Steps 1 and 3.
    const cand = await selectCandidates(
      levels.map((l) => l.cate),
      { threshold: o.scoreThreshold, strides: cfg.instanceStrides, ...(o.classes ? { classes: o.classes } : {}), ...sig },
    );
    [cand.cells, cand.labels, cand.scores, cand.strides, cand.distinctCells, cand.rows].forEach(own);
    if (trace) {
      trace.candidates = cand.count;
      trace.distinctCells = cand.distinct;
    }
    if (cand.count === 0) return [];
    // Steps 4–7: the binary masks and their statistics, left on the device, once per distinct cell: a cell with
    // several classes above the threshold has one kernel, so one mask (an untrained R50 gives ~4 candidates a cell).
    const shared = cand.distinct < cand.count;
    const kernels = own(await gatherKernels(cand.distinctCells, levels.map((l) => l.kernel), sig));
    const masks = own(
      (await op(ctx, dynamicConvMasksOp, await F.chw(), await onDevice(kernels, ctx.device), opts(ctx, { threshold: o.maskThreshold, keepOnDevice: true }))) as DeviceBitMasks,
    );
    check();
    // Steps 7–9 on the host: area filter, maskness rescoring, sort, nmsPre. Only the masks' statistics go there
    // (24 bytes a mask), spread to the candidates that share a cell; the bits stay where they are (on a CUDA model,
    // copying every candidate's bits down was ~59 MB for 7000 candidates), and the kept ones are gathered there below.
    const perCandidate = async (t: Tensor): Promise<Tensor> => {
      const h = await onDevice(t, 'cpu');
      return shared ? own(await gatherRows(h, cand.rows, sig)) : h;
    };
    const [areas, softSums, boxes] = await allSettled([masks.areas, masks.softSums, masks.boxes].map((t) => perCandidate(t!)));
    const ranked = await rankCandidates(
      { scores: cand.scores, strides: cand.strides, labels: cand.labels, areas: areas!, softSums: softSums!, boxes: boxes! },
      { nmsPre: o.nmsPre, ...sig },
    );
    [ranked.order, ranked.scores, ranked.labels, ranked.areas, ranked.softSums, ranked.boxes].forEach(own);
    if (trace) trace.afterAreaFilter = ranked.afterAreaFilter;
    if (ranked.kept === 0) return [];
    if (trace) trace.beforeNms = ranked.kept;
    const [pre, labels] = (await Promise.all([ranked.order.data(), ranked.labels.data()])) as [Int32Array, Int32Array];
    // Step 10: the kept masks' bits gathered by mask row where they are, on the model's device (only the kept rows
    // cross to a GPU); their statistics, already gathered by rankCandidates (24 bytes each), go along. Then Matrix
    // NMS there.
    const keptRows = shared ? own(await gatherRows(cand.rows, ranked.order, sig)) : ranked.order;
    const nBits = own(await op(ctx, gatherRows, masks.bits, keptRows, sig));
    const [nAreas, nSoft, nBoxes] = await allSettled([ranked.areas, ranked.softSums, ranked.boxes].map((t) => onDevice(t, ctx.device)));
    const nmsMasks = new DeviceBitMasks(masks.width, nBits, nAreas!, nSoft!, nBoxes!);
    const decayed = Float32Array.from(await op(ctx, matrixNmsOp, nmsMasks, labels, ranked.scores, { kernel: o.nmsKernel, sigma: o.nmsSigma, ...sig }));
    // Step 11 (at most nmsPre entries): keep >= updateThreshold, sort, top maxPerImage.
    const survivors: number[] = [];
    for (let j = 0; j < ranked.kept; j++) if (decayed[j]! >= o.updateThreshold) survivors.push(j);
    if (trace) trace.afterNms = survivors.length;
    if (survivors.length === 0) return [];
    survivors.sort(byScoreThenIndex(decayed, pre));
    const final = survivors.slice(0, o.maxPerImage).filter((j) => decayed[j]! >= o.minScore);
    if (final.length === 0) return [];
    // Step 12: soft masks of the survivors (their kernels gathered again from the level maps), resized to the
    // original image.
    const cells = (await cand.cells.data()) as Int32Array;
    const finalCells = own(Tensor.from(Int32Array.from(final, (j) => cells[pre[j]!]!), [final.length]));
    const soft = own(await dynamicConvSoft(ctx, F, own(await gatherKernels(finalCells, levels.map((l) => l.kernel), sig))));
    check();
    const resized = await op(
      ctx,
      resizeMasksToInstances,
      soft,
      opts(ctx, {
        ratio,
        crop: [input.height, input.width] as const,
        size: [input.originalHeight, input.originalWidth] as const,
        threshold: o.maskThreshold,
        rle: outputs.rle === true,
        contours: outputs.contours,
      }),
    );
    const masksOut = resized.masks;
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
        ...(resized.contours ? { contours: resized.contours[k]! } : {}),
      });
    }
    return out;
  } finally {
    for (const x of owned) x.dispose();
  }
}
