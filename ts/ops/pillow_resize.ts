import type { Tensor } from '../tensor';
import { checkTensor, runOp, type OpOptions } from './run';
import { SotrTypeError } from '../errors';
import { checkOptions, keysOf } from '../options';

/** Options of pillowResize(): the output size, and optionally normalisation, padding and BGR conversion. */
export interface PillowResizeOptions extends OpOptions {
  /** Output [height, width]. */
  size: readonly [number, number];
  /**
   * With `std`: return the network input instead of pixels: float32 [1, C, Hp, Wp] holding
   * (v − mean[c]) / std[c] computed in float32, zero padded. One number per channel.
   */
  mean?: readonly number[] | undefined;
  std?: readonly number[] | undefined;
  /** With mean/std: pad the height and width with zeros up to a multiple of this (default 1). */
  padMultiple?: number | undefined;
  /**
   * Convert to 3-channel BGR (the output, and mean/std, then have 3 channels) from pixels whose colour channels are
   * in this order: C = 1 or 2 grey (+ alpha) replicated, C = 3 reordered, C = 4 alpha dropped (Pillow's
   * convert('RGB'), then detectron2's BGR). Channels are resampled independently, so this equals converting first.
   */
  toBgr?: 'rgb' | 'bgr' | undefined;
}

/**
 * Pillow's `Image.resize((w, h), Image.BILINEAR)` on 8-bit pixels, bit for bit (Pillow's antialiased separable
 * resample: 22-bit fixed-point taps, horizontal pass then vertical, uint8 in between). `x`: uint8 [H, W, C] on the
 * CPU, C 1..4, channels resampled independently (Pillow's L, RGB, RGBX modes; Pillow premultiplies RGBA/LA alpha,
 * this op does not). Returns uint8 [h, w, C], or with `mean` and `std` the normalised, padded float32
 * [1, C, Hp, Wp]. Host preprocessing: it runs on the CPU queue (the thread pool, never the JS thread) and has no
 * CUDA kernel; move the result with `tensor.to(device)`.
 */
export async function pillowResize(x: Tensor, options: PillowResizeOptions): Promise<Tensor> {
  if (options !== null && typeof options === 'object') checkOptions('pillowResize', options, keysOf<PillowResizeOptions>()('precision', 'signal', 'size', 'mean', 'std', 'padMultiple', 'toBgr'));
  checkTensor('pillowResize', 'x', x);
  if (options === null || typeof options !== 'object') throw new SotrTypeError('pillowResize: options { size: [h, w] } are required');
  const list = (k: string, v: readonly number[] | undefined): number[] | undefined => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) throw new SotrTypeError(`pillowResize: ${k} must be an array of numbers`);
    return [...v];
  };
  const [out] = await runOp(
    'pillowResize',
    [x],
    {
      size: list('size', options.size),
      mean: list('mean', options.mean),
      std: list('std', options.std),
      padMultiple: options.padMultiple,
      toBgr: options.toBgr,
    },
    options,
  );
  return out;
}
