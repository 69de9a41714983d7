// groupNorm (+ fused ReLU, affine) vs F.group_norm + F.relu_ on SOTR's mask-branch shapes, side by side.
//   node benchmarks/groupnorm_bench.mjs [--threads 2] [--reps 7] [--budget 120] [--json FILE] [--no-torch] [--quick] [--device cpu|cuda]
import { runDense } from './dense_ops_common.mjs';

const gn = (shape, groups = 32) => ({
  name: `groupNorm(${groups})+relu ${shape[1]}ch @${shape[2]}x${shape[3]}`,
  shape,
  ours: ({ groupNorm }, x, g, b) => groupNorm(x, groups, { weight: g, bias: b, activation: 'relu' }),
  bench: 'groupNorm',
  params: { groups },
  bytes: 2 * 4 * shape.reduce((a, v) => a * v, 1), // read + write, fp32
});

await runDense('groupNorm', [
  gn([1, 128, 200, 336]), // mask branch level 0 CGR (P2)
  gn([1, 256, 200, 336]), // conv_pred: 1x1 -> GN -> ReLU on the mask feature
  gn([1, 128, 100, 168]), // level 1
  gn([1, 128, 50, 84]), // level 2
  gn([1, 128, 25, 42]), // level 3
]);
