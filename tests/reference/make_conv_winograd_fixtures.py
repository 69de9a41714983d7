"""Golden fixtures for conv2d's Winograd engines (tests/ops/conv2d_winograd.test.mjs).

Regenerate: /usr/bin/python3 tests/reference/make_conv_winograd_fixtures.py
Every case is a 3x3, stride-1, dilation-1, ungrouped conv with >= 16 input and
output channels (the geometries F(2x2, 3x3) and F(4x4, 3x3) run): outputs that
are not multiples of 2 or 4 (partial tiles), padding 0, 1 and 2, a batch, a
deep K (192 channels), tile rows wider than a 16-tile chunk, every epilogue
piece. The outputs are float64 convolutions rounded to float32.
"""
import torch
import torch.nn.functional as F

from fixture_io import write_fixture

SEED = 12
torch.manual_seed(SEED)
tensors = {}
cases = [
    # name, N, C, H, W, O, padding, bias, bn, residual, act
    ("tile4x4", 1, 16, 4, 4, 16, 1, True, False, False, "none"),
    ("odd_batch", 2, 24, 13, 19, 20, 1, True, True, False, "relu"),
    ("pad0", 1, 32, 11, 22, 17, 0, False, False, True, "leakyRelu"),
    ("pad2", 1, 20, 7, 5, 18, 2, True, False, False, "leakyRelu"),
    ("deep", 1, 192, 6, 10, 16, 1, True, False, False, "none"),
    ("wide_rows", 1, 16, 9, 70, 16, 1, False, True, False, "relu"),
    # the transformer's ReZero form x + g * conv(...): alpha = g, residual = x
    ("rezero", 1, 32, 9, 17, 32, 1, True, False, True, "none"),
]
ALPHA_BETA = {"rezero": (0.3125, 1.0), "pad0": (1.0, 0.5)}
meta_cases = []
for (name, N, C, H, W, O, pad, bias, bn, res, act) in cases:
    x = torch.randn(N, C, H, W)
    w = torch.randn(O, C, 3, 3) / (C * 9) ** 0.5
    b = torch.randn(O) if bias else None
    y = F.conv2d(x.double(), w.double(), b.double() if b is not None else None, 1, pad)
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
    alpha, beta = ALPHA_BETA.get(name, (1.0, 1.0))
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
    meta_cases.append([name, 1, pad, 1, 1, bias, bn, res, act, alpha, beta])
write_fixture("conv2d_winograd", tensors, "tests/reference/make_conv_winograd_fixtures.py", SEED, cases=meta_cases)
