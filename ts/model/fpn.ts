/**
 * FPN (detectron2 v0.2.1, §4): lateral 1×1 and output 3×3 convs with bias, top-down nearest ×2 on the lateral
 * sums (T, not P), fused as the lateral conv's residual; P6 = max_pool2d(P5, kernel 1, stride 2) = P5[::2, ::2].
 */
import type { Tensor } from '../tensor';
import { conv2d } from '../ops/conv2d';
import { interpolate } from '../ops/interpolate';
import { maxPool2d } from '../ops/pool';
import { op, opts, type OpCtx } from './ops';
import type { ConvW } from './weights';

/** [res2..res5] → [P2, P3, P4, P5, P6]. Does not dispose the inputs. */
export async function runFpn(ctx: OpCtx, w: { fpnLateral: ConvW[]; fpnOutput: ConvW[] }, c: Tensor[]): Promise<Tensor[]> {
  const p: Tensor[] = [];
  let prev: Tensor | null = null;
  try {
    for (let l = 3; l >= 0; l--) {
      let up: Tensor | null = null;
      if (prev) {
        up = await op(ctx, interpolate, prev, [prev.shape[2]! * 2, prev.shape[3]! * 2], 'nearest', opts(ctx, {}));
        prev.dispose();
        prev = null;
      }
      try {
        prev = await op(ctx, conv2d, c[l]!, w.fpnLateral[l]!.weight, opts(ctx, { bias: w.fpnLateral[l]!.bias ?? null, residual: up }));
      } finally {
        up?.dispose();
      }
      p.unshift(await op(ctx, conv2d, prev, w.fpnOutput[l]!.weight, opts(ctx, { bias: w.fpnOutput[l]!.bias ?? null, padding: 1 })));
    }
    p.push(await op(ctx, maxPool2d, p[3]!, opts(ctx, { kernelSize: 1, stride: 2, padding: 0 })));
    return p;
  } catch (e) {
    for (const t of p) t.dispose();
    throw e;
  } finally {
    (prev as Tensor | null)?.dispose();
  }
}
