import type { Tensor } from '../tensor';
import { checkTensor, runOp, type OpOptions } from './run';
import { checkOptions, keysOf } from '../options';

/** An activation fused into an op's output (default 'none'). */
export type Activation = 'none' | 'relu' | 'leakyRelu' | 'sigmoid';

/** Options of matmul(). */
export interface MatmulOptions extends OpOptions {
  /** Transposes the stored `a` (default false). */
  transA?: boolean | undefined;
  /** Transposes the stored `b` (default false). */
  transB?: boolean | undefined;
  /** Added per output column before `alpha` and the activation. */
  bias?: Tensor | undefined;
  /** Scale of the product plus bias (default 1). */
  alpha?: number | undefined;
  activation?: Activation | undefined;
  /** Slope of 'leakyRelu' for negative inputs (default 0.01). */
  negativeSlope?: number | undefined;
}

const MATMUL_OPTION_KEYS = keysOf<MatmulOptions>()('precision', 'signal', 'transA', 'transB', 'bias', 'alpha', 'activation', 'negativeSlope');

/**
 * C = act(alpha * (op(A)·op(B) + bias)) on the shared GEMM core. `a` is
 * [M, K] or [B, M, K], `b` [K, N] or [B, K, N] (a rank-2 operand is broadcast
 * over the batch); with transA/transB the stored operand is transposed.
 */
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
