import type { Tensor } from '../tensor';
import type { Pair } from './conv2d';
import { checkTensor, runOp, type OpOptions } from './run';
import { checkOptions, keysOf } from '../options';

/** Options of maxPool2d(), as torch's max_pool2d takes them (`kernelSize` required). */
export interface MaxPool2dOptions extends OpOptions {
  kernelSize: Pair;
  /** Default: kernelSize. */
  stride?: Pair | undefined;
  padding?: Pair | undefined;
  dilation?: Pair | undefined;
  ceilMode?: boolean | undefined;
}

/** Options of avgPool2d(), as torch's avg_pool2d takes them (`kernelSize` required). */
export interface AvgPool2dOptions extends OpOptions {
  kernelSize: Pair;
  /** Default: kernelSize. */
  stride?: Pair | undefined;
  padding?: Pair | undefined;
  ceilMode?: boolean | undefined;
  /** Count the zero padding in the divisor (default true, as torch). */
  countIncludePad?: boolean | undefined;
  divisorOverride?: number | undefined;
}

const pair = (v: Pair | undefined) => (v === undefined ? undefined : typeof v === 'number' ? v : [...v]);

/** torch.nn.functional.max_pool2d on NCHW (padding is -inf; NaN propagates). ResNet's stem: kernelSize 3, stride 2, padding 1. */
export async function maxPool2d(x: Tensor, options: MaxPool2dOptions): Promise<Tensor> {
  if (options != null) checkOptions('maxPool2d', options, keysOf<MaxPool2dOptions>()('precision', 'signal', 'kernelSize', 'stride', 'padding', 'dilation', 'ceilMode'));
  checkTensor('maxPool2d', 'x', x);
  const o = options ?? ({} as MaxPool2dOptions);
  const [out] = await runOp(
    'maxPool2d',
    [x],
    { kernelSize: pair(o.kernelSize), stride: pair(o.stride), padding: pair(o.padding), dilation: pair(o.dilation), ceilMode: o.ceilMode },
    o,
  );
  return out;
}

/** torch.nn.functional.avg_pool2d on NCHW (2x2 / stride 2 averages P2 for the instance branch). */
export async function avgPool2d(x: Tensor, options: AvgPool2dOptions): Promise<Tensor> {
  if (options != null) checkOptions('avgPool2d', options, keysOf<AvgPool2dOptions>()('precision', 'signal', 'kernelSize', 'stride', 'padding', 'ceilMode', 'countIncludePad', 'divisorOverride'));
  checkTensor('avgPool2d', 'x', x);
  const o = options ?? ({} as AvgPool2dOptions);
  const [out] = await runOp(
    'avgPool2d',
    [x],
    {
      kernelSize: pair(o.kernelSize),
      stride: pair(o.stride),
      padding: pair(o.padding),
      ceilMode: o.ceilMode,
      countIncludePad: o.countIncludePad,
      divisorOverride: o.divisorOverride,
    },
    o,
  );
  return out;
}
