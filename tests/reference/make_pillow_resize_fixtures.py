"""Pillow BILINEAR resize goldens for the pillowResize op (tests/ops/pillow_resize.test.mjs).

  pillow_resize.safetensors   case<k>.src uint8 [h0, w0, C] and case<k>.dst uint8 [h1, w1, C]: Image.resize((w1, h1),
                              Image.BILINEAR) of the source in mode L (C 1), RGB (C 3) or RGBX (C 4; Pillow
                              premultiplies RGBA, not RGBX). Awkward sizes: 1-pixel images, rows and columns, the
                              same size, exact 2x and 0.5x, large factors (wide kernels), off-by-one sizes, and
                              random sizes; noise and smooth content.

Run: /usr/bin/python3 tests/reference/make_pillow_resize_fixtures.py
"""
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_io import write_fixture  # noqa: E402

SCRIPT = "tests/reference/make_pillow_resize_fixtures.py"
SEED = 11
MODES = {1: "L", 3: "RGB", 4: "RGBX"}

# (w0, h0), (w1, h1), channels
FIXED = [
    ((1, 1), (5, 7), 3),
    ((1, 1), (1, 1), 3),
    ((1, 1), (3, 1), 1),
    ((9, 11), (1, 1), 3),
    ((37, 1), (12, 1), 3),
    ((1, 29), (1, 64), 3),
    ((2, 2), (1, 3), 3),
    ((300, 7), (11, 3), 1),
    ((1000, 3), (3, 2), 3),
    ((3, 700), (2, 5), 3),
    ((32, 24), (64, 48), 3),
    ((64, 48), (32, 24), 3),
    ((49, 51), (50, 52), 3),
    ((50, 52), (49, 51), 3),
    ((97, 13), (13, 97), 3),
    ((101, 67), (67, 45), 3),
    ((40, 25), (67, 41), 4),
    ((53, 31), (17, 80), 1),
    ((200, 120), (133, 75), 3),  # the 1920x1080 -> 1333x750 ratio, smaller
]


def image(rng, w, h, c, smooth):
    if smooth:
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.sin(xx / 5.0) * 90 + np.cos(yy / 3.0) * 30 + 128
        src = (base[..., None] + np.arange(c) * 17).clip(0, 255)
    else:
        src = rng.randint(0, 256, (h, w, c))
    return src.astype(np.uint8)


def main():
    rng = np.random.RandomState(SEED)
    cases = list(FIXED)
    for _ in range(16):
        c = [1, 3, 3, 4][rng.randint(4)]
        cases.append(((int(rng.randint(1, 60)), int(rng.randint(1, 60))), (int(rng.randint(1, 70)), int(rng.randint(1, 70))), c))
    out = {}
    for k, ((w0, h0), (w1, h1), c) in enumerate(cases):
        src = image(rng, w0, h0, c, k % 3 == 1)
        if c == 1:
            im = Image.fromarray(src[..., 0], "L")
        elif c == 3:
            im = Image.fromarray(src, "RGB")
        else:
            im = Image.frombytes("RGBX", (w0, h0), src.tobytes())
        assert im.mode == MODES[c]
        dst = np.asarray(im.resize((w1, h1), Image.BILINEAR)).reshape(h1, w1, c)
        out[f"case{k}.src"] = torch.from_numpy(src.copy())
        out[f"case{k}.dst"] = torch.from_numpy(dst.copy())
    path = write_fixture("pillow_resize", out, SCRIPT, SEED, cases=len(cases), pillow=Image.__version__)
    print(f"{len(cases)} cases, {os.path.getsize(path)} bytes: {path}")


if __name__ == "__main__":
    main()
