/**
 * ResNet bottom-up (detectron2 v0.2.1 `build_resnet_backbone`, §3): stem conv 7×7/2 + FrozenBN + ReLU + max-pool
 * 3×3/2, bottleneck blocks with the stride in the 1×1 conv1 (STRIDE_IN_1X1), FrozenBN folded into each conv's
 * scale/shift, the shortcut added in conv3's epilogue before the ReLU; DCNv2 conv2 where the checkpoint has
 * `conv2_offset` (§3.1). Returns res2..res5.
 */
import type { Tensor } from '../tensor';
import type { SotrConfig } from './config';
import { conv2d } from '../ops/conv2d';
import { deformConv2d } from '../ops/deform_conv2d';
import { maxPool2d } from '../ops/pool';
import { op, opts, type OpCtx } from './ops';
import type { BlockW, ConvW } from './weights';

function cbn(w: ConvW) {
  return { bias: w.bias ?? null, scale: w.scale ?? null, shift: w.shift ?? null };
}

async function bottleneck(ctx: OpCtx, cfg: SotrConfig, b: BlockW, x: Tensor): Promise<Tensor> {
  const s1 = cfg.strideInOneByOne ? b.stride : 1;
  const s3 = cfg.strideInOneByOne ? 1 : b.stride;
  const shortcut = b.shortcut ? await op(ctx, conv2d, x, b.shortcut.weight, opts(ctx, { ...cbn(b.shortcut), stride: b.stride })) : x;
  try {
    let c2: Tensor;
    const c1 = await op(ctx, conv2d, x, b.conv1.weight, opts(ctx, { ...cbn(b.conv1), stride: s1, activation: 'relu' }));
    try {
      if (b.offset && b.modulation) {
        const offset = await op(ctx, conv2d, c1, b.offset.weight, opts(ctx, { bias: b.offset.bias ?? null, stride: s3, padding: 1 }));
        let mask: Tensor | undefined;
        try {
          // mask = sigmoid(o[:, 18G:27G]): the modulation half of conv2_offset, with the sigmoid fused.
          mask = await op(ctx, conv2d, c1, b.modulation.weight, opts(ctx, { bias: b.modulation.bias ?? null, stride: s3, padding: 1, activation: 'sigmoid' }));
          const G = b.offset.weight.shape[0]! / 18;
          c2 = await op(ctx, deformConv2d, c1, offset, mask, b.conv2.weight, opts(ctx, { ...cbn(b.conv2), stride: s3, padding: 1, activation: 'relu', deformGroups: G }));
        } finally {
          offset.dispose();
          mask?.dispose();
        }
      } else {
        c2 = await op(ctx, conv2d, c1, b.conv2.weight, opts(ctx, { ...cbn(b.conv2), stride: s3, padding: 1, activation: 'relu' }));
      }
    } finally {
      c1.dispose();
    }
    try {
      // out = relu(conv3 + shortcut): the shortcut is added in the epilogue before the ReLU.
      return await op(ctx, conv2d, c2, b.conv3.weight, opts(ctx, { ...cbn(b.conv3), residual: shortcut, activation: 'relu' }));
    } finally {
      c2.dispose();
    }
  } finally {
    if (shortcut !== x) shortcut.dispose();
  }
}

/** The ResNet trunk on a normalised, padded image [B, 3, Hp, Wp]; returns [res2, res3, res4, res5]. */
export async function runResNet(ctx: OpCtx, cfg: SotrConfig, w: { stem: ConvW; stages: BlockW[][] }, image: Tensor): Promise<Tensor[]> {
  const s = await op(ctx, conv2d, image, w.stem.weight, opts(ctx, { ...cbn(w.stem), stride: 2, padding: 3, activation: 'relu' }));
  let x: Tensor;
  try {
    x = await op(ctx, maxPool2d, s, opts(ctx, { kernelSize: 3, stride: 2, padding: 1 }));
  } finally {
    s.dispose();
  }
  const outs: Tensor[] = [];
  try {
    for (const stage of w.stages) {
      for (const blk of stage) {
        const y = await bottleneck(ctx, cfg, blk, x);
        if (!outs.includes(x)) x.dispose();
        x = y;
      }
      outs.push(x);
    }
    return outs;
  } catch (e) {
    for (const t of outs) t.dispose();
    if (!outs.includes(x)) x.dispose();
    throw e;
  }
}
