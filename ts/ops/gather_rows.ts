import type { Tensor } from '../tensor';
import { DeviceMismatchError } from '../errors';
import { checkTensor, OP_OPTION_KEYS, runOp, type OpOptions } from './run';
import { checkOptions } from '../options';

/**
 * Rows of `src` picked by `index`: `out[i] = src[index[i]]` along dim 0 (rows are everything after dim 0, copied as
 * bytes; repeats allowed). `src`: int32, uint8 or float32, rank >= 1, on any device; `index`: int32 [m] on the CPU
 * whatever `src`'s device (every entry is checked there before anything is written: one outside [0, n) rejects with
 * a SotrRangeError naming it). Resolves with a [m, ...src.shape[1:]] tensor on `src`'s device (the caller disposes
 * it). On CUDA the op copies the m index entries to the device itself, on its stream.
 */
export async function gatherRows(src: Tensor, index: Tensor, options: OpOptions = {}): Promise<Tensor> {
  checkOptions('gatherRows', options, OP_OPTION_KEYS);
  checkTensor('gatherRows', 'src', src);
  checkTensor('gatherRows', 'index', index);
  if (index.device !== 'cpu') {
    throw new DeviceMismatchError(`gatherRows: index must be a CPU tensor (it is checked on the host), received one on ${index.device}`);
  }
  const [out] = await runOp('gatherRows', [src, index], {}, options);
  return out!;
}
