import type { Tensor } from '../tensor';
import { checkTensor, runOp, type OpOptions } from './run';

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
export async function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Promise<Tensor> {
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
