/**
 * One image-sized map of a prediction's instances: each pixel holds the instance (or class) that covers it, the
 * format segmentation datasets and tools read (a PNG of ids, a numpy array), and the way to get, say, every person
 * as one mask. Where instances overlap, the first in the list wins: predictions list them by score, so the
 * highest-scored one.
 */
import { SotrRangeError, SotrTypeError } from '../errors';
import { turnClock } from '../event_loop';
import { checkOptions, shownValue } from '../options';
import { Mask, maskWindowBits } from './mask';

/** Options of labelMap(). */
export interface LabelMapOptions {
  /**
   * What a covered pixel holds: 'instance' (default), 1 + the instance's index in the list; 'label', 1 + its class
   * label (a semantic map). 0 is background either way.
   */
  by?: 'instance' | 'label' | undefined;
}

/** What labelMap() returns: row-major values, `width` × `height`. */
export interface LabelMap {
  width: number;
  height: number;
  /** 0: no instance; else 1 + the instance's index (`by: 'instance'`) or 1 + its label (`by: 'label'`). */
  data: Uint16Array;
}

/** The parts of a prediction labelMap() reads: its size and its instances' masks (and labels). */
export interface LabelMapSource {
  width: number;
  height: number;
  instances: ReadonlyArray<{ label: number; mask: Mask }>;
}

/**
 * The prediction's instances painted into one map (see LabelMapOptions): overlaps go to the instance listed first
 * (the highest-scored one, in a prediction). Reads each mask's window only, set bits only; yields to the event loop
 * between instances when a call runs long (a 12-megapixel photo full of objects). To write it as a one-channel PNG
 * (as `sotr predict --label-maps` does), 16-bit:
 * `sharp(map.data, { raw: { width, height, channels: 1 } }).toColourspace('grey16').png()` (sharp takes the depth
 * from the Uint16Array), or 8-bit when every value fits:
 * `sharp(Uint8Array.from(map.data), { raw: { width, height, channels: 1 } }).toColourspace('b-w').png()`.
 */
export async function labelMap(prediction: LabelMapSource, options: LabelMapOptions = {}): Promise<LabelMap> {
  checkOptions('labelMap', options, ['by']);
  const by = options.by ?? 'instance';
  if (by !== 'instance' && by !== 'label') throw new SotrRangeError(`labelMap: by must be 'instance' or 'label', received ${shownValue(by)}`);
  if (!prediction || typeof prediction !== 'object' || !Array.isArray(prediction.instances)) {
    throw new SotrTypeError('labelMap: expected a prediction { width, height, instances }');
  }
  const { width: W, height: H, instances } = prediction;
  if (!Number.isSafeInteger(W) || !Number.isSafeInteger(H) || W < 0 || H < 0) {
    throw new SotrRangeError(`labelMap: the prediction's width and height must be non-negative integers, received ${shownValue(W)} x ${shownValue(H)}`);
  }
  if (by === 'instance' && instances.length > 65535) throw new SotrRangeError(`labelMap: ${instances.length} instances do not fit 16-bit values (65535 at most)`);
  instances.forEach((inst, i) => {
    if (!inst || !(inst.mask instanceof Mask)) throw new SotrTypeError(`labelMap: instance ${i} has no Mask`);
    if (inst.mask.width !== W || inst.mask.height !== H) {
      throw new SotrRangeError(`labelMap: instance ${i}'s mask is ${inst.mask.width} x ${inst.mask.height}, the prediction ${W} x ${H}`);
    }
    if (by === 'label' && !(Number.isSafeInteger(inst.label) && inst.label >= 0 && inst.label < 65535)) {
      throw new SotrRangeError(`labelMap: instance ${i}'s label ${String(inst.label)} does not fit a 16-bit value`);
    }
  });
  let data: Uint16Array;
  try {
    data = new Uint16Array(W * H);
  } catch (e) {
    // Past V8's typed-array limit, or out of memory: the sizes named, not a bare RangeError.
    throw new SotrRangeError(`labelMap: a ${W} x ${H} map (${W * H} 16-bit values) cannot be allocated: ${(e as Error).message}`);
  }
  const clock = turnClock(8);
  for (let i = 0; i < instances.length; i++) {
    const { label, mask } = instances[i]!;
    const value = by === 'instance' ? i + 1 : label + 1;
    const { win, bits } = maskWindowBits(mask);
    const stride = 2 * win.words; // 32-bit words a window row
    const x0 = 64 * win.word;
    for (let r = 0; r < win.rows; r++) {
      // Checked a row at a time: one full-image mask of 48 megapixels is ~200 ms of painting.
      if (clock.due()) await clock.next();
      const row = (win.y + r) * W + x0;
      for (let k = 0; k < stride; k++) {
        let v = bits[r * stride + k]!;
        while (v) {
          const at = row + 32 * k + (31 - Math.clz32(v & -v));
          v &= v - 1;
          if (data[at] === 0) data[at] = value;
        }
      }
    }
  }
  return { width: W, height: H, data };
}
