/**
 * The twin transformer of the released code (§6): the input duplicated along the width (cat((x, x), -1)), then per
 * layer the twin attention op (column and row MHA with ReZero gates, parallel mode), then two parallel conv branches
 * conv3×3 → LeakyReLU(0.01) → conv3×3, each scaled by its ReZero gate and summed with the residual in the
 * reference's order ((z + g1·FF1(z)) + g2·FF2(z)); finally the mean of the two width halves.
 */
import type { Tensor } from '../tensor';
import type { SotrConfig } from './config';
import { conv2d } from '../ops/conv2d';
import { concat, meanWidthHalves } from '../ops/elementwise';
import { twinAttention } from '../ops/twin_attention';
import { op, opts, type OpCtx } from './ops';
import type { FfW, TransformerLayerW } from './weights';

async function ffBranch(ctx: OpCtx, cfg: SotrConfig, f: FfW, z: Tensor, residual: Tensor): Promise<Tensor> {
  const pad = (f.conv0.weight.shape[2]! - 1) / 2;
  const u = await op(ctx, conv2d, z, f.conv0.weight, opts(ctx, { bias: f.conv0.bias ?? null, padding: pad, activation: 'leakyRelu', negativeSlope: cfg.leakyReluSlope }));
  try {
    // (conv + bias)·g + residual: the ReZero gate multiplies the branch output, bias included.
    return await op(ctx, conv2d, u, f.conv2.weight, opts(ctx, { bias: f.conv2.bias ?? null, scale: f.conv2.scale ?? null, padding: pad, residual }));
  } finally {
    u.dispose();
  }
}

/** TwinTransformer.forward on [B, C, H, W]; returns a new tensor, does not dispose x. */
export async function runTransformer(ctx: OpCtx, cfg: SotrConfig, layers: TransformerLayerW[], x: Tensor): Promise<Tensor> {
  // torch.cat((x, x), -1)
  let z = await op(ctx, concat, [x, x], 3, opts(ctx, {}));
  try {
    for (const layer of layers) {
      const a = await op(ctx, twinAttention, z, layer.attn, opts(ctx, { heads: cfg.heads, mode: cfg.attentionMode }));
      z.dispose();
      z = a;
      const b = await ffBranch(ctx, cfg, layer.ff[0], a, a);
      try {
        z = await ffBranch(ctx, cfg, layer.ff[1], a, b);
      } finally {
        b.dispose();
        a.dispose();
      }
    }
    // torch.stack(z.chunk(2, -1)).mean(0)
    return await op(ctx, meanWidthHalves, z, opts(ctx, {}));
  } finally {
    z.dispose();
  }
}
