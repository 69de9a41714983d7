"""PyTorch side of the twin-attention benchmark (benchmarks/twin_attention_bench.mjs).

One twin-attention sub-layer as the released SOTR code runs it (lucidrains'
axial attention: permute to sequences, nn.Linear to_q / to_kv / to_out,
einsum, softmax, einsum, permute back, ReZero gates):
    parallel:   y = x + gCol·ColMHA(x) + gRow·RowMHA(x)
    sequential: t = x + gCol·ColMHA(x); y = t + gRow·RowMHA(t)

The modules are tests/reference/sotr_reference.py's (the parity tests' reference).
The Node benchmark runs BENCHES through the shared worker (worker.py, benches_ops.py).
Standalone:
  python3 twin_attention_bench.py --device cpu|cuda [--reps N] [--quick]
      standalone: prints one JSON line per case (median ms), for the GPU check
      script (scripts/gpu-check.sh runs benchmarks/torch/*.py --device cuda).
      On CUDA each case runs in fp32 (TF32 off), tf32, bf16 and fp16, with the
      module as released ("module") and with scaled_dot_product_attention
      ("sdpa", torch >= 2.0) for the attention core.
Threads: SOTR_NUM_THREADS / OMP_NUM_THREADS pin torch.set_num_threads.
"""
import argparse
import json
import os

import torch
import torch.nn.functional as F

from timing import time_reps, torch_config
from sotr_reference import AxialPermute, SelfAttention

DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class SdpaSelfAttention(SelfAttention):
    """The reference module with its attention core replaced by F.scaled_dot_product_attention (the GPU baseline)."""

    def forward(self, x):
        b, t, d = x.shape
        h, e = self.heads, self.e
        q = self.to_q(x)
        k, v = self.to_kv(x).chunk(2, dim=-1)
        q, k, v = (y.reshape(b, t, h, e).transpose(1, 2) for y in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        return self.to_out(out)


def twin_attention(p, device):
    """Benchmark factory (worker.py convention): returns a callable running one sub-layer."""
    B, C, H, W = p["B"], p.get("C", 256), p["H"], p["W"]
    heads = p.get("heads", 8)
    mode = p.get("mode", "parallel")
    precision = p.get("precision", "fp32")
    sdpa = p.get("variant", "module") == "sdpa"
    torch.manual_seed(0)
    attention = SdpaSelfAttention if sdpa else SelfAttention
    col = AxialPermute([0, 3, 2, 1], attention(C, heads))
    row = AxialPermute([0, 2, 3, 1], attention(C, heads))
    dt = DTYPES[precision]
    col = col.to(device=device, dtype=dt).eval()
    row = row.to(device=device, dtype=dt).eval()
    x = torch.randn(B, C, H, W, device=device, dtype=dt)
    g_col, g_row = 0.5, -0.25
    tf32 = precision == "tf32"

    def run():
        prev = torch.backends.cuda.matmul.allow_tf32 if device == "cuda" else None
        if device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = tf32
        with torch.no_grad():
            if mode == "parallel":
                y = x + g_col * col(x) + g_row * row(x)
            else:
                t = x + g_col * col(x)
                y = t + g_row * row(t)
        if device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = prev
        return y

    return run


BENCHES = {"twin_attention": twin_attention}

# SOTR's width-doubled grids (sotr-architecture.md §6.4).
GRIDS = [(40, 80), (36, 72), (24, 48)]


def pin_threads():
    n = int(os.environ.get("SOTR_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "0")) or 0)
    if n > 0:
        torch.set_num_threads(n)
    torch.set_grad_enabled(False)


def config():
    return {**torch_config(), "benches": sorted(BENCHES)}


def standalone(device, reps, quick):
    if device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"bench": "twin_attention", "error": "CUDA not available"}))
        return
    cfg = config()
    precisions = ["fp32", "tf32", "bf16", "fp16"] if device == "cuda" else ["fp32"]
    variants = ["module", "sdpa"] if device == "cuda" and hasattr(F, "scaled_dot_product_attention") else ["module"]
    grids = GRIDS[:1] if quick else GRIDS
    for B in (1, 8):
        for H, W in grids:
            for precision in precisions:
                for variant in variants:
                    p = {"B": B, "C": 256, "H": H, "W": W, "heads": 8, "precision": precision, "variant": variant}
                    try:
                        fn = twin_attention(p, device)
                        for _ in range(3):
                            fn()
                        ms = time_reps(fn, reps, device)
                        ms.sort()
                        med = ms[len(ms) // 2]
                        flops = B * (16 * 256 * 256 * H * W + 4 * 256 * H * W * (H + W))
                        row = {"bench": "twin_attention", "device": device, "params": p, "torch_ms": med,
                               "torch_min_ms": ms[0], "gflops": flops / med / 1e6, "torch": cfg["torch"],
                               "threads": cfg["threads"], "device_name": cfg["device_name"]}
                    except Exception as e:
                        row = {"bench": "twin_attention", "device": device, "params": p, "error": f"{type(e).__name__}: {e}"}
                    print(json.dumps(row), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    pin_threads()
    standalone(a.device, a.reps, a.quick)


if __name__ == "__main__":
    main()
