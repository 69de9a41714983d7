"""PyTorch side of the twin-attention benchmark (benchmarks/twin_attention_bench.mjs).

One twin-attention sub-layer as the released SOTR code runs it (lucidrains'
axial attention: permute to sequences, nn.Linear to_q / to_kv / to_out,
einsum, softmax, einsum, permute back, ReZero gates):
    parallel:   y = x + gCol·ColMHA(x) + gRow·RowMHA(x)
    sequential: t = x + gCol·ColMHA(x); y = t + gRow·RowMHA(t)

Modes:
  python3 twin_attention_bench.py --serve
      the JSON-lines protocol of benchmarks/torch/worker.py (config / setup /
      run / free), used by the Node benchmark to interleave ours and PyTorch's;
      "run" also answers "cpu_ms": the process CPU time of each rep.
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
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class SelfAttention(nn.Module):
    def __init__(self, dim, heads, sdpa=False):
        super().__init__()
        self.heads = heads
        self.dim_heads = dim // heads
        self.sdpa = sdpa
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x):
        q, k, v = (self.to_q(x), *self.to_kv(x).chunk(2, dim=-1))
        b, t, d, h, e = *q.shape, self.heads, self.dim_heads
        if self.sdpa:
            q, k, v = (y.reshape(b, t, h, e).transpose(1, 2) for y in (q, k, v))
            out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
            return self.to_out(out)

        def merge_heads(y):
            return y.reshape(b, -1, h, e).transpose(1, 2).reshape(b * h, -1, e)

        q, k, v = map(merge_heads, (q, k, v))
        dots = torch.einsum("bie,bje->bij", q, k) * (e ** -0.5)
        dots = dots.softmax(dim=-1)
        out = torch.einsum("bij,bje->bie", dots, v)
        out = out.reshape(b, h, -1, e).transpose(1, 2).reshape(b, -1, d)
        return self.to_out(out)


class PermuteToFrom(nn.Module):
    def __init__(self, permutation, fn):
        super().__init__()
        self.fn = fn
        self.permutation = permutation
        self.inv_permutation = [permutation.index(i) for i in range(len(permutation))]

    def forward(self, x):
        axial = x.permute(*self.permutation).contiguous()
        shape = axial.shape
        *_, t, d = shape
        axial = self.fn(axial.reshape(-1, t, d))
        return axial.reshape(*shape).permute(*self.inv_permutation).contiguous()


def twin_attention(p, device):
    """Benchmark factory (worker.py convention): returns a callable running one sub-layer."""
    B, C, H, W = p["B"], p.get("C", 256), p["H"], p["W"]
    heads = p.get("heads", 8)
    mode = p.get("mode", "parallel")
    precision = p.get("precision", "fp32")
    sdpa = p.get("variant", "module") == "sdpa"
    torch.manual_seed(0)
    col = PermuteToFrom([0, 3, 2, 1], SelfAttention(C, heads, sdpa))
    row = PermuteToFrom([0, 2, 3, 1], SelfAttention(C, heads, sdpa))
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
    blas = "unknown"
    for line in torch.__config__.show().splitlines():
        if "BLAS_INFO" in line or "LAPACK_INFO" in line:
            blas = line.strip()
            break
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas,
        "cuda": torch.cuda.is_available(),
        "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "benches": sorted(BENCHES),
    }


def time_reps(fn, reps, device, cpu=None):
    """Per-rep wall (or CUDA event) ms; appends per-rep process CPU ms to `cpu` if given."""
    out = []
    for _ in range(reps):
        c0 = time.process_time()
        if device == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            out.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - c0) * 1000)
    return out


def serve():
    live, next_id = {}, 1
    for line in sys.stdin:
        try:
            msg = json.loads(line)
            cmd = msg["cmd"]
            if cmd == "config":
                reply = config()
            elif cmd == "setup":
                fn = BENCHES[msg["bench"]](msg.get("params", {}), msg.get("device", "cpu"))
                fn()
                live[next_id] = (fn, msg.get("device", "cpu"))
                reply = {"id": next_id}
                next_id += 1
            elif cmd == "run":
                fn, device = live[msg["id"]]
                cpu = []
                reply = {"ms": time_reps(fn, int(msg.get("reps", 1)), device, cpu), "cpu_ms": cpu}
            elif cmd == "free":
                live.pop(msg["id"], None)
                reply = {"ok": True}
            else:
                reply = {"error": "unknown command " + cmd}
        except Exception as e:  # report, keep serving
            reply = {"error": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


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
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    pin_threads()
    if a.serve:
        serve()
    else:
        standalone(a.device, a.reps, a.quick)


if __name__ == "__main__":
    main()
