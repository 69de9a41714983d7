import { SotrRangeError, SotrTypeError } from '../errors';
import type { Tensor } from '../tensor';
import { checkTensor, runOp, type OpOptions } from './run';
import { checkOptions, keysOf, shownValue } from '../options';

/** Weights of one multi-head self-attention (torch nn.Linear layout: y = x·Wᵀ + b). */
export interface MhaWeights {
  /** to_q, [C, C]. */
  q: Tensor;
  /** to_kv, [2C, C]: rows 0..C-1 give K, rows C..2C-1 give V. */
  kv: Tensor;
  /** to_out weight, [C, C]. */
  out: Tensor;
  /** to_out bias, [C]. */
  outBias: Tensor;
}

/** Weights of one twin-attention sub-layer: column and row MHA and their ReZero gates. */
export interface TwinAttentionWeights {
  col: MhaWeights;
  row: MhaWeights;
  gCol: number;
  gRow: number;
}

/** How twinAttention combines its column and row attention (see TwinAttentionOptions.mode). */
export type TwinAttentionMode = 'parallel' | 'sequential';

/** Options of twinAttention(). */
export interface TwinAttentionOptions extends OpOptions {
  /** Attention heads; C must be divisible by it (default 8, SOTR's value). */
  heads?: number | undefined;
  /**
   * 'parallel' (default, the released code): y = x + gCol·ColMHA(x) + gRow·RowMHA(x).
   * 'sequential' (the paper's text): t = x + gCol·ColMHA(x), y = t + gRow·RowMHA(t).
   */
  mode?: TwinAttentionMode | undefined;
}

const OP = 'twinAttention';

function checkGate(name: string, g: unknown): number {
  if (typeof g !== 'number') throw new SotrTypeError(`${OP}: ${name} must be a number, received ${typeof g}`);
  if (!Number.isFinite(g)) throw new SotrRangeError(`${OP}: ${name} must be finite, received ${g}`);
  return g;
}

function attentionTensors(dir: 'col' | 'row', w: unknown): Tensor[] {
  if (typeof w !== 'object' || w === null) throw new SotrTypeError(`${OP}: weights.${dir} must be an object { q, kv, out, outBias }`);
  const a = w as Partial<MhaWeights>;
  return [
    checkTensor(OP, `weights.${dir}.q`, a.q) as Tensor,
    checkTensor(OP, `weights.${dir}.kv`, a.kv) as Tensor,
    checkTensor(OP, `weights.${dir}.out`, a.out) as Tensor,
    checkTensor(OP, `weights.${dir}.outBias`, a.outBias) as Tensor,
  ];
}

/**
 * One twin-attention sub-layer of SOTR's transformer on x [B, C, H, W] (float32):
 * multi-head self-attention along the columns (each column a sequence of H tokens)
 * and along the rows (each row a sequence of W tokens), gated and added to x
 * (see `mode`). Heads split channels as c = head·(C/heads) + e, scale 1/√(C/heads).
 *
 * Weight tensors are reused across calls: their concatenated / packed forms are
 * cached per weight set (keyed by the tensors' storage, see docs/twin-attention.md),
 * so keep passing the same tensors rather than fresh copies.
 */
export async function twinAttention(x: Tensor, weights: TwinAttentionWeights, options: TwinAttentionOptions = {}): Promise<Tensor> {
  checkOptions(OP, options, keysOf<TwinAttentionOptions>()('precision', 'signal', 'heads', 'mode'));
  checkTensor(OP, 'x', x);
  if (typeof weights !== 'object' || weights === null) throw new SotrTypeError(`${OP}: weights must be an object { col, row, gCol, gRow }`);
  const col = attentionTensors('col', weights.col);
  const row = attentionTensors('row', weights.row);
  const gCol = checkGate('weights.gCol', weights.gCol);
  const gRow = checkGate('weights.gRow', weights.gRow);
  const heads = options.heads ?? 8;
  if (typeof heads !== 'number') throw new SotrTypeError(`${OP}: options.heads must be a number, received ${typeof heads}`);
  if (!Number.isSafeInteger(heads) || heads < 1) throw new SotrRangeError(`${OP}: options.heads must be a positive integer, received ${heads}`);
  const mode = options.mode ?? 'parallel';
  if (mode !== 'parallel' && mode !== 'sequential') {
    throw new SotrRangeError(`${OP}: options.mode must be 'parallel' or 'sequential', received ${shownValue(mode)}`);
  }
  const [out] = await runOp(OP, [x, ...col, ...row], { heads, mode, gCol, gRow }, options);
  return out;
}
