/**
 * The mask branch (`MaskHead`, §8): per level CGR (conv3×3 no bias → GroupNorm(32) → ReLU) and bilinear ×2
 * upsampling chains down to stride 4, summed in level order, then conv1×1 → GroupNorm → ReLU: the mask feature F.
 */
import type { Tensor } from '../tensor';
import type { SotrConfig } from './config';
import { conv2d } from '../ops/conv2d';
import { add } from '../ops/elementwise';
import { groupNorm } from '../ops/group_norm';
import { interpolate } from '../ops/interpolate';
import { op, opts, type OpCtx } from './ops';
import type { GnConvW } from './weights';

async function cgr(ctx: OpCtx, cfg: SotrConfig, w: GnConvW, x: Tensor, padding: number): Promise<Tensor> {
  const c = await op(ctx, conv2d, x, w.weight, opts(ctx, { padding }));
  try {
    return await op(ctx, groupNorm, c, cfg.groupNormGroups, opts(ctx, { weight: w.gnWeight, bias: w.gnBias, eps: cfg.groupNormEps, activation: 'relu' }));
  } finally {
    c.dispose();
  }
}

async function up2(ctx: OpCtx, x: Tensor): Promise<Tensor> {
  try {
    return await op(ctx, interpolate, x, [x.shape[2]! * 2, x.shape[3]! * 2], 'bilinear', opts(ctx, {}));
  } finally {
    x.dispose();
  }
}

/** inputs: [P2, P3, P4, Transformer(P5)] (not disposed); returns F [B, numMasks, Hp/4, Wp/4]. */
export async function runMaskBranch(ctx: OpCtx, cfg: SotrConfig, w: { maskLevels: GnConvW[][]; maskPred: GnConvW }, inputs: Tensor[]): Promise<Tensor> {
  let sum: Tensor | null = null;
  let x: Tensor | null = null;
  try {
    for (let l = 0; l < 4; l++) {
      x = await cgr(ctx, cfg, w.maskLevels[l]![0]!, inputs[l]!, 1);
      if (l > 0) {
        const t: Tensor = x;
        x = null;
        x = await up2(ctx, t);
      }
      for (let j = 1; j < l; j++) {
        const y: Tensor = await cgr(ctx, cfg, w.maskLevels[l]![j]!, x!, 1);
        x!.dispose();
        x = null;
        x = await up2(ctx, y);
      }
      if (sum === null) {
        sum = x;
      } else {
        const s: Tensor = await op(ctx, add, sum, x!, opts(ctx, {}));
        sum.dispose();
        x!.dispose();
        sum = s;
      }
      x = null;
    }
    return await cgr(ctx, cfg, w.maskPred, sum!, 0);
  } finally {
    (x as Tensor | null)?.dispose();
    sum?.dispose();
  }
}
