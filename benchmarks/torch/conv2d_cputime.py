"""CPU-time side of `benchmarks/conv2d_bench.mjs --cpu-time` (spawned by it).

On a shared, loaded machine wall time mostly measures the other processes;
the CPU time a single-threaded op consumes (time.process_time) does not. One
JSON command per line on stdin, one JSON answer per line on stdout:
  {"cmd": "setup", "params": {...}}   -> {"ok": true}        (as benches_conv2d.conv2d)
  {"cmd": "run", "reps": N}           -> {"ms": [...]}       (process CPU ms per call)
Run with Debian's torch (/usr/bin/python3), OMP_NUM_THREADS=1.
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benches_conv2d import conv2d  # noqa: E402

torch.set_num_threads(1)
torch.set_grad_enabled(False)
fn = None
for line in sys.stdin:
    msg = json.loads(line)
    if msg["cmd"] == "setup":
        fn = conv2d(msg["params"], "cpu")
        fn()
        reply = {"ok": True, "torch": torch.__version__, "threads": torch.get_num_threads()}
    elif msg["cmd"] == "run":
        ms = []
        for _ in range(int(msg.get("reps", 1))):
            t0 = time.process_time()
            fn()
            ms.append((time.process_time() - t0) * 1e3)
        reply = {"ms": ms}
    else:
        reply = {"error": "unknown command"}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
