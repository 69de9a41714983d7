"""End-to-end PyTorch side of benchmarks/e2e_bench.mjs: the reference forward of tests/reference/sotr_reference.py
(pre-processing, backbone, twin transformer, heads, mask branch, SOTR's post-processing with Matrix NMS) on the same
checkpoint (safetensors, written by the library's writeRandomSotrCheckpoint) and the same image (raw BGR bytes).

  bench "sotr_reference": params {checkpoint, image, height, width, min_size?, precision?}; on the worker's device
  (cpu, cuda); precision "bf16" runs it under torch.autocast(bfloat16) (CPU: oneDNN's bf16 kernels), else fp32
The callable carries `info` (after the worker's warm-up run): the reference's post-processing trace (candidates,
after the area filter, Matrix NMS input size, after NMS), the instance count and the load time.
"""
import json
import os
import sys
import time

import numpy as np
import torch

REF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference")
sys.path.insert(0, os.path.abspath(REF))
from fixture_io import read_fixture  # noqa: E402


def read_safetensors(path):
    arrays, _ = read_fixture(path)
    return {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}


def _cpu_autocast_fp32_ops():
    """PyTorch 1.13's CPU autocast has no rule for group_norm (CUDA autocast runs it in float32), so a bfloat16
    input meets float32 weights and fails. Give it CUDA's rule: the input in float32."""
    import torch.nn.functional as F
    if getattr(F.group_norm, "_sotr_fp32", False):
        return
    orig = F.group_norm

    def group_norm(x, *a, **k):
        return orig(x.float(), *a, **k)

    group_norm._sotr_fp32 = True
    F.group_norm = group_norm


def sotr_reference(p, device):
    from sotr_reference import load_model, predict  # noqa: E402
    t0 = time.perf_counter()
    ck = p["checkpoint"]
    sd = read_safetensors(ck) if ck.endswith(".safetensors") else torch.load(ck, map_location="cpu")
    over = {"min_size": p["min_size"]} if p.get("min_size") else {}
    model = load_model(sd, **over).to(device)  # predict runs on the model's device
    load_ms = (time.perf_counter() - t0) * 1000
    h, w = p["height"], p["width"]
    bgr = np.fromfile(p["image"], dtype=np.uint8).reshape(h, w, 3)

    bf16 = p.get("precision") == "bf16"
    if bf16 and torch.device(device).type == "cpu":
        _cpu_autocast_fp32_ops()

    def run():
        keep = {}
        if bf16:
            with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16):
                labels, scores, masks = predict(model, bgr, keep)
        else:
            labels, scores, masks = predict(model, bgr, keep)
        trace = dict(keep.get("trace", {}))
        run.info = {"trace": trace, "instances": int(len(scores)), "load_ms": load_ms,
                    "input": list(keep["input"].shape)}
        return labels, scores, masks

    run.info = None
    return run


BENCHES = {"sotr_reference": sotr_reference}
