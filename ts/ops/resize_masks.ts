import type { Tensor } from '../tensor';
import { SotrTypeError } from '../errors';
import { packedMask, wordWindowOfBox, type Mask, type MaskBox } from '../masks/mask';
import { checkTensor, runOp, type OpOptions } from './run';
import { maskRleStrings } from './mask_rle';
import { cropMasks, windowInt32s } from './mask_windows';
import { maskContoursOf, type Contour, type ContourOptions } from './mask_contours';
import { checkOptions, keysOf } from '../options';

/** Options of resizeMasks(): the upsampling ratio, the crop, the original image size and the threshold. */
export interface ResizeMasksOptions extends OpOptions {
  /** Upsampling factor of the first resize (SOTR: ceil(resized height / mask-feature height)). */
  ratio: number;
  /** [h, w] kept after the first resize (the resized image before padding). */
  crop: readonly [number, number];
  /** [H0, W0]: the original image size. */
  size: readonly [number, number];
  /** A pixel is in the mask when the resized value is above this (default 0.5). */
  threshold?: number | undefined;
}

/** Options of resizeMasksToList(): resizeMasks' options and `rle`. */
export interface ResizeMasksToListOptions extends ResizeMasksOptions {
  /** Also encodes each mask as COCO RLE natively (maskRle), so the masks' toRLE() / toCocoRLE() return at once. */
  rle?: boolean | undefined;
}

/** @internal resizeMasksToInstances' options: also each mask's contours, traced natively (maskContours). */
export interface ResizeMasksToInstancesOptions extends ResizeMasksToListOptions {
  contours?: Pick<ContourOptions, 'mode' | 'approx'> | undefined;
}

const RESIZE_MASKS_KEYS = keysOf<ResizeMasksOptions>()('precision', 'signal', 'ratio', 'crop', 'size', 'threshold');
const RESIZE_MASKS_TO_LIST_KEYS = [...RESIZE_MASKS_KEYS, 'rle'];
const RESIZE_MASKS_TO_INSTANCES_KEYS = keysOf<ResizeMasksToInstancesOptions>()(
  'precision',
  'signal',
  'ratio',
  'crop',
  'size',
  'threshold',
  'rle',
  'contours',
);

// Both outputs of the op: the bits and, per mask, [area, x0, y0, x1, y1].
async function resizeMasksWithStats(soft: Tensor, options: ResizeMasksOptions): Promise<[Tensor, Tensor]> {
  checkTensor('resizeMasks', 'soft', soft);
  if (options === null || typeof options !== 'object') throw new SotrTypeError('resizeMasks: options { ratio, crop, size } are required');
  checkOptions('resizeMasks', options, RESIZE_MASKS_TO_INSTANCES_KEYS);
  const pair = (k: string, v: unknown): number[] => {
    if (!Array.isArray(v) || v.length !== 2) throw new SotrTypeError(`resizeMasks: ${k} must be [h, w]`);
    return [...(v as number[])];
  };
  const [bits, stats] = await runOp(
    'resizeMasks',
    [soft],
    { ratio: options.ratio, crop: pair('crop', options.crop), size: pair('size', options.size), threshold: options.threshold },
    options,
  );
  return [bits!, stats!];
}

/**
 * SOTR's last post-processing step for a batch of soft masks `soft` [n, fh, fw] (float32, CPU):
 * `F.interpolate(soft, (fh·ratio, fw·ratio), 'bilinear')[:, :, :h, :w]`, then `F.interpolate(·, (H0, W0), 'bilinear')
 * > threshold`, bit for bit as PyTorch computes it (float32, threshold compared in float32), on the CPU worker threads
 * (never on the JavaScript thread), only over the window of outputs that can exceed the threshold. Returns bit-packed
 * rows int32 [n, H0, words32PerRow(W0)]; `resizeMasksToList` gives `Mask` objects (their areas and boxes computed
 * natively as well).
 */
export async function resizeMasks(soft: Tensor, options: ResizeMasksOptions): Promise<Tensor> {
  if (options !== null && typeof options === 'object') checkOptions('resizeMasks', options, RESIZE_MASKS_KEYS);
  const [bits, stats] = await resizeMasksWithStats(soft, options);
  stats.dispose();
  return bits;
}

/** resizeMasks, returned as one `Mask` per input mask (each owns a copy of its rows). */
export async function resizeMasksToList(soft: Tensor, options: ResizeMasksToListOptions): Promise<Mask[]> {
  if (options !== null && typeof options === 'object') checkOptions('resizeMasksToList', options, RESIZE_MASKS_TO_LIST_KEYS);
  return (await resizeMasksToInstances(soft, options)).masks;
}

/**
 * @internal resizeMasksToList for predict: the masks, and with `contours` each mask's contours, traced from the same
 * host bits as the RLE (a GPU model's bits come to the host once for both).
 */
export async function resizeMasksToInstances(soft: Tensor, options: ResizeMasksToInstancesOptions): Promise<{ masks: Mask[]; contours?: Contour[][] }> {
  if (options?.rle !== undefined && typeof options.rle !== 'boolean') throw new SotrTypeError('resizeMasksToList: rle must be a boolean');
  const [t, st] = await resizeMasksWithStats(soft, options);
  let host: Tensor | undefined;
  let crops: Tensor | undefined;
  try {
    const [n, H0] = [t.shape[0]!, t.shape[1]!];
    const W0 = options.size[1];
    const sig = options.signal ? { signal: options.signal } : {};
    // A GPU model's bits come to the host once (one device-to-host copy), for the RLE, the contours and the masks.
    host = t.device !== 'cpu' ? await t.to('cpu') : t;
    const rle = options.rle ? await maskRleStrings(host, W0, sig) : undefined;
    const contours = options.contours ? await maskContoursOf(host, W0, { ...options.contours, ...sig }) : undefined;
    const s = (await st.data()) as Int32Array;
    const boxes = Array.from({ length: n }, (_, m): MaskBox => [s[m * 5 + 1]!, s[m * 5 + 2]!, s[m * 5 + 3]!, s[m * 5 + 4]!]);
    // Each mask keeps only its box's rows and 64-bit words (100 object masks of a 12-megapixel photo: 27 MB, not
    // 144 MB), in its own host buffer (so the GC frees the masks nobody keeps): cut out and copied on the worker
    // threads, not here.
    const windows = boxes.map(wordWindowOfBox);
    crops = await cropMasks(host, W0, windows, sig);
    let start = 0;
    const bits = await Promise.all(
      windows.map(async (w) => {
        const one = crops!.narrow(start, (start += windowInt32s(w)));
        try {
          return (await one.data()) as Int32Array;
        } finally {
          one.dispose();
        }
      }),
    );
    const masks: Mask[] = [];
    for (let m = 0; m < n; m++) {
      const r = bits[m]!;
      masks.push(packedMask(W0, H0, new Uint32Array(r.buffer, r.byteOffset, r.length), { area: s[m * 5]!, box: boxes[m]! }, rle?.[m], windows[m]));
    }
    return contours ? { masks, contours } : { masks };
  } finally {
    crops?.dispose();
    if (host && host !== t) host.dispose();
    t.dispose();
    st.dispose();
  }
}
