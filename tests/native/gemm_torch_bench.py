#!/usr/bin/env python3
"""Times torch.matmul on the GPU for the shapes of gemm_cuda_check's bench.

Prints one JSON line per case in the same format as gemm_cuda_check
("impl": "torch"), for side-by-side ratios with "impl": "sotr-cuda".
Precisions: fp32 (allow_tf32 False), tf32 (allow_tf32 True), bf16 and fp16
(operands converted once, outside the timing; fp32 output is not produced).
Exit 77 when torch or a CUDA device is missing (or --device is not cuda).

  python3 tests/native/gemm_torch_bench.py [REPS] [--reps N] [--device cuda]
REPS (the old positional form) or --reps: the most timed runs per case (default 30; fewer where one run is long).
--device: what scripts/gpu-check.sh passes to every PyTorch benchmark; only cuda is timed here.
"""
import argparse
import json
import sys

SHAPES = [(4096, 4096, 4096), (256, 4096, 2304), (500, 67200, 256)]


def parse_args(argv):
    ap = argparse.ArgumentParser(description="torch.matmul on the GPU for the shapes of gemm_cuda_check's bench")
    ap.add_argument("reps_pos", nargs="?", type=int, default=None, metavar="REPS", help="same as --reps")
    ap.add_argument("--reps", type=int, default=None, help="the most timed runs per case (default 30)")
    ap.add_argument("--device", default="cuda", help="cuda (anything else: skipped, exit 77)")
    a = ap.parse_args(argv)
    a.reps = a.reps if a.reps is not None else a.reps_pos if a.reps_pos is not None else 30
    return a


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # Skips go to stderr: stdout is JSON lines only (gpu-check.sh appends it to bench.jsonl).
    if not args.device.startswith("cuda"):
        print(f"--device {args.device}: this benchmark times CUDA only: skipping", file=sys.stderr)
        return 77
    try:
        import torch
    except Exception as e:  # pragma: no cover
        print(f"torch not available ({e}): skipping", file=sys.stderr)
        return 77
    if not torch.cuda.is_available():
        print("no CUDA device: skipping", file=sys.stderr)
        return 77
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev)
    reps = args.reps
    for (M, N, K) in SHAPES:
        g = torch.Generator(device=dev).manual_seed(1234 + M + N)
        a32 = torch.rand((M, K), device=dev, generator=g) * 2 - 1
        b32 = torch.rand((K, N), device=dev, generator=g) * 2 - 1
        ref = (a32.double() @ b32.double())
        for prec in ("fp32", "tf32", "bf16", "fp16"):
            torch.backends.cuda.matmul.allow_tf32 = prec == "tf32"
            torch.backends.cudnn.allow_tf32 = prec == "tf32"
            if prec in ("fp32", "tf32"):
                a, b = a32, b32
            elif prec == "bf16":
                a, b = a32.bfloat16(), b32.bfloat16()
            else:
                a, b = a32.half(), b32.half()
            out = torch.matmul(a, b)
            torch.cuda.synchronize()
            err = (out.double() - ref)
            nmse = float((err * err).sum() / (ref * ref).sum())
            torch.matmul(a, b)  # warm-up
            e0 = torch.cuda.Event(enable_timing=True)
            e1 = torch.cuda.Event(enable_timing=True)
            e0.record()
            torch.matmul(a, b)
            e1.record()
            torch.cuda.synchronize()
            first = e0.elapsed_time(e1)
            n = max(3, min(reps, int(300.0 / first))) if first > 0 else reps
            ts = []
            for _ in range(n):
                e0.record()
                torch.matmul(a, b)
                e1.record()
                e1.synchronize()
                ts.append(e0.elapsed_time(e1))
            ts.sort()
            ms = ts[len(ts) // 2]
            tflops = 2.0 * M * N * K / (ms * 1e-3) / 1e12
            print(json.dumps({
                "suite": "gemm", "impl": "torch", "kind": "bench", "precision": prec,
                "tile": "torch", "M": M, "N": N, "K": K, "batch": 1, "ms": round(ms, 4),
                "gflops": round(tflops * 1e3, 1), "tflops": round(tflops, 2),
                "sampled_nmse": nmse, "ok": True, "device": name,
                "torch": torch.__version__,
            }), flush=True)
        del a32, b32, ref
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
