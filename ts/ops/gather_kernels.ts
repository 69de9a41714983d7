import type { Tensor } from '../tensor';
import { SotrTypeError } from '../errors';
import { checkTensor, OP_OPTION_KEYS, runOp, type OpOptions } from './run';
import { checkOptions } from '../options';

/**
 * The dynamic kernels of the candidates, on the CPU worker threads: row i of the float32 [n, D] result holds the
 * D values of the level maps at global cell `cells[i]` (levels concatenated, as selectCandidates numbers them).
 * `cells`: int32 [n] on the CPU; `kernels`: float32 [1, D, N, N] or [D, N, N] per level on the CPU. A cell out of
 * range rejects with a SotrRangeError.
 */
export async function gatherKernels(cells: Tensor, kernels: readonly Tensor[], options: OpOptions = {}): Promise<Tensor> {
  checkOptions('gatherKernels', options, OP_OPTION_KEYS);
  checkTensor('gatherKernels', 'cells', cells);
  if (!Array.isArray(kernels) || kernels.length === 0) throw new SotrTypeError('gatherKernels: kernels must be a non-empty array of Tensors');
  kernels.forEach((t, i) => checkTensor('gatherKernels', `kernels[${i}]`, t));
  const [out] = await runOp('gatherKernels', [cells, ...kernels], {}, options);
  return out!;
}
