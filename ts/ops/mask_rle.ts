import type { Tensor } from '../tensor';
import { Mask, storedRle } from '../masks/mask';
import { SotrTypeError } from '../errors';
import type { CocoRle } from '../masks/rle';
import { OP_OPTION_KEYS, type OpOptions } from './run';
import { forEachSizeGroup, runMaskResults } from './mask_groups';
import { turnTaker } from '../event_loop';
import { checkOptions } from '../options';

// Bytes a column a mask that the last call's strings took (with a quarter to spare).
let bytesPerColumn = 8;

/**
 * COCO compressed RLE strings (pycocotools' `counts`) of bit-packed masks int32 [n, H, words32PerRow(width)]
 * (resizeMasks' layout), computed natively on the CPU worker threads (maskRle, native/ops/mask_rle.cpp), never on
 * the JavaScript thread. The output buffer is sized from a guess and the op reruns at the exact size when the
 * strings need more (each mask's string is returned by the first run either way).
 */
export async function maskRleStrings(masks: Tensor, width: number, options: OpOptions = {}): Promise<string[]> {
  checkOptions('maskRleStrings', options, OP_OPTION_KEYS);
  const n = masks?.shape?.[0] ?? 0;
  // Roughly 8 bytes a column a mask (two runs a column of one to four characters each, as object masks have), or
  // what the last call needed when that was more (a model whose masks are noisy needs more every time: rerunning
  // the op each time would double its cost).
  const guess = Math.min(2 ** 31 - 1, Math.max(4096, Math.ceil(n * Math.max(8, bytesPerColumn) * width) + 64));
  const { offsets: off, data } = await runMaskResults('maskRle', masks, { width }, guess, options);
  if (n > 0 && width > 0) bytesPerColumn = (1.25 * off[n]!) / (n * width);
  const bytes = data as Uint8Array;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: string[] = new Array(n);
  // Turns for the event loop between strings: noise-like masks of a 12-megapixel image make ~30 MB of them.
  const yieldSometimes = turnTaker(4);
  for (let i = 0; i < n; i++) {
    out[i] = buf.toString('latin1', off[i]!, off[i + 1]!);
    await yieldSometimes();
  }
  return out;
}

/**
 * COCO RLE objects ({ size: [height, width], counts }) of several masks at once, encoded natively off the
 * JavaScript thread (what `Mask.toCocoRLE()` gives, which runs on the calling thread). Masks of different sizes are
 * encoded in one op call per size; masks from `predict` return the string encoded with the prediction.
 */
export async function masksToRLE(masks: readonly Mask[], options: OpOptions = {}): Promise<CocoRle[]> {
  checkOptions('masksToRLE', options, OP_OPTION_KEYS);
  if (!Array.isArray(masks)) throw new SotrTypeError('masksToRLE: expected an array of Mask');
  const out: CocoRle[] = new Array(masks.length);
  // Masks from predict carry their string already (its `rle` option, default true): only the others are encoded.
  const todo: number[] = [];
  masks.forEach((m, i) => {
    if (!(m instanceof Mask)) throw new SotrTypeError(`masksToRLE: masks[${i}] is not a Mask`);
    const counts = storedRle(m);
    if (counts !== undefined) out[i] = { size: [m.height, m.width], counts };
    else todo.push(i);
  });
  await forEachSizeGroup('masksToRLE', todo.map((i) => masks[i]!), async (t, idx, height, width) => {
    const strings = await maskRleStrings(t, width, options);
    idx.forEach((j, k) => {
      out[todo[j]!] = { size: [height, width], counts: strings[k]! };
    });
  });
  return out;
}
