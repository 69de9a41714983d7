"""PyTorch side of benchmarks/mask_ops_bench.mjs: SOTR's reference mask ops.

BENCHES for the shared worker (benchmarks/torch/worker.py loads them through
benches_ops.py); their inputs are large and come from files the JS side writes
(raw little-endian arrays):

  conv_sigmoid  torch.sigmoid(F.conv2d(features, kernels[:, :, None, None]))   (SOTR §9)
  conv_masks    the same, then SOTR's post-processing of the soft masks that the
                fused op replaces: seg > 0.5, areas, maskness sums (§10 steps 5-8)
  matrix_nms    SOTR's utils.matrix_nms on the binary masks (torch.mm on float masks, §10)

Standalone, with inputs made
here the way the JS side makes them (blob and dense features), for the GPU
check script where only Python is at hand:
  python3 benchmarks/torch/mask_ops_bench.py --standalone [--device cuda] [--reps 20] [--json out.json]
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

from timing import time_reps, torch_config
from sotr_reference import matrix_nms as reference_matrix_nms

threads = int(os.environ.get("SOTR_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "0")) or 0)
if threads > 0:
    torch.set_num_threads(threads)
torch.set_grad_enabled(False)
if torch.cuda.is_available():
    tf32 = os.environ.get("SOTR_BENCH_TORCH_TF32", "0") == "1"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def matrix_nms(seg_masks, cate_labels, cate_scores, kernel="gaussian", sigma=2.0):
    """SOTR's utils.matrix_nms on binary masks (the areas computed inside, as SOTR's call does):
    tests/reference/sotr_reference.py's matrix_nms."""
    if len(cate_labels) == 0:
        return []
    areas = seg_masks.sum((1, 2)).float()
    return reference_matrix_nms(cate_labels, seg_masks, areas, cate_scores, sigma=sigma, kernel=kernel)


def load(path, shape, dtype):
    n = 1
    for d in shape:
        n *= d
    return torch.from_file(path, size=n, dtype=dtype).reshape(shape)


def bench_conv(params, device, masks):
    C, H, W, N = params["C"], params["H"], params["W"], params["N"]
    feats = load(params["features"], (1, C, H, W), torch.float32).to(device)
    kern = load(params["kernels"], (N, C, 1, 1), torch.float32).to(device)
    thr = params.get("threshold", 0.5)

    def conv_sigmoid():
        return torch.sigmoid(F.conv2d(feats, kern))[0]

    def conv_masks():
        seg = torch.sigmoid(F.conv2d(feats, kern))[0]
        b = seg > thr
        sum_masks = b.sum((1, 2)).float()
        seg_scores = (seg * b.float()).sum((1, 2))
        return b, sum_masks, seg_scores

    return conv_masks if masks else conv_sigmoid


def bench_nms(params, device):
    N, H, W = params["N"], params["H"], params["W"]
    masks = load(params["masks"], (N, H, W), torch.uint8).to(device)
    labels = load(params["labels"], (N,), torch.int32).long().to(device)
    scores = load(params["scores"], (N,), torch.float32).to(device)
    kernel, sigma = params.get("kernel", "gaussian"), params.get("sigma", 2.0)
    return lambda: matrix_nms(masks, labels, scores, kernel, sigma)


BENCHES = {
    "conv_sigmoid": lambda p, d: bench_conv(p, d, False),
    "conv_masks": lambda p, d: bench_conv(p, d, True),
    "matrix_nms": bench_nms,
}


def config():
    return {**torch_config(), "benches": sorted(BENCHES)}


def make_inputs(kind, N, C, H, W, gen):
    """Blob features (Gaussian bumps, kernel n = 4 bump(c_n) - 2) or dense random ones."""
    if kind == "blobs":
        ys = torch.arange(H, dtype=torch.float32)[:, None]
        xs = torch.arange(W, dtype=torch.float32)[None, :]
        cx = torch.rand(C - 1, generator=gen) * W
        cy = torch.rand(C - 1, generator=gen) * H
        sg = W / 40 + torch.rand(C - 1, generator=gen) * (W / 8 - W / 40)
        f = torch.exp(-0.5 * ((xs[None] - cx[:, None, None]) ** 2 + (ys[None] - cy[:, None, None]) ** 2) / sg[:, None, None] ** 2)
        f = f + 0.02 * (torch.rand(C - 1, H, W, generator=gen) - 0.5)
        f = torch.cat([f, torch.ones(1, H, W)])
        k = 0.02 * (torch.rand(N, C, generator=gen) - 0.5)
        k[torch.arange(N), torch.randint(0, C - 1, (N,), generator=gen)] += 4
        k[:, C - 1] -= 2
    else:
        f = 2 * torch.rand(C, H, W, generator=gen) - 1
        k = 0.25 * (torch.rand(N, C, generator=gen) - 0.5)
    return f.contiguous(), k.contiguous()


def standalone(argv):
    import argparse
    import statistics

    ap = argparse.ArgumentParser()
    ap.add_argument("--standalone", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--json", default=None)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    N, C, H, W = (100, 256, 100, 168) if a.quick else (500, 256, 200, 336)
    gen = torch.Generator().manual_seed(2024)
    rows = []

    def timeit(name, fn, flops=None):
        fn()
        ms = time_reps(fn, a.reps, a.device)
        r = {"name": name, "torchMs": statistics.median(ms), "reps": len(ms)}
        if flops:
            r["torchGflops"] = flops / r["torchMs"] / 1e6
        rows.append(r)
        print(f"{name:52s} {r['torchMs']:10.3f} ms", flush=True)

    for kind in ("blobs", "dense"):
        f, k = make_inputs(kind, N, C, H, W, gen)
        feats = f[None].to(a.device)
        kern = k[:, :, None, None].to(a.device)
        tag = f"{N}x{C} @{H}x{W}"
        flops = 2 * N * C * H * W
        timeit(f"conv2d+sigmoid {tag} ({kind})", lambda: torch.sigmoid(F.conv2d(feats, kern))[0], flops)

        def conv_masks():
            seg = torch.sigmoid(F.conv2d(feats, kern))[0]
            b = seg > 0.5
            return b, b.sum((1, 2)).float(), (seg * b.float()).sum((1, 2))

        timeit(f"conv2d+sigmoid+masks {tag} ({kind})", conv_masks, flops)
        masks = conv_masks()[0].to(torch.uint8)
        for classes in ((1, 80) if kind == "blobs" else (1,)):
            u = torch.rand(N, generator=gen)
            labels = torch.zeros(N, dtype=torch.long) if classes == 1 else (classes * u ** 3).long()
            scores = torch.sort(torch.rand(N, generator=gen), descending=True).values
            labels, scores = labels.to(a.device), scores.to(a.device)
            timeit(f"matrix_nms {N} @{H}x{W} ({kind}, {classes} class{'es' if classes > 1 else ''})",
                   lambda: matrix_nms(masks, labels, scores))
    out = {"bench": "mask_ops (PyTorch reference)", "device": a.device, "config": config(), "results": rows}
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    standalone(sys.argv[1:])
