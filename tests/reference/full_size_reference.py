"""Full-size parity run (outside CI): a calibrated random R50 or R101-DCN checkpoint at the variant's test size.

  /usr/bin/python3 tests/reference/full_size_reference.py <out-dir> [r50|r101|r101-dcn] [--threads N]

Writes <out-dir>/<preset>.pth (torch.save zip), <out-dir>/image.png (a synthetic 640x480 image) and
<out-dir>/<preset>_golden.safetensors (the same content as model_golden.safetensors, plus the reference's time).
Then run: node tests/model/full_size_parity.mjs <out-dir> <preset>   (records NMSE per stage, matching, timings).
"""
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fixture_io  # noqa: E402
import make_model_fixtures as M  # noqa: E402
from sotr_random import random_state_dict  # noqa: E402
from sotr_reference import load_model, read_image_bgr  # noqa: E402
from PIL import Image  # noqa: E402


def main():
    args = sys.argv[1:]
    threads = 2
    if "--threads" in args:
        i = args.index("--threads")
        threads = int(args[i + 1])
        del args[i:i + 2]
    out = args[0]
    preset = args[1] if len(args) > 1 else "r50"
    torch.set_num_threads(threads)
    os.makedirs(out, exist_ok=True)
    ck = os.path.join(out, f"{preset}.pth")
    sd = random_state_dict(preset, 0)
    torch.save(sd, ck)
    img = os.path.join(out, "image.png")
    if not os.path.exists(img):
        Image.fromarray(M.synth(640, 480, 42)).save(img)
    min_size = 800 if preset == "r101" else 1000
    model = load_model(sd, min_size=min_size, max_size=1333)
    bgr = read_image_bgr(img)
    t0 = time.time()
    from sotr_reference import predict
    predict(model, bgr)
    t1 = time.time()
    M.OUT = out
    fixture_io.FIXTURE_DIR = out
    M.IMAGES.append(("full", (640, 480), "RGB", min_size, 1333))
    gen = torch.Generator().manual_seed(99)
    summary = []
    golden = M.golden_for(sd, ["full"], {"full": img}, gen, {}, summary)
    golden["full.reference_seconds"] = torch.tensor([t1 - t0], dtype=torch.float32)
    fixture_io.write_fixture(f"{preset}_golden", golden, "tests/reference/full_size_reference.py", 0, preset=preset, threads=threads)
    print(summary[0])
    print(f"reference forward + post-processing: {t1 - t0:.2f} s with {threads} threads")


if __name__ == "__main__":
    main()
