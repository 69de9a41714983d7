import { SotrRangeError, SotrTypeError } from '../errors';
import { BitMasks, DeviceBitMasks } from '../masks/bitmasks';
import type { Tensor } from '../tensor';
import { checkTensor, runOp, type OpOptions } from './run';
import { checkOptions, keysOf } from '../options';

/** Options of dynamicConv(). */
export interface DynamicConvOptions extends OpOptions {
  /** Apply the sigmoid (default true); false returns the logits. */
  sigmoid?: boolean | undefined;
}

/** Options of dynamicConvMasks(). */
export interface DynamicConvMasksOptions extends OpOptions {
  /** A pixel is set where sigmoid(logit) > threshold (default 0.5, in [0, 1]). */
  threshold?: number | undefined;
  /**
   * Return a DeviceBitMasks holding the result tensors on the features'
   * device (to chain into matrixNms without a copy) instead of a host BitMasks.
   */
  keepOnDevice?: boolean | undefined;
}

const DYNAMIC_CONV_OPTION_KEYS = keysOf<DynamicConvOptions>()('precision', 'signal', 'sigmoid');
const DYNAMIC_CONV_MASKS_OPTION_KEYS = keysOf<DynamicConvMasksOptions>()('precision', 'signal', 'threshold', 'keepOnDevice');

/**
 * Dynamic convolution (SOTR's mask generation): per-instance kernels applied
 * to one feature map. features float32 [C, H, W]; kernels float32 [N, C]
 * (1x1, as SOTR uses) or [N, C, k, k] (odd k, zero padding k/2). Returns
 * float32 [N, H, W] = sigmoid(conv) (or the logits with sigmoid: false).
 */
export async function dynamicConv(features: Tensor, kernels: Tensor, options: DynamicConvOptions = {}): Promise<Tensor> {
  checkOptions('dynamicConv', options, DYNAMIC_CONV_OPTION_KEYS);
  checkTensor('dynamicConv', 'features', features);
  checkTensor('dynamicConv', 'kernels', kernels);
  if (options.sigmoid !== undefined && typeof options.sigmoid !== 'boolean') {
    throw new SotrTypeError(`dynamicConv: options.sigmoid must be a boolean, received ${typeof options.sigmoid}`);
  }
  const [out] = await runOp('dynamic_conv', [features, kernels], { sigmoid: options.sigmoid }, options);
  return out;
}

/**
 * The fused post-processing form of dynamicConv: binary masks
 * sigmoid(logit) > threshold, bit-packed, with areas, soft sums (sum of the
 * sigmoid inside each mask) and boxes, without materializing float masks.
 */
export function dynamicConvMasks(
  features: Tensor,
  kernels: Tensor,
  options?: DynamicConvMasksOptions & { keepOnDevice?: false },
): Promise<BitMasks>;
export function dynamicConvMasks(
  features: Tensor,
  kernels: Tensor,
  options: DynamicConvMasksOptions & { keepOnDevice: true },
): Promise<DeviceBitMasks>;
export function dynamicConvMasks(features: Tensor, kernels: Tensor, options?: DynamicConvMasksOptions): Promise<BitMasks | DeviceBitMasks>;
export async function dynamicConvMasks(
  features: Tensor,
  kernels: Tensor,
  options: DynamicConvMasksOptions = {},
): Promise<BitMasks | DeviceBitMasks> {
  checkOptions('dynamicConvMasks', options, DYNAMIC_CONV_MASKS_OPTION_KEYS);
  checkTensor('dynamicConvMasks', 'features', features);
  checkTensor('dynamicConvMasks', 'kernels', kernels);
  const t = options.threshold;
  if (t !== undefined) {
    if (typeof t !== 'number') throw new SotrTypeError(`dynamicConvMasks: options.threshold must be a number, received ${typeof t}`);
    if (!(t >= 0 && t <= 1)) throw new SotrRangeError(`dynamicConvMasks: options.threshold must be in [0, 1], received ${t}`);
  }
  if (options.keepOnDevice !== undefined && typeof options.keepOnDevice !== 'boolean') {
    throw new SotrTypeError('dynamicConvMasks: options.keepOnDevice must be a boolean');
  }
  const [bits, areas, softSums, boxes] = await runOp('dynamic_conv_masks', [features, kernels], { threshold: t }, options);
  const width = features.shape[2];
  const dev = new DeviceBitMasks(width, bits, areas, softSums, boxes);
  if (options.keepOnDevice) return dev;
  try {
    return await dev.toHost();
  } finally {
    dev.dispose();
  }
}
