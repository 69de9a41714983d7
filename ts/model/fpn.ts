/**
 * FPN (detectron2 v0.2.1, §4): lateral 1×1 and output 3×3 convs with bias, top-down nearest ×2 on the lateral
 * sums (T, not P), fused as the lateral conv's residual; P6 = max_pool2d(P5, kernel 1, stride 2) = P5[::2, ::2].
 */
import type { Tensor } from '../tensor';
import { conv2d, maxPool2d, resize, type OpCtx } from './ops';
import type { ConvW } from './weights';

/** [res2..res5] → [P2, P3, P4, P5, P6]. Does not dispose the inputs. */
export async function runFpn(ctx: OpCtx, w: { fpnLateral: ConvW[]; fpnOutput: ConvW[] }, c: Tensor[]): Promise<Tensor[]> {
  const p: Tensor[] = [];
  let prev: Tensor | null = null;
  try {
    for (let l = 3; l >= 0; l--) {
      let up: Tensor | null = null;
      if (prev) {
        up = await resize(ctx, prev, [prev.shape[2]! * 2, prev.shape[3]! * 2], 'nearest');
        prev.dispose();
        prev = null;
      }
      try {
        prev = await conv2d(ctx, c[l]!, w.fpnLateral[l]!.weight, { bias: w.fpnLateral[l]!.bias ?? null, residual: up });
      } finally {
        up?.dispose();
      }
      p.unshift(await conv2d(ctx, prev, w.fpnOutput[l]!.weight, { bias: w.fpnOutput[l]!.bias ?? null, padding: 1 }));
    }
    p.push(await maxPool2d(ctx, p[3]!, 1, 2, 0));
    return p;
  } catch (e) {
    for (const t of p) t.dispose();
    throw e;
  } finally {
    (prev as Tensor | null)?.dispose();
  }
}
