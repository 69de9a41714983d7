import type { Tensor } from '../tensor';
import { CONV2D_OPTION_KEYS, convAttrs, type Conv2dOptions } from './conv2d';
import { checkTensor, runOp } from './run';
import { checkOptions } from '../options';

/** Options of deformConv2d(): conv2d's options (less `algorithm`) and the deformable group count. */
export interface DeformConv2dOptions extends Omit<Conv2dOptions, 'algorithm'> {
  /** Deformable groups: input channels split into this many groups, each with its own offsets/mask (default 1). */
  deformGroups?: number | undefined;
}

/**
 * Modulated deformable convolution (DCNv2, detectron2's ModulatedDeformConv),
 * NCHW, with conv2d's fused epilogue (bias, scale/shift, alpha, residual, activation).
 * `offset` [N, 2·DG·kh·kw, Ho, Wo]: for deformable group g and tap t = i·kw + j,
 * channel (g·kh·kw + t)·2 is dy and the next is dx. `mask` [N, DG·kh·kw, Ho, Wo]
 * (already through the sigmoid) modulates each sample; null gives DCNv1.
 * Samples are bilinear with zeros outside the input.
 */
export async function deformConv2d(
  x: Tensor,
  offset: Tensor,
  mask: Tensor | null | undefined,
  weight: Tensor,
  options: DeformConv2dOptions = {},
): Promise<Tensor> {
  checkOptions('deformConv2d', options, [...CONV2D_OPTION_KEYS.filter((k) => k !== 'algorithm'), 'deformGroups']);
  checkTensor('deformConv2d', 'x', x);
  checkTensor('deformConv2d', 'offset', offset);
  const m = checkTensor('deformConv2d', 'mask', mask, true);
  checkTensor('deformConv2d', 'weight', weight);
  const o = options ?? {};
  const bias = checkTensor('deformConv2d', 'options.bias', o.bias, true);
  const scale = checkTensor('deformConv2d', 'options.scale', o.scale, true);
  const shift = checkTensor('deformConv2d', 'options.shift', o.shift, true);
  const residual = checkTensor('deformConv2d', 'options.residual', o.residual, true);
  const [out] = await runOp(
    'deformConv2d',
    [x, offset, m, weight, bias, scale, shift, residual],
    { ...convAttrs(o), deformGroups: o.deformGroups },
    o,
  );
  return out;
}
