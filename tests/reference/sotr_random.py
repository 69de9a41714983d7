"""Calibrated random SOTR checkpoints with the official key names (used by make_model_fixtures.py).

The values are drawn so that a random model behaves like a trained one where the tests need it: activations stay
O(1) through the ResNet (He-scaled convs, sane FrozenBN statistics, small residual-branch gains, the stem scaled
for 0..255 inputs), ReZero gates around 0.1, class logits whose bias lets a small share of grid cells pass the 0.1
score threshold, and large kernel weights so that mask logits sit away from 0 (binary masks stable under float
rounding). ts/model/random_model.ts draws from the same distributions with its own seeded generator.

  /usr/bin/python3 tests/reference/sotr_random.py <out.pth> [--preset tiny|r50|r101|r101-dcn] [--seed N] [--legacy]
"""
import math
import sys

import torch

sys.path.insert(0, __import__("os").path.dirname(__file__))
from sotr_reference import SOTR, Config  # noqa: E402

# Calibration constants (kept equal to ts/model/random_model.ts).
STEM_GAIN = 1.0 / 60.0        # the stem sees 0..255-scale inputs
RESIDUAL_BN = (0.1, 0.3)      # conv3 / shortcut-side FrozenBN weights
BN_WEIGHT = (0.5, 1.0)
BN_BIAS_STD = 0.1
BN_MEAN_STD = 0.1
BN_VAR = (0.5, 1.5)
GATE = (0.05, 0.15)           # ReZero gates ≈ 0.1
CATE_WEIGHT = 1.0             # class logits: weight std CATE_WEIGHT / sqrt(C)
CATE_BIAS = -5.0             # ... and bias around CATE_BIAS (sigmoid(-2.2) = 0.1)
CATE_BIAS_STD = 0.4
KERNEL_WEIGHT = 4.0           # kernel std KERNEL_WEIGHT / sqrt(C): mask logits far from 0
KERNEL_BIAS_STD = 0.1
KERNEL_BIAS = -0.6            # kernel bias mean: shifts every mask logit, sets the typical mask size
OFFSET_BIAS_STD = 0.5         # DCN offsets of about half a pixel

PRESETS = {
    # Default constants (heads 8, GroupNorm 32, grids 40..12) with tiny widths.
    "tiny": dict(blocks=[1, 1, 1, 1], stem=8, bottleneck=[4, 8, 8, 16], out=[16, 24, 32, 48], fpn=16, depth=2,
                 classes=80, num_kernels=32, mask_channels=32, num_masks=32),
    # The R50 block structure and transformer depth (549 keys, the official names) with tiny widths.
    "r50-tiny": dict(blocks=[3, 4, 6, 3], stem=8, bottleneck=[4, 8, 8, 16], out=[16, 24, 32, 48], fpn=16, depth=12,
                     classes=80, num_kernels=32, mask_channels=32, num_masks=32),
    "r50": dict(blocks=[3, 4, 6, 3], stem=64, bottleneck=[64, 128, 256, 512], out=[256, 512, 1024, 2048], fpn=256,
                depth=12, classes=80, num_kernels=256, mask_channels=128, num_masks=256),
    "r101": dict(blocks=[3, 4, 23, 3], stem=64, bottleneck=[64, 128, 256, 512], out=[256, 512, 1024, 2048], fpn=256,
                 depth=12, classes=80, num_kernels=256, mask_channels=128, num_masks=256),
}
# A DCN variant with non-default constants (heads 2, GroupNorm 4 groups, 8 classes): deformable blocks in res3..res5,
# res4 mixing a DCN block and a plain one (per-block detection).
PRESETS["tiny-dcn"] = dict(blocks=[1, 1, 2, 1], stem=8, bottleneck=[4, 8, 8, 8], out=[8, 16, 24, 32], fpn=8, depth=1,
                           classes=8, num_kernels=8, mask_channels=8, num_masks=8, heads=2, gn_groups=4,
                           dcn=[[False], [True], [True, False], [True]])
PRESETS["r101-dcn"] = dict(PRESETS["r101"], dcn=[[False] * 3, [True] * 4, [True] * 23, [True] * 3])


def calibrated(name, shape, gen):
    def normal(std):
        return torch.randn(shape, generator=gen) * std

    def uniform(a, b):
        return a + (b - a) * torch.rand(shape, generator=gen)

    fan_in = int(torch.tensor(shape[1:]).prod()) if len(shape) > 1 else 1
    if name.endswith(".g"):
        return uniform(*GATE)
    if ".norm." in name:
        if name.endswith(".norm.weight"):
            return uniform(*RESIDUAL_BN) if (".conv3." in name) else uniform(*BN_WEIGHT)
        if name.endswith(".norm.bias"):
            return normal(BN_BIAS_STD)
        if name.endswith("running_mean"):
            return normal(BN_MEAN_STD)
        return uniform(*BN_VAR)
    if "conv2_offset" in name:
        if name.endswith(".weight"):
            return normal(0.01 / math.sqrt(fan_in))
        b = normal(OFFSET_BIAS_STD)
        b[2 * shape[0] // 3:] = 0  # modulation logits 0 → sigmoid 0.5
        return b
    if name == "backbone.bottom_up.stem.conv1.weight":
        return normal(math.sqrt(2.0 / fan_in) * STEM_GAIN)
    if name.startswith("backbone.bottom_up."):
        return normal(math.sqrt(2.0 / fan_in))
    if name.startswith("backbone.fpn_"):
        return normal(math.sqrt(1.0 / fan_in)) if name.endswith(".weight") else normal(0.05)
    if name.startswith("cate_head.transformer."):
        if name.endswith(".fn.0.weight"):
            return normal(math.sqrt(2.0 / fan_in))
        if name.endswith(".weight"):
            return normal(math.sqrt(1.0 / fan_in))
        return normal(0.02)
    if name == "cate_head.cate_pred.weight":
        return normal(CATE_WEIGHT / math.sqrt(fan_in))
    if name == "cate_head.cate_pred.bias":
        return CATE_BIAS + normal(CATE_BIAS_STD)
    if name == "cate_head.kernel_pred.weight":
        return normal(KERNEL_WEIGHT / math.sqrt(fan_in))
    if name == "cate_head.kernel_pred.bias":
        return KERNEL_BIAS + normal(KERNEL_BIAS_STD)
    if name.startswith("mask_head."):
        if len(shape) == 4:
            return normal(math.sqrt(2.0 / fan_in))
        if name.endswith(".weight"):
            return uniform(0.5, 1.5)
        return normal(0.2)
    raise KeyError(name)


def random_state_dict(preset="tiny", seed=0, **spec_over):
    spec = dict(PRESETS[preset])
    spec.update(spec_over)
    cfg = Config(spec=spec)
    model = SOTR(cfg)
    gen = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in model.state_dict().items():
        sd[k] = calibrated(k, tuple(v.shape), gen).float().contiguous()
    return sd


if __name__ == "__main__":
    args = sys.argv[1:]
    preset = "tiny"
    seed = 0
    legacy = "--legacy" in args
    if "--preset" in args:
        preset = args[args.index("--preset") + 1]
    if "--seed" in args:
        seed = int(args[args.index("--seed") + 1])
    sd = random_state_dict(preset, seed)
    torch.save(sd, args[0], _use_new_zipfile_serialization=not legacy)
    print(f"{args[0]}: {len(sd)} tensors, {sum(v.numel() for v in sd.values())} values ({preset}, seed {seed})")
