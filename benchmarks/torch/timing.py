"""Timing and configuration helpers shared by the PyTorch side of the benchmarks (worker.py and the standalone
modes of mask_ops_bench.py / twin_attention_bench.py), and the path to the PyTorch reference of SOTR."""
import os
import sys
import time

import torch

# tests/reference: sotr_reference.py (the reference modules the benchmarks time).
REFERENCE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "reference")
if REFERENCE_DIR not in sys.path:
    sys.path.insert(0, REFERENCE_DIR)


def time_reps(fn, reps, device, cpu=None):
    """Per-rep wall (CPU) or CUDA-event (GPU) milliseconds; appends per-rep process CPU ms to `cpu` if given."""
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


def torch_config():
    """torch version, threads, BLAS, oneDNN, CUDA device: recorded beside every benchmark row."""
    blas = "unknown"
    for item in torch.__config__.show().replace("\n", ",").split(","):
        if "BLAS_INFO=" in item:
            blas = item.split("BLAS_INFO=")[-1].strip()
            break
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "cuda": torch.cuda.is_available(),
        "device_name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
