"""OpenCV goldens for the maskContours op (tests/masks/contours.test.mjs): cv2.findContours of binary masks.

  contours.safetensors   case<k>.mask uint8 [H, W] (0/1) and, per mode and approximation,
                         case<k>.<mode>_<approx> int32: the op's per-mask layout (the contour count, then per contour
                         its parent (-1, or for a hole the index of its outer border), its point count and its points
                         x, y, ...), in the order cv2 returns them; mode external|ccomp, approx simple|none;
                         case<k>.dp int32: cv2.approxPolyDP of the first DP_CONTOURS contours of the ccomp/none
                         and the external/simple lists, for each epsilon in EPSILONS, closed then open: per result its point
                         count and its points.

The cases are awkward on purpose: one row, one column, one pixel, empty, full (touching every side), noise at
several densities (many components, holes, diagonal 8-connections), rings with blobs inside them and rings inside
those (the external mode must drop the inner ones; ccomp must give each ring its hole), a checkerboard (every pixel
its own 8-connected diagonal chain), spirals, and widths around 32 and 64 (the packed words).

Run (Debian's python3-opencv): /usr/bin/python3 tests/reference/make_contour_fixtures.py
"""
import os
import sys

import cv2
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_io import write_fixture  # noqa: E402

SCRIPT = "tests/reference/make_contour_fixtures.py"
SEED = 41
EPSILONS = [0.0, 0.7, 1.0, 1.5, 4.0, 10.0]
DP_CONTOURS = 8  # per list and case


def rings(h, w, rng):
    m = np.zeros((h, w), np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(4):
        cy, cx = rng.randint(0, h), rng.randint(0, w)
        r = rng.randint(4, max(5, min(h, w) // 2))
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        m[(d <= r) & (d > r - 2)] = 1          # a ring
        m[d <= max(1, r // 3)] = 1             # a blob inside it
        m[(d <= r // 2 + 1) & (d > r // 2 - 1)] ^= 1  # a ring between them (or a gap where it crosses)
    return m


def spiral(h, w):
    m = np.zeros((h, w), np.uint8)
    y0, x0, y1, x1 = 0, 0, h - 1, w - 1
    while y0 <= y1 and x0 <= x1:
        m[y0, x0:x1 + 1] = 1
        m[y0:y1 + 1, x1] = 1
        if y1 > y0:
            m[y1, x0:x1 + 1] = 1
        if x1 > x0 + 2:
            m[y0 + 2:y1 + 1, x0] = 1
        y0, x0, y1, x1 = y0 + 2, x0 + 2, y1 - 2, x1 - 2
    return m


def cases():
    rng = np.random.RandomState(SEED)
    out = []
    out.append(np.ones((1, 37), np.uint8))                        # one row
    out.append(np.ones((29, 1), np.uint8))                        # one column
    m = np.zeros((5, 6), np.uint8); m[2, 3] = 1; out.append(m)    # one pixel
    out.append(np.zeros((7, 9), np.uint8))                        # empty
    out.append(np.ones((13, 64), np.uint8))                       # full, a whole 64-bit word wide
    out.append((np.indices((12, 33)).sum(0) % 2).astype(np.uint8))  # checkerboard
    out.append(spiral(31, 40))
    out.append(spiral(16, 65))
    for (h, w, p) in [(23, 31, 0.5), (40, 63, 0.3), (37, 65, 0.7), (44, 67, 0.45), (11, 129, 0.2), (9, 32, 0.85)]:
        out.append((rng.rand(h, w) < p).astype(np.uint8))
    for (h, w) in [(48, 71), (80, 64), (33, 130)]:
        out.append(rings(h, w, rng))
    # Blobs (object-like masks): thresholded smoothed noise.
    for (h, w) in [(60, 90), (45, 33)]:
        z = rng.rand(h // 5 + 2, w // 5 + 2).astype(np.float32)
        z = cv2.resize(z, (w, h), interpolation=cv2.INTER_CUBIC)
        out.append((z > 0.55).astype(np.uint8))
    return out


def layout(contours, hierarchy):
    flat = [len(contours)]
    for i, c in enumerate(contours):
        parent = int(hierarchy[0][i][3]) if hierarchy is not None else -1
        pts = c.reshape(-1).tolist()
        flat += [parent, len(pts) // 2] + pts
    return torch.tensor(flat, dtype=torch.int32)


def main():
    tensors = {}
    shapes = []
    for k, m in enumerate(cases()):
        tensors[f"case{k}.mask"] = torch.from_numpy(m.copy())
        shapes.append(list(m.shape))
        for mode_name, mode in [("external", cv2.RETR_EXTERNAL), ("ccomp", cv2.RETR_CCOMP)]:
            for approx_name, approx in [("simple", cv2.CHAIN_APPROX_SIMPLE), ("none", cv2.CHAIN_APPROX_NONE)]:
                contours, hierarchy = cv2.findContours(m.copy(), mode, approx)
                tensors[f"case{k}.{mode_name}_{approx_name}"] = layout(contours, hierarchy)
        dp = []
        for mode, approx in [(cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE), (cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)]:
            for c in cv2.findContours(m.copy(), mode, approx)[0][:DP_CONTOURS]:
                for eps in EPSILONS:
                    for closed in (True, False):
                        a = cv2.approxPolyDP(c, eps, closed).reshape(-1).tolist()
                        dp += [len(a) // 2] + a
        tensors[f"case{k}.dp"] = torch.tensor(dp, dtype=torch.int32)
    path = write_fixture("contours", tensors, SCRIPT, SEED, cases=len(shapes), shapes=shapes, epsilons=EPSILONS, opencv=cv2.__version__)
    print(f"{path}: {len(shapes)} cases, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
