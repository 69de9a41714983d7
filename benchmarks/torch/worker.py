"""PyTorch side of the side-by-side benchmarks (see benchmarks/harness.mjs).

Reads one JSON command per line on stdin, answers one JSON line on stdout:
  {"cmd": "config"}                              -> torch version, threads, BLAS, TF32 flags
  {"cmd": "setup", "bench": NAME, "params": {...}, "device": "cpu"|"cuda"} -> {"id": K}
  {"cmd": "run", "id": K, "reps": N}             -> {"ms": [...], "cpu_ms": [...], "maxrss_kb": R}
                                                   (each rep timed alone; cpu_ms: process CPU time per rep;
                                                   maxrss_kb: this process's peak RSS so far, ru_maxrss)
  {"cmd": "free", "id": K}
A bench callable may carry an `info` dict (e.g. the end-to-end candidate counts); setup answers it after the
warm-up run.
Benchmarks are functions registered in benchmarks/torch/benches*.py modules:
  BENCHES[name](params, device) -> a zero-argument callable running the op once.
"""
import glob
import importlib.util
import json
import os
import resource
import sys

import torch

from timing import time_reps, torch_config

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHES = {}
for path in sorted(glob.glob(os.path.join(HERE, "benches*.py"))):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    BENCHES.update(getattr(mod, "BENCHES", {}))

threads = int(os.environ.get("SOTR_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "0")) or 0)
if threads > 0:
    torch.set_num_threads(threads)
torch.set_grad_enabled(False)
tf32 = os.environ.get("SOTR_BENCH_TORCH_TF32", "0") == "1"
if torch.cuda.is_available():
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32

live = {}
next_id = 1


def config():
    cfg = torch.__config__.show()
    # The BLAS actually loaded (Debian's torch says "generic" and links libblas.so.3, an alternative).
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    libs = []
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                p = line.split()[-1]
                if ("blas" in p.lower() or "lapack" in p.lower()) and p.startswith("/") and p not in libs:
                    libs.append(os.path.realpath(p))
    except OSError:
        pass
    return {
        **torch_config(),
        "blas_libs": sorted(set(libs)),
        "tf32": tf32,
        "benches": sorted(BENCHES),
        "num_interop_threads": torch.get_num_interop_threads(),
        "env": {k: os.environ.get(k) for k in ("SOTR_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
        "parallel_info": torch.__config__.parallel_info(),
        "config_show": cfg,
        "maxrss_kb": maxrss_kb(),
    }


def maxrss_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


for line in sys.stdin:
    try:
        msg = json.loads(line)
        cmd = msg["cmd"]
        if cmd == "config":
            reply = config()
        elif cmd == "setup":
            fn = BENCHES[msg["bench"]](msg.get("params", {}), msg.get("device", "cpu"))
            fn()  # warm-up
            live[next_id] = (fn, msg.get("device", "cpu"))
            reply = {"id": next_id, "maxrss_kb": maxrss_kb()}
            if getattr(fn, "info", None) is not None:
                reply["info"] = fn.info
            next_id += 1
        elif cmd == "run":
            fn, device = live[msg["id"]]
            cpu = []
            reply = {"ms": time_reps(fn, int(msg.get("reps", 1)), device, cpu), "cpu_ms": cpu, "maxrss_kb": maxrss_kb()}
            if device == "cuda":
                reply["cuda_max_allocated"] = torch.cuda.max_memory_allocated()
        elif cmd == "free":
            live.pop(msg["id"], None)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            reply = {"ok": True}
        else:
            reply = {"error": "unknown command " + cmd}
    except Exception as e:  # report, keep serving
        reply = {"error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
