import type { Tensor } from '../tensor';
import { checkTensor, runOp, type OpOptions } from './run';
import { SotrTypeError } from '../errors';
import { checkOptions, keysOf } from '../options';

/** Options of groupNorm(): the affine weight and bias, eps and a fused activation. */
export interface GroupNormOptions extends OpOptions {
  /** [C] affine scale (gamma). */
  weight?: Tensor | undefined;
  /** [C] affine shift (beta). */
  bias?: Tensor | undefined;
  /** Default 1e-5. */
  eps?: number | undefined;
  /** Fused after the affine transform (the mask branch's GN + ReLU). */
  activation?: 'none' | 'relu' | 'leakyRelu' | undefined;
  negativeSlope?: number | undefined;
}

/**
 * torch.nn.functional.group_norm on [N, C, ...]: per sample, `groups`
 * contiguous channel groups normalised by their mean and biased variance.
 */
export async function groupNorm(x: Tensor, groups: number, options: GroupNormOptions = {}): Promise<Tensor> {
  checkOptions('groupNorm', options, keysOf<GroupNormOptions>()('precision', 'signal', 'weight', 'bias', 'eps', 'activation', 'negativeSlope'));
  checkTensor('groupNorm', 'x', x);
  if (typeof groups !== 'number') throw new SotrTypeError(`groupNorm: groups must be a number, received ${typeof groups}`);
  const o = options ?? {};
  const weight = checkTensor('groupNorm', 'options.weight', o.weight, true);
  const bias = checkTensor('groupNorm', 'options.bias', o.bias, true);
  const [out] = await runOp(
    'groupNorm',
    [x, weight, bias],
    { groups, eps: o.eps, activation: o.activation, negativeSlope: o.negativeSlope },
    o,
  );
  return out;
}
