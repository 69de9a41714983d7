import type { Tensor } from '../tensor';
import { SotrRangeError, SotrTypeError } from '../errors';
import { checkTensor, runOp, type OpOptions } from './run';
import { checkOptions, keysOf, shownValue } from '../options';

/** Options of selectCandidates(): the score threshold and each level's stride (both required). */
export interface SelectCandidatesOptions extends OpOptions {
  /** A (cell, class) pair is a candidate when its probability after point NMS is above this. */
  threshold: number;
  /** One number per level: each candidate's minimum mask area (SOTR: the level's instance stride). */
  strides: readonly number[];
  /**
   * Only these class indices give candidates, as if every other class's logits were -inf (point NMS runs per class,
   * so the candidates of the classes kept are the same as without the option). Default: every class.
   */
  classes?: readonly number[] | undefined;
}

/** The candidates, in row-major (cell, class) order: CPU tensors of `count` entries (the caller disposes them). */
export interface CandidateTensors {
  count: number;
  /** int32 [count]: the global cell index (levels concatenated). */
  cells: Tensor;
  /** int32 [count]: the class. */
  labels: Tensor;
  /** float32 [count]: the probability. */
  scores: Tensor;
  /** float32 [count]: the minimum mask area (the level's stride). */
  strides: Tensor;
  /** How many distinct cells the candidates have (a cell with several classes above the threshold counts once). */
  distinct: number;
  /** int32 [distinct]: those cells, ascending. Each one's mask is computed once for all its candidates. */
  distinctCells: Tensor;
  /** int32 [count]: each candidate's row in `distinctCells`. */
  rows: Tensor;
}

/** Narrows capacity-sized outputs to their first `count` rows (views) and frees the rest. */
export function narrowAll(outs: Tensor[], count: number): Tensor[] {
  try {
    return outs.map((t) => t.narrow(0, count));
  } finally {
    for (const t of outs) t.dispose();
  }
}

/**
 * SOTR post-processing steps 1 and 3 on the CPU worker threads (never the JavaScript thread): per level the class
 * probabilities sigmoid(logit) in float32 (PyTorch's rounding), point NMS (a 2×2 max pool: a cell is kept where it
 * equals the maximum of itself and its top, top-left and left neighbours), then the (cell, class) pairs above
 * `threshold`, in row-major (cell, class) order, with their distinct cells (`distinctCells`, `rows`). `cate`: the class logits of each level, float32 [1, C, N, N] or
 * [C, N, N] on the CPU (1..8 levels).
 */
export async function selectCandidates(cate: readonly Tensor[], options: SelectCandidatesOptions): Promise<CandidateTensors> {
  checkOptions('selectCandidates', options, keysOf<SelectCandidatesOptions>()('precision', 'signal', 'threshold', 'strides', 'classes'));
  if (!Array.isArray(cate) || cate.length === 0) throw new SotrTypeError('selectCandidates: cate must be a non-empty array of Tensors');
  cate.forEach((t, i) => checkTensor('selectCandidates', `cate[${i}]`, t));
  if (options === null || typeof options !== 'object') throw new SotrTypeError('selectCandidates: options { threshold, strides } are required');
  const { threshold, strides } = options;
  if (typeof threshold !== 'number' || Number.isNaN(threshold)) throw new SotrRangeError(`selectCandidates: threshold must be a number, received ${shownValue(threshold)}`);
  if (!Array.isArray(strides)) throw new SotrTypeError('selectCandidates: strides must be an array of numbers (one per level)');
  const { classes } = options;
  if (classes !== undefined && (!Array.isArray(classes) || !classes.every((c) => Number.isSafeInteger(c) && c >= 0))) {
    throw new SotrTypeError(`selectCandidates: classes must be an array of class indices (non-negative integers), received ${shownValue(classes)}`);
  }
  const attrs = { threshold, strides: [...strides], ...(classes !== undefined ? { classes: [...classes] } : {}) };
  const outs = await runOp('selectCandidates', [...cate], attrs, options);
  let counts: Int32Array;
  try {
    counts = (await outs[0]!.data()) as Int32Array;
  } catch (e) {
    for (const t of outs) t.dispose();
    throw e;
  }
  outs[0]!.dispose();
  const [count, distinct] = [counts[0]!, counts[1]!];
  const [distinctCells] = narrowAll(outs.slice(6), distinct) as [Tensor];
  const [cells, labels, scores, st, rows] = narrowAll(outs.slice(1, 6), count) as [Tensor, Tensor, Tensor, Tensor, Tensor];
  return { count, cells, labels, scores, strides: st, distinct, distinctCells, rows };
}
