"""OpenCV's side of host_outputs_bench.mjs's contour rows: cv2.findContours on the same masks, timed here.

  /usr/bin/python3 benchmarks/opencv/contours_bench.py <masks.bin> <n> <H> <W> <reps>

masks.bin: n masks of H rows of words32PerRow(W) little-endian 32-bit words (the library's bit-packed layout,
least significant bit first). Prints JSON: median milliseconds for all n masks, per mode/approximation, on one
thread (cv2.setNumThreads(1); findContours is single-threaded anyway), unpacking excluded.
"""
import json
import sys
import time

import cv2
import numpy as np


def main():
    path, n, H, W, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    words = 2 * ((W + 63) // 64)
    raw = np.fromfile(path, dtype="<u4").reshape(n, H, words)
    bits = np.unpackbits(raw.view(np.uint8), axis=2, bitorder="little")[:, :, :W]
    masks = [np.ascontiguousarray(bits[i]) for i in range(n)]
    cv2.setNumThreads(1)
    out = {"opencv": cv2.__version__, "masks": n, "size": [H, W]}
    for name, mode, approx in [("external_simple", cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE),
                               ("ccomp_none", cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)]:
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            for m in masks:
                cv2.findContours(m, mode, approx)
            times.append((time.perf_counter() - t0) * 1000)
        out[name] = sorted(times)[len(times) // 2]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
