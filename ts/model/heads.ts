/**
 * Instance inputs and functional heads (§5, §7): P2 bilinear ×0.5 (a 2×2 average), P6 bilinear to P5's size, each
 * level bilinear to N×N (align_corners=False, no antialiasing), the shared transformer, then the shared Linear
 * heads as 1×1 convs, giving class logits [B, classes, N, N] and kernels [B, D, N, N] (cell index y·N + x).
 */
import type { Tensor } from '../tensor';
import type { SotrConfig } from './config';
import { conv2d } from '../ops/conv2d';
import { interpolate } from '../ops/interpolate';
import { op, opts, type OpCtx } from './ops';
import type { ConvW } from './weights';

/** split_feats: [P2..P6] → the five instance-branch maps (P3, P4, P5 are returned as is). */
export async function splitFeats(ctx: OpCtx, p: Tensor[]): Promise<Tensor[]> {
  const p2 = p[0]!;
  const l0 = await op(ctx, interpolate, p2, [p2.shape[2]! / 2, p2.shape[3]! / 2], 'bilinear', opts(ctx, {}));
  try {
    const l4 = await op(ctx, interpolate, p[4]!, [p[3]!.shape[2]!, p[3]!.shape[3]!], 'bilinear', opts(ctx, {}));
    return [l0, p[1]!, p[2]!, p[3]!, l4];
  } catch (e) {
    l0.dispose();
    throw e;
  }
}

export async function gridResize(ctx: OpCtx, x: Tensor, n: number): Promise<Tensor> {
  return op(ctx, interpolate, x, [n, n], 'bilinear', opts(ctx, {}));
}

export async function runHeads(ctx: OpCtx, cfg: SotrConfig, w: { catePred: ConvW; kernelPred: ConvW }, y: Tensor): Promise<{ cate: Tensor; kernel: Tensor }> {
  void cfg;
  const cate = await op(ctx, conv2d, y, w.catePred.weight, opts(ctx, { bias: w.catePred.bias ?? null }));
  try {
    const kernel = await op(ctx, conv2d, y, w.kernelPred.weight, opts(ctx, { bias: w.kernelPred.bias ?? null }));
    return { cate, kernel };
  } catch (e) {
    cate.dispose();
    throw e;
  }
}
