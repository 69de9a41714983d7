/**
 * What the host ops over bit-packed masks share on this side (maskRle, maskContours; native/ops/packed_masks.h):
 * masks of several sizes in as few op calls as possible, and the op's output protocol (offsets, then one result a
 * mask in a buffer sized from a guess, the op run again at the exact size when the results need more).
 */
import { Tensor, type TensorData } from '../tensor';
import { checkTensor, runOp, type OpOptions } from './run';
import { SotrRangeError, SotrTypeError } from '../errors';
import { Mask, maskWindowBits, words32PerRow, type WordWindow } from '../masks/mask';
import { placeMasks } from './mask_windows';

/**
 * @internal Runs `fn` once per size among `masks`, with their bits stacked into a host tensor int32
 * [count, height, words32PerRow(width)] (disposed after) and their indices in `masks`. The stacking copies run on
 * the CPU thread (100 masks of a 12-megapixel image are 150 MB); `masks` holds their buffers meanwhile. Masks that
 * keep only a window (predict's) are placed into whole masks there too (placeMasks), or, with `takesWindows`, `fn`
 * gets the windows' bits int32 [total] and the windows (cropMasks' layout) for an op that reads them (maskContours).
 */
export async function forEachSizeGroup(
  name: string,
  masks: readonly Mask[],
  fn: (t: Tensor, idx: number[], height: number, width: number, windows?: WordWindow[]) => Promise<void>,
  takesWindows = false,
): Promise<void> {
  if (!Array.isArray(masks)) throw new SotrTypeError(`${name}: expected an array of Mask`);
  const bySize = new Map<string, number[]>();
  masks.forEach((m, i) => {
    if (!(m instanceof Mask)) throw new SotrTypeError(`${name}: masks[${i}] is not a Mask`);
    const key = `${m.height}x${m.width}`;
    const list = bySize.get(key);
    if (list) list.push(i);
    else bySize.set(key, [i]);
  });
  for (const idx of bySize.values()) {
    const { width, height } = masks[idx[0]!]!;
    const per = words32PerRow(width) * height;
    if (idx.length * per > 2 ** 31 - 1) throw new SotrRangeError(`${name}: more than 2^31 words of masks of one size in one call`);
    const held = idx.map((i) => maskWindowBits(masks[i]!));
    const parts = held.map(({ bits }) => new Int32Array(bits.buffer, bits.byteOffset, bits.length));
    let t: Tensor;
    if (held.every(({ bits }) => bits.length === per)) {
      // Whole masks: stacked as they are.
      t = await Tensor.fromParts(parts, [idx.length, height, words32PerRow(width)], 'int32');
    } else {
      // Masks that keep a window (predict's): their windows stacked, then placed into whole masks (placeMasks).
      const total = parts.reduce((a, p) => a + p.length, 0);
      if (total > 2 ** 31 - 1) throw new SotrRangeError(`${name}: more than 2^31 words of mask windows in one call`);
      const windows = await Tensor.fromParts(parts, [total], 'int32');
      if (takesWindows) {
        // The op reads the windows itself (maskContours): no whole masks made at all.
        try {
          await fn(windows, idx, height, width, held.map(({ win }) => win));
        } finally {
          windows.dispose();
        }
        continue;
      }
      try {
        t = await placeMasks(windows, height, width, held.map(({ win }) => win));
      } finally {
        windows.dispose();
      }
    }
    try {
      await fn(t, idx, height, width);
    } finally {
      t.dispose();
    }
  }
}

/**
 * @internal Runs `op` on the packed masks int32 [n, H, words32PerRow(width)] with a first output buffer of
 * `capacity` elements; when the results need more, once again at their exact size. Returns the host copies of the
 * offsets (mask i's result is data[offsets[i], offsets[i + 1])) and of the data.
 */
export async function runMaskResults(
  op: string,
  masks: Tensor,
  attrs: Record<string, unknown>,
  capacity: number,
  options: OpOptions = {},
): Promise<{ offsets: Int32Array; data: TensorData }> {
  checkTensor(op, 'masks', masks);
  if (masks.device !== 'cpu') throw new SotrTypeError(`${op}: masks must be on the CPU, received a tensor on ${masks.device}`);
  // Whole masks [n, H, words], or windows' bits with 4 numbers a mask in attrs.windows.
  const n = Array.isArray(attrs.windows) ? attrs.windows.length / 4 : (masks.shape[0] ?? 0);
  for (;;) {
    const [offsets, data] = await runOp(op, [masks], { ...attrs, capacity }, options);
    try {
      const off = (await offsets!.data()) as Int32Array;
      if (off[n]! > capacity) {
        capacity = off[n]!;
        continue;
      }
      return { offsets: off, data: await data!.data() };
    } finally {
      offsets!.dispose();
      data!.dispose();
    }
  }
}
