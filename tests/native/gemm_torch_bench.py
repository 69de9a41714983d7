#!/usr/bin/env python3
"""Times torch.matmul on the GPU for the shapes of gemm_cuda_check's bench.

Prints one JSON line per case in the same format as gemm_cuda_check
("impl": "torch"), for side-by-side ratios with "impl": "sotr-cuda".
Precisions: fp32 (allow_tf32 False), tf32 (allow_tf32 True), bf16 and fp16
(operands converted once, outside the timing; fp32 output is not produced).
Exit 77 when torch or a CUDA device is missing.
"""
import json
import sys

SHAPES = [(4096, 4096, 4096), (256, 4096, 2304), (500, 67200, 256)]


def main() -> int:
    try:
        import torch
    except Exception as e:  # pragma: no cover
        print(f"torch not available ({e}): skipping")
        return 77
    if not torch.cuda.is_available():
        print("no CUDA device: skipping")
        return 77
    dev = torch.device("cuda")
    name = torch.cuda.get_device_name(0)
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 30
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
