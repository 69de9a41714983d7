import type { Tensor } from '../tensor';
import { checkTensor, runOp, type OpOptions } from './run';
import { checkOptions, keysOf } from '../options';

export type Activation = 'none' | 'relu' | 'leakyRelu' | 'sigmoid';

export interface MatmulOptions extends OpOptions {
  transA?: boolean;
  transB?: boolean;
  /** Added per output column before `alpha` and the activation. */
  bias?: Tensor;
  alpha?: number;
  activation?: Activation;
  negativeSlope?: number;
}

/**
 * C = act(alpha * (op(A)·op(B) + bias)) on the shared GEMM core. `a` is
 * [M, K] or [B, M, K], `b` [K, N] or [B, K, N] (a rank-2 operand is broadcast
 * over the batch); with transA/transB the stored operand is transposed.
 */
const MATMUL_OPTION_KEYS = keysOf<MatmulOptions>()('precision', 'signal', 'transA', 'transB', 'bias', 'alpha', 'activation', 'negativeSlope');

export async function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Promise<Tensor> {
  checkOptions('matmul', options, MATMUL_OPTION_KEYS);
  checkTensor('matmul', 'a', a);
  checkTensor('matmul', 'b', b);
  const bias = checkTensor('matmul', 'options.bias', options?.bias, true);
  const [out] = await runOp(
    'matmul',
    [a, b, bias],
    {
      transA: options.transA,
      transB: options.transB,
      alpha: options.alpha,
      activation: options.activation,
      negativeSlope: options.negativeSlope,
    },
    options,
  );
  return out;
}
