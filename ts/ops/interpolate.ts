import type { Tensor } from '../tensor';
import { checkTensor, OP_OPTION_KEYS, runOp, type OpOptions } from './run';
import { SotrTypeError } from '../errors';
import { checkOptions, keysOf } from '../options';

/** Interpolation of interpolate(): 'bilinear' (default) or 'nearest', as torch computes them. */
export type InterpolateMode = 'bilinear' | 'nearest';

/** Options of interpolate(): the output size (`size` or `scaleFactor`), the mode and alignCorners. */
export interface InterpolateOptions extends OpOptions {
  /** Output [h, w] (or one number for both). Exactly one of size / scaleFactor. */
  size?: number | readonly [number, number] | undefined;
  /** Output = floor(input * scaleFactor); the interpolation uses 1 / scaleFactor as torch does. */
  scaleFactor?: number | readonly [number, number] | undefined;
  /** Alias of scaleFactor. */
  scale?: number | readonly [number, number] | undefined;
  /** Default 'bilinear'. */
  mode?: InterpolateMode | undefined;
  /** Bilinear only; default false (SOTR uses false everywhere). */
  alignCorners?: boolean | undefined;
}

const INTERPOLATE_OPTION_KEYS = keysOf<InterpolateOptions>()('precision', 'signal', 'size', 'scaleFactor', 'scale', 'mode', 'alignCorners');

/**
 * torch.nn.functional.interpolate on NCHW, 'bilinear' (align_corners=False by
 * default) or 'nearest', reproducing PyTorch's float32 index math bit for bit
 * (the size and scale_factor paths differ in torch and both are reproduced).
 * Call as interpolate(x, { size | scaleFactor, mode }) or interpolate(x, [h, w], mode, options).
 */
export async function interpolate(x: Tensor, options: InterpolateOptions): Promise<Tensor>;
export async function interpolate(
  x: Tensor,
  size: number | readonly [number, number],
  mode?: InterpolateMode,
  options?: OpOptions & { alignCorners?: boolean },
): Promise<Tensor>;
export async function interpolate(
  x: Tensor,
  a: InterpolateOptions | number | readonly [number, number],
  mode?: InterpolateMode,
  options?: OpOptions & { alignCorners?: boolean },
): Promise<Tensor> {
  checkTensor('interpolate', 'x', x);
  let o: InterpolateOptions;
  if (typeof a === 'number' || Array.isArray(a)) {
    checkOptions('interpolate', options, [...OP_OPTION_KEYS, 'alignCorners']);
    o = { ...(options ?? {}), size: a as number | [number, number], mode };
  } else if (a && typeof a === 'object') {
    checkOptions('interpolate', a, INTERPOLATE_OPTION_KEYS);
    o = a as InterpolateOptions;
  }
  else throw new SotrTypeError('interpolate: expected options { size | scaleFactor, mode } or a size [h, w]');
  const list = (v: number | readonly [number, number] | undefined) => (v === undefined ? undefined : typeof v === 'number' ? v : [...v]);
  const [out] = await runOp(
    'interpolate',
    [x],
    { size: list(o.size), scaleFactor: list(o.scaleFactor ?? o.scale), mode: o.mode, alignCorners: o.alignCorners },
    o,
  );
  return out;
}
