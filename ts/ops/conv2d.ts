import type { Tensor } from '../tensor';
import { checkTensor, runOp, type OpOptions } from './run';
import { checkOptions, keysOf } from '../options';

/** A size given for both spatial axes, or as [h, w]. */
export type Pair = number | readonly [number, number];

/** The activation conv2d fuses into its epilogue (default 'none'). */
export type ConvActivation = 'none' | 'relu' | 'leakyRelu' | 'sigmoid';

/** Options of conv2d(): geometry, the fused epilogue's terms and the CPU algorithm. */
export interface Conv2dOptions extends OpOptions {
  /** [O]: added per output channel. */
  bias?: Tensor | undefined;
  /** Default 1. */
  stride?: Pair | undefined;
  /** Zero padding on each side, default 0. */
  padding?: Pair | undefined;
  /** Default 1. */
  dilation?: Pair | undefined;
  /** Default 1. */
  groups?: number | undefined;
  /** [O]: multiplies per output channel after the bias (FrozenBN folded: weight / sqrt(var + eps)). */
  scale?: Tensor | undefined;
  /** [O]: added per output channel after the scale (FrozenBN folded: bias - mean * scale). */
  shift?: Tensor | undefined;
  /** [N, O, Ho, Wo]: added after scale/shift and alpha, before the activation (ResNet shortcut). */
  residual?: Tensor | undefined;
  /** Multiplies the convolution result (after bias/scale/shift), default 1 (e.g. a ReZero gate g). */
  alpha?: number | undefined;
  /** Multiplies the residual, default 1. */
  beta?: number | undefined;
  activation?: ConvActivation | undefined;
  /** LeakyReLU slope (default 0.01). */
  negativeSlope?: number | undefined;
  /**
   * CPU algorithm: 'auto' (default: Winograd for 3x3 stride-1 dilation-1 ungrouped convs with >= 16 input and output
   * channels, else im2col + GEMM), 'direct' (always im2col + GEMM: the smallest rounding error), 'winograd' (the
   * Winograd tile 'auto' would pick), 'winograd2' (F(2x2, 3x3): 4 multiplies per output, NMSE ~1e-14) or 'winograd4'
   * (F(4x4, 3x3): 2.25 multiplies per output, ~10x the rounding error of F(2x2)); the Winograd choices are a
   * SotrRangeError where they do not apply. SOTR_CONV_WINOGRAD=0 makes 'auto' mean 'direct';
   * SOTR_CONV_WINOGRAD4=0 makes 'auto' and 'winograd' use F(2x2, 3x3) only. CUDA runs its implicit GEMM for every
   * value except 'winograd2' (its Winograd F(2x2, 3x3) kernels, opt-in), and 'auto' too where Winograd applies when
   * SOTR_CUDA_CONV_WINOGRAD=1.
   */
  algorithm?: 'auto' | 'direct' | 'winograd' | 'winograd2' | 'winograd4' | undefined;
}

/** @internal Plain-object attributes of the conv-like ops. */
export function convAttrs(o: Conv2dOptions): Record<string, number | number[] | string | undefined> {
  const pair = (v: Pair | undefined) => (v === undefined ? undefined : typeof v === 'number' ? v : [...v]);
  return {
    stride: pair(o.stride),
    padding: pair(o.padding),
    dilation: pair(o.dilation),
    groups: o.groups,
    activation: o.activation,
    negativeSlope: o.negativeSlope,
    alpha: o.alpha,
    beta: o.beta,
  };
}

/** Every conv2d option (deformConv2d takes these less `algorithm`, plus `deformGroups`). */
export const CONV2D_OPTION_KEYS = keysOf<Conv2dOptions>()(
  'precision',
  'signal',
  'bias',
  'stride',
  'padding',
  'dilation',
  'groups',
  'scale',
  'shift',
  'residual',
  'alpha',
  'beta',
  'activation',
  'negativeSlope',
  'algorithm',
);

/**
 * 2-D convolution, NCHW (torch.nn.functional.conv2d semantics) with a fused
 * epilogue: out = act(alpha * ((conv(x, weight) + bias) * scale + shift) + beta * residual).
 * `x` [N, C, H, W], `weight` [O, C/groups, kh, kw]; returns [N, O, Ho, Wo].
 * The CPU packs each weight once and reuses it while the weight tensor lives.
 */
export async function conv2d(x: Tensor, weight: Tensor, options: Conv2dOptions = {}): Promise<Tensor> {
  checkOptions('conv2d', options, CONV2D_OPTION_KEYS);
  checkTensor('conv2d', 'x', x);
  checkTensor('conv2d', 'weight', weight);
  const o = options ?? {};
  const bias = checkTensor('conv2d', 'options.bias', o.bias, true);
  const scale = checkTensor('conv2d', 'options.scale', o.scale, true);
  const shift = checkTensor('conv2d', 'options.shift', o.shift, true);
  const residual = checkTensor('conv2d', 'options.residual', o.residual, true);
  const attrs = convAttrs(o);
  if (o.algorithm !== undefined) attrs.algorithm = o.algorithm;
  const [out] = await runOp('conv2d', [x, weight, bias, scale, shift, residual], attrs, o);
  return out;
}
