import type { Tensor } from '../tensor';
import { SotrRangeError, SotrTypeError } from '../errors';
import { checkTensor, runOp, type OpOptions } from './run';
import { narrowAll } from './select_candidates';
import { checkOptions, keysOf, shownValue } from '../options';

/** The candidates rankCandidates() takes: n rows of scores, strides, labels and mask statistics (CPU tensors). */
export interface RankCandidatesInput {
  /** float32 [n]: the candidates' probabilities. */
  scores: Tensor;
  /** float32 [n]: minimum mask area per candidate. */
  strides: Tensor;
  /** int32 [n] */
  labels: Tensor;
  /** The candidates' binary masks' statistics (dynamicConvMasks' outputs): int32 [n], float32 [n], int32 [n, 4]. */
  areas: Tensor;
  softSums: Tensor;
  boxes: Tensor;
  /**
   * The bit-packed masks, int32 [n, H, W2], to gather the kept ones with the rest. Leave it out to rank on the
   * statistics alone and gather the kept masks where they are (`gatherRows(bits, order)`, e.g. on the device): the
   * result then has no `masks`.
   */
  masks?: Tensor;
}

/** Options of rankCandidates(). */
export interface RankCandidatesOptions extends OpOptions {
  /** Keep at most this many (default: all). */
  nmsPre?: number | undefined;
}

/** The kept candidates, best first: CPU tensors of `kept` entries (the caller disposes them). */
export interface RankedCandidates {
  /** Candidates whose mask area is above their stride. */
  afterAreaFilter: number;
  /** min(afterAreaFilter, nmsPre). */
  kept: number;
  /** int32 [kept]: candidate indices (rows of the inputs), best first. */
  order: Tensor;
  /** float32 [kept]: rescored scores, descending. */
  scores: Tensor;
  labels: Tensor;
  areas: Tensor;
  softSums: Tensor;
  boxes: Tensor;
  /** int32 [kept, H, W2]: the kept masks, when the input had `masks`. */
  masks?: Tensor;
}

/**
 * SOTR post-processing steps 7–9 on the CPU worker threads: keep the candidates whose mask area (as float32) is
 * above their stride, rescore them score × maskness (softSum / area, float32), sort by score descending then
 * candidate index ascending (NaN last), keep `nmsPre`, and gather their labels and masks for Matrix NMS.
 */
export async function rankCandidates(input: RankCandidatesInput, options: RankCandidatesOptions = {}): Promise<RankedCandidates> {
  checkOptions('rankCandidates', options, keysOf<RankCandidatesOptions>()('precision', 'signal', 'nmsPre'));
  if (input === null || typeof input !== 'object') throw new SotrTypeError('rankCandidates: input { scores, strides, labels, areas, softSums, boxes, masks? } is required');
  const keys = ['scores', 'strides', 'labels', 'areas', 'softSums', 'masks', 'boxes'] as const;
  const tensors = keys.map((k) => checkTensor('rankCandidates', k, input[k], k === 'masks'));
  const withMasks = tensors[5] !== null;
  const { nmsPre } = options;
  if (nmsPre !== undefined && (!Number.isSafeInteger(nmsPre) || nmsPre < 1)) {
    throw new SotrRangeError(`rankCandidates: nmsPre must be a positive integer, received ${shownValue(nmsPre)}`);
  }
  // Without masks the native op's optional input stays absent: it gathers nothing.
  const outs = await runOp('rankCandidates', tensors, { nmsPre }, options);
  let counts: Int32Array;
  try {
    counts = (await outs[0]!.data()) as Int32Array;
  } catch (e) {
    for (const t of outs) t.dispose();
    throw e;
  }
  outs[0]!.dispose();
  const kept = counts[1]!;
  const [order, scores, labels, areas, softSums, masks, boxes] = narrowAll(outs.slice(1), kept) as [Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor];
  if (withMasks) return { afterAreaFilter: counts[0]!, kept, order, scores, labels, areas, softSums, masks, boxes };
  masks.dispose();
  return { afterAreaFilter: counts[0]!, kept, order, scores, labels, areas, softSums, boxes };
}
