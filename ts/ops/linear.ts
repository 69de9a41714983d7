import type { Tensor } from '../tensor';
import { checkTensor, runOp, type OpOptions } from './run';
import { checkOptions, keysOf } from '../options';

/** Options of linear(): the bias and a fused activation. */
export interface LinearOptions extends OpOptions {
  /** [out] */
  bias?: Tensor | undefined;
  /** Applied after the bias (default 'none'). */
  activation?: 'none' | 'relu' | 'leakyRelu' | 'sigmoid' | undefined;
  /** LeakyReLU slope (default 0.01). */
  negativeSlope?: number | undefined;
}

/** torch.nn.functional.linear: x [..., in] · weight[out, in]ᵀ + bias -> [..., out], on the shared GEMM core. */
export async function linear(x: Tensor, weight: Tensor, options: LinearOptions = {}): Promise<Tensor> {
  checkOptions('linear', options, keysOf<LinearOptions>()('precision', 'signal', 'bias', 'activation', 'negativeSlope'));
  checkTensor('linear', 'x', x);
  checkTensor('linear', 'weight', weight);
  const o = options ?? {};
  const bias = checkTensor('linear', 'options.bias', o.bias, true);
  const [out] = await runOp('linear', [x, weight, bias], { activation: o.activation, negativeSlope: o.negativeSlope }, o);
  return out;
}
