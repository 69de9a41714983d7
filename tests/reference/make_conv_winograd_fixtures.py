"""Golden fixtures for conv2d's Winograd engines (tests/ops/conv2d_winograd.test.mjs).

Regenerate: /usr/bin/python3 tests/reference/make_conv_winograd_fixtures.py
Every case is a 3x3, stride-1, dilation-1, ungrouped conv with >= 16 input and
output channels (the geometries F(2x2, 3x3) and F(4x4, 3x3) run): outputs that
are not multiples of 2 or 4 (partial tiles), padding 0, 1 and 2, a batch, a
deep K (192 channels), tile rows wider than a 16-tile chunk, every epilogue
piece. The outputs are float64 convolutions rounded to float32.
"""
from make_conv_fixtures import write_conv_goldens

SEED = 12
CASES = [
    # name, N, C, H, W, O, kh, kw, stride, padding, dilation, groups, bias, bn, residual, act
    ("tile4x4", 1, 16, 4, 4, 16, 3, 3, 1, 1, 1, 1, True, False, False, "none"),
    ("odd_batch", 2, 24, 13, 19, 20, 3, 3, 1, 1, 1, 1, True, True, False, "relu"),
    ("pad0", 1, 32, 11, 22, 17, 3, 3, 1, 0, 1, 1, False, False, True, "leakyRelu"),
    ("pad2", 1, 20, 7, 5, 18, 3, 3, 1, 2, 1, 1, True, False, False, "leakyRelu"),
    ("deep", 1, 192, 6, 10, 16, 3, 3, 1, 1, 1, 1, True, False, False, "none"),
    ("wide_rows", 1, 16, 9, 70, 16, 3, 3, 1, 1, 1, 1, False, True, False, "relu"),
    # the transformer's ReZero form x + g * conv(...): alpha = g, residual = x
    ("rezero", 1, 32, 9, 17, 32, 3, 3, 1, 1, 1, 1, True, False, True, "none"),
]
ALPHA_BETA = {"rezero": (0.3125, 1.0), "pad0": (1.0, 0.5)}

if __name__ == "__main__":
    write_conv_goldens("conv2d_winograd", CASES, ALPHA_BETA, "tests/reference/make_conv_winograd_fixtures.py", SEED)
