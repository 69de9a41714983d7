"""PyTorch twins of the convolution-engine benchmarks (benchmarks/conv2d_bench.mjs):
F.conv2d (oneDNN on the CPU, cuDNN on CUDA) and the dense ops around it.
Loaded by benchmarks/torch/worker.py; every bench builds its inputs once and
returns a zero-argument callable that runs the op once.
"""
import torch
import torch.nn.functional as F


def _gen():
    return torch.Generator().manual_seed(0)


def conv2d(p, device):
    g = _gen()
    groups = p.get("groups", 1)
    kh, kw = p["kh"], p["kw"]
    x = torch.randn(p["n"], p["c"], p["h"], p["w"], generator=g).to(device)
    w = (torch.randn(p["o"], p["c"] // groups, kh, kw, generator=g) * 0.05).to(device)
    b = torch.randn(p["o"], generator=g).to(device)
    if p.get("dtype") in ("bf16", "fp16"):  # conv2d_bench.mjs --precision bf16 / fp16
        dt = torch.bfloat16 if p["dtype"] == "bf16" else torch.float16
        x, w, b = x.to(dt), w.to(dt), b.to(dt)
    stride, pad = p.get("stride", 1), p.get("padding", kh // 2)
    act = p.get("activation", "none")
    if act == "relu":
        return lambda: F.relu(F.conv2d(x, w, b, stride, pad, 1, groups), inplace=True)
    if act == "leakyRelu":
        return lambda: F.leaky_relu(F.conv2d(x, w, b, stride, pad, 1, groups), 0.01, inplace=True)
    return lambda: F.conv2d(x, w, b, stride, pad, 1, groups)


def group_norm(p, device):
    g = _gen()
    x = torch.randn(p["n"], p["c"], p["h"], p["w"], generator=g).to(device)
    wt = torch.rand(p["c"], generator=g).to(device)
    b = torch.randn(p["c"], generator=g).to(device)
    return lambda: F.relu(F.group_norm(x, p["groups"], wt, b, 1e-5), inplace=True)


def interpolate(p, device):
    g = _gen()
    x = torch.randn(p["n"], p["c"], p["h"], p["w"], generator=g).to(device)
    if "size" in p:
        return lambda: F.interpolate(x, size=tuple(p["size"]), mode=p["mode"],
                                     align_corners=False if p["mode"] == "bilinear" else None)
    return lambda: F.interpolate(x, scale_factor=p["scale"], mode=p["mode"],
                                 align_corners=False if p["mode"] == "bilinear" else None)


def max_pool2d(p, device):
    g = _gen()
    x = torch.randn(p["n"], p["c"], p["h"], p["w"], generator=g).to(device)
    return lambda: F.max_pool2d(x, p["k"], p["stride"], p["padding"])


BENCHES = {"conv2d": conv2d, "groupNorm": group_norm, "interpolate": interpolate, "maxPool2d": max_pool2d}
