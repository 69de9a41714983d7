"""PyTorch goldens for the resizeMasks op (tests/ops/resize_masks.test.mjs): SOTR's last post-processing step,

    seg = F.interpolate(soft.unsqueeze(0), size=(fh * ratio, fw * ratio), mode="bilinear")[:, :, :h, :w]
    out = F.interpolate(seg, size=(H0, W0), mode="bilinear").squeeze(0) > threshold

exactly as tests/reference/sotr_reference.py (and the official code) write it.

  resize_masks.safetensors   case<k>.soft float32 [n, fh, fw] and case<k>.bits uint8 [n, ceil(H0 * W0 / 8)]: the
                             boolean output, row-major, bit-packed LSB first; the case's parameters are in the
                             metadata (`cases`: [n, fh, fw, ratio, h, w, H0, W0, threshold] per case).
Awkward on purpose: a single mask (torch then runs its channels-last kernel, which rounds differently), crops that
keep or cut the width, 1x1 masks, ratio 1, downscales, a threshold that is not a float32, and soft masks with
plateaus at exactly the threshold and values one ulp either side of it.

Run: /usr/bin/python3 tests/reference/make_resize_masks_fixtures.py
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_io import write_fixture  # noqa: E402

SCRIPT = "tests/reference/make_resize_masks_fixtures.py"
SEED = 23

# [n, fh, fw, ratio, h, w, H0, W0, threshold]
CASES = [
    [4, 25, 34, 4, 97, 133, 240, 330, 0.5],   # SOTR-like: 1/4 feature, padded, original larger
    [1, 25, 34, 4, 97, 133, 240, 330, 0.5],   # one mask, width cropped
    [1, 16, 21, 4, 64, 84, 300, 411, 0.5],    # one mask, no crop (channels-last both passes)
    [1, 16, 21, 4, 50, 84, 300, 411, 0.5],    # one mask, height cropped only
    [3, 9, 13, 8, 70, 100, 33, 47, 0.5],      # downscale
    [3, 1, 1, 4, 3, 4, 5, 7, 0.5],            # 1x1 masks
    [2, 1, 1, 4, 4, 4, 9, 6, 0.5],            # 1x1 masks, no crop
    [5, 11, 17, 3, 40, 51, 40, 51, 0.3],      # threshold not a float32; second resize the identity
    [2, 20, 20, 2, 25, 39, 120, 65, 0.62],    # crop past the first resize
    [3, 12, 12, 1, 12, 12, 37, 29, 0.5],      # ratio 1: the first resize is the identity
    [6, 30, 50, 4, 120, 200, 150, 250, 0.5],  # more masks, a larger original
]


def soft_masks(rng, n, fh, fw, thr):
    out = np.empty((n, fh, fw), np.float32)
    yy, xx = np.mgrid[0:fh, 0:fw]
    t = np.float32(thr)
    for m in range(n):
        kind = m % 5
        cy, cx = rng.uniform(0, fh), rng.uniform(0, fw)
        rad = 0.5 + rng.uniform(0, max(fh, fw) * 0.6)
        d = np.hypot(yy - cy, xx - cx) / rad
        v = 1 / (1 + np.exp(4 * (d - 1))) + (rng.uniform(size=(fh, fw)) - 0.5) * 0.2
        if kind == 2:  # plateaus at exactly the threshold
            v = np.where(np.abs(v - thr) < 0.15, thr, v)
        if kind == 3:  # the threshold and one ulp either side of it
            v = np.choose(rng.integers(0, 4, (fh, fw)), [np.nextafter(t, 0), t, np.nextafter(t, 1), np.float32(0.1)])
        if kind == 4 and m >= 5:
            v = np.full((fh, fw), t)  # constant at the threshold
        out[m] = v
    return out


def main():
    rng = np.random.default_rng(SEED)
    torch.set_num_threads(1)
    tensors = {}
    for k, (n, fh, fw, ratio, h, w, H0, W0, thr) in enumerate(CASES):
        soft = torch.from_numpy(soft_masks(rng, n, fh, fw, thr))
        seg = F.interpolate(soft.unsqueeze(0), size=(fh * ratio, fw * ratio), mode="bilinear")[:, :, :h, :w]
        out = F.interpolate(seg, size=(H0, W0), mode="bilinear").squeeze(0) > thr
        bits = np.packbits(out.numpy().reshape(n, -1), axis=1, bitorder="little")
        tensors[f"case{k}.soft"] = soft
        tensors[f"case{k}.bits"] = torch.from_numpy(bits)
    path = write_fixture("resize_masks", tensors, SCRIPT, SEED, cases=CASES, torch=torch.__version__)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
