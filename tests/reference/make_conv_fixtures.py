"""Golden fixtures for conv2d (tests/ops/conv2d.test.mjs).

Regenerate: /usr/bin/python3 tests/reference/make_conv_fixtures.py
Awkward shapes: odd sizes, 1x1 maps, stride 2 on odd inputs, channel counts
that are not multiples of the tile sizes, groups, dilation, the fused
epilogue (bias, FrozenBN scale/shift, residual, activation).
"""
import torch
import torch.nn.functional as F

from fixture_io import write_fixture

SEED = 11
CASES = [
    # name, N, C, H, W, O, kh, kw, stride, padding, dilation, groups, bias, bn, residual, act
    ("basic3x3", 1, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, True, False, False, "relu"),
    ("stride2odd", 2, 4, 9, 11, 6, 3, 3, 2, 1, 1, 1, False, True, False, "none"),
    ("pointwise", 1, 16, 5, 5, 20, 1, 1, 1, 0, 1, 1, True, False, False, "none"),
    ("pointwise_s2", 1, 8, 7, 9, 12, 1, 1, 2, 0, 1, 1, False, True, False, "none"),
    ("map1x1", 2, 6, 1, 1, 7, 3, 3, 1, 1, 1, 1, True, False, False, "leakyRelu"),
    ("dilation2", 1, 5, 10, 8, 4, 3, 3, 1, 2, 2, 1, True, False, False, "none"),
    ("groups4", 2, 8, 6, 7, 12, 3, 3, 1, 1, 1, 4, True, False, False, "leakyRelu"),
    ("stem7x7", 1, 3, 17, 15, 8, 7, 7, 2, 3, 1, 1, False, True, False, "relu"),
    ("residual", 1, 16, 6, 5, 16, 1, 1, 1, 0, 1, 1, False, True, True, "relu"),
    ("asym", 1, 4, 9, 6, 5, 3, 1, (2, 1), (1, 0), 1, 1, True, False, False, "none"),
    ("rows130", 1, 12, 5, 7, 130, 3, 3, 1, 1, 1, 1, True, False, True, "leakyRelu"),
    ("wideK", 1, 150, 3, 4, 10, 3, 3, 1, 1, 1, 1, False, False, False, "none"),
    ("longmap", 1, 4, 23, 41, 7, 3, 3, 1, 1, 1, 1, True, True, False, "relu"),
    # the transformer's ReZero form x + g * conv(...): alpha = g, residual = x
    ("rezero", 1, 6, 5, 9, 6, 3, 3, 1, 1, 1, 1, True, False, True, "none"),
    # stride 2 on rows longer than one 16-lane vector (the im2col's two-load
    # path: both loads partly outside the row at either border)
    ("stem_wide", 1, 3, 13, 77, 6, 7, 7, 2, 3, 1, 1, False, True, False, "relu"),
    ("pointwise_s2_wide", 1, 5, 6, 71, 7, 1, 1, 2, 0, 1, 1, True, False, False, "none"),
    ("s2_dilation2", 1, 3, 9, 45, 4, 3, 3, 2, 2, 2, 1, True, False, False, "none"),
]
ALPHA_BETA = {"rezero": (0.3125, 1.0), "residual": (1.0, 0.5)}


def write_conv_goldens(fixture, cases, alpha_beta, script, seed):
    """Writes tests/fixtures/<fixture>.safetensors: per case its input, weight, epilogue tensors and the float64
    convolution rounded to float32; the case layout tests/helpers/conv_golden.mjs reads."""
    torch.manual_seed(seed)
    tensors = {}
    meta_cases = []
    for (name, N, C, H, W, O, kh, kw, stride, pad, dil, groups, bias, bn, res, act) in cases:
        x = torch.randn(N, C, H, W)
        w = torch.randn(O, C // groups, kh, kw) / (C // groups * kh * kw) ** 0.5
        b = torch.randn(O) if bias else None
        y = F.conv2d(x.double(), w.double(), b.double() if b is not None else None, stride, pad, dil, groups)
        tensors[f"{name}.x"] = x
        tensors[f"{name}.weight"] = w
        if b is not None:
            tensors[f"{name}.bias"] = b
        if bn:
            # FrozenBN folded: scale = weight / sqrt(var + eps), shift = bias - mean * scale
            gamma, beta = torch.rand(O) + 0.5, torch.randn(O)
            mean, var = torch.randn(O), torch.rand(O) + 0.1
            scale = gamma / torch.sqrt(var + 1e-5)
            shift = beta - mean * scale
            tensors[f"{name}.scale"] = scale
            tensors[f"{name}.shift"] = shift
            y = y * scale.double().view(1, -1, 1, 1) + shift.double().view(1, -1, 1, 1)
        alpha, beta = alpha_beta.get(name, (1.0, 1.0))
        y = y * alpha
        if res:
            r = torch.randn(y.shape)
            tensors[f"{name}.residual"] = r
            y = y + beta * r.double()
        if act == "relu":
            y = F.relu(y)
        elif act == "leakyRelu":
            y = F.leaky_relu(y, 0.01)
        tensors[f"{name}.out"] = y.float()
        pair = lambda v: list(v) if isinstance(v, tuple) else v
        meta_cases.append([name, pair(stride), pair(pad), pair(dil), groups, bias, bn, res, act, alpha, beta])
    write_fixture(fixture, tensors, script, seed, cases=meta_cases)


if __name__ == "__main__":
    write_conv_goldens("conv2d", CASES, ALPHA_BETA, "tests/reference/make_conv_fixtures.py", SEED)
