"""Golden fixtures for matmul (the public face of the GEMM core).

Regenerate: /usr/bin/python3 tests/reference/make_matmul_fixtures.py
"""
import torch
import torch.nn.functional as F

from fixture_io import write_fixture

SEED = 7
torch.manual_seed(SEED)
tensors = {}
cases = [
    # name, batchA, batchB, M, N, K, transA, transB, bias, act
    ("odd", 0, 0, 33, 17, 29, False, False, True, "leakyRelu"),
    ("tt", 0, 0, 5, 9, 70, True, True, False, "relu"),
    ("batch", 3, 0, 12, 11, 10, False, True, True, "none"),
]
for name, ba, bb, M, N, K, ta, tb, bias, act in cases:
    a = torch.randn(*( [ba] if ba else []), *((K, M) if ta else (M, K)))
    b = torch.randn(*( [bb] if bb else []), *((N, K) if tb else (K, N)))
    y = torch.matmul(a.transpose(-1, -2) if ta else a, b.transpose(-1, -2) if tb else b)
    if bias:
        bv = torch.randn(N)
        y = y + bv
        tensors[f"{name}.bias"] = bv
    y = y * 0.5
    if act == "relu":
        y = F.relu(y)
    elif act == "leakyRelu":
        y = F.leaky_relu(y, 0.01)
    tensors[f"{name}.a"] = a
    tensors[f"{name}.b"] = b
    tensors[f"{name}.out"] = y
write_fixture("matmul", tensors, "tests/reference/make_matmul_fixtures.py", SEED,
              cases=[list(c) for c in cases], alpha=0.5)
