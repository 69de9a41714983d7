/**
 * @internal The window ops (native/ops/mask_windows.cpp): a batch of bit-packed masks cut down to their windows
 * (cropMasks, what a `Mask` from `predict` keeps) and placed back into whole masks (placeMasks, for the native ops
 * that read whole masks: maskRle, maskContours). Both copy on the CPU worker threads, not on the JavaScript thread.
 */
import type { Tensor } from '../tensor';
import type { WordWindow } from '../masks/mask';
import { runOp, type OpOptions } from './run';

export function windowsAttr(windows: readonly WordWindow[]): number[] {
  return windows.flatMap((w) => [w.y, w.rows, w.word, w.words]);
}

/** Int32 words of each window's bits (rows of 2 * words). */
export function windowInt32s(w: WordWindow): number {
  return w.rows * 2 * w.words;
}

/** Masks int32 [n, H, words32PerRow(width)] (host) → their windows' bits, back to back, int32 [total]. */
export async function cropMasks(masks: Tensor, width: number, windows: readonly WordWindow[], options: OpOptions = {}): Promise<Tensor> {
  const [out] = await runOp('cropMasks', [masks], { width, windows: windowsAttr(windows) }, options);
  return out!;
}

/** The windows' bits int32 [total] (host) → masks int32 [n, height, words32PerRow(width)], zero outside the windows. */
export async function placeMasks(
  bits: Tensor,
  height: number,
  width: number,
  windows: readonly WordWindow[],
  options: OpOptions = {},
): Promise<Tensor> {
  const [out] = await runOp('placeMasks', [bits], { height, width, windows: windowsAttr(windows) }, options);
  return out!;
}
