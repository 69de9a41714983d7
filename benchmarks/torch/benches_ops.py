"""Brings the op authors' PyTorch benches onto the shared worker (benchmarks/torch/worker.py):
mask ops (conv_sigmoid, conv_masks, matrix_nms from mask_ops_bench.py) and twin attention
(twin_attention from twin_attention_bench.py). Those scripts keep their standalone modes (scripts/gpu-check.sh).
"""
import importlib.util
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


BENCHES = {}
BENCHES.update(_load("mask_ops_bench").BENCHES)
BENCHES.update(_load("twin_attention_bench").BENCHES)
