"""Golden fixtures for twinAttention (one twin-attention sub-layer of SOTR).

Regenerate: /usr/bin/python3 tests/reference/make_twin_attention_fixtures.py

The reference mirrors the released transformer (adet/modeling/sotr/transformer.py,
itself lucidrains' axial attention): PermuteToFrom moves the attended axis next to
the channels and flattens the rest into the batch, SelfAttention runs nn.Linear
to_q / to_kv / to_out, splits heads, einsum, softmax, einsum; ReZero multiplies
each branch by its gate. Computed in float64, stored as float32.

Fixture size: weights of C = 256 alone would be 2 MB, so x and all weights come
from a small integer generator (xorshift32, exact in float32) that the test
re-implements: the fixture stores x (so the test can check its generator bit for
bit), the outputs of both modes, and per case the seeds and scales.
"""
import torch
import torch.nn as nn

from fixture_io import write_fixture

SEED = 2021
M32 = 0xFFFFFFFF


def xorshift_values(seed, n, scale):
    """n float32 values ((s >> 8) - 2^23) / 2^23 * scale (exact), s from xorshift32."""
    s = (seed * 2654435761 + 12345) & M32 or 1
    out = []
    for i in range(n + 8):
        s ^= (s << 13) & M32
        s ^= s >> 17
        s ^= (s << 5) & M32
        if i >= 8:  # skip the first, poorly mixed outputs
            out.append(((s >> 8) - (1 << 23)) / float(1 << 23) * scale)
    return torch.tensor(out, dtype=torch.float32)


class SelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.dim_heads = dim // heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x):
        q, k, v = (self.to_q(x), *self.to_kv(x).chunk(2, dim=-1))
        b, t, d, h, e = *q.shape, self.heads, self.dim_heads

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


class Rezero(nn.Module):
    def __init__(self, fn, g):
        super().__init__()
        self.fn = fn
        self.g = g

    def forward(self, x):
        return self.fn(x) * self.g


def twin_layer(C, heads, tensors, g_col, g_row):
    col = PermuteToFrom([0, 3, 2, 1], SelfAttention(C, heads))  # columns: sequences of H tokens
    row = PermuteToFrom([0, 2, 3, 1], SelfAttention(C, heads))  # rows: sequences of W tokens
    for m, prefix in ((col.fn, "col"), (row.fn, "row")):
        m.to_q.weight.data.copy_(tensors[prefix + ".q"])
        m.to_kv.weight.data.copy_(tensors[prefix + ".kv"])
        m.to_out.weight.data.copy_(tensors[prefix + ".out"])
        m.to_out.bias.data.copy_(tensors[prefix + ".outBias"])
    return Rezero(col, g_col).double(), Rezero(row, g_row).double()


# name, B, C, H, W, heads, weight scale (a power of two near 1/sqrt(C)), gCol, gRow
CASES = [
    ("sotr256", 1, 256, 5, 9, 8, 1 / 16, 0.75, -0.5),
    ("grid", 1, 32, 12, 24, 4, 1 / 4, 0.625, 0.375),
    ("small", 2, 12, 7, 10, 3, 1 / 4, 0.5, -0.75),
    ("small_b", 2, 12, 7, 10, 3, 1 / 2, -0.25, 0.875),
    ("h1", 1, 16, 1, 13, 2, 1 / 4, 0.5, 0.5),
    ("w1", 2, 8, 11, 1, 4, 1 / 2, 0.875, -0.375),
    ("hw1", 1, 8, 1, 1, 1, 1 / 2, 0.5, 0.25),
    ("tall", 1, 20, 40, 3, 5, 1 / 4, -0.625, 0.5),
]
# Generator seeds: x, then col.q, col.kv, col.out, col.outBias, row.q, ... (8 weights).
WEIGHTS = ["col.q", "col.kv", "col.out", "col.outBias", "row.q", "row.kv", "row.out", "row.outBias"]


def shapes(C):
    return {"q": [C, C], "kv": [2 * C, C], "out": [C, C], "outBias": [C]}


tensors = {}
meta_cases = []
for ci, (name, B, C, H, W, heads, scale, g_col, g_row) in enumerate(CASES):
    base = SEED * 100 + ci * 16
    x = xorshift_values(base, B * C * H * W, 1.0).reshape(B, C, H, W)
    w = {}
    for wi, key in enumerate(WEIGHTS):
        shp = shapes(C)[key.split(".")[1]]
        n = 1
        for s in shp:
            n *= s
        w[key] = xorshift_values(base + 1 + wi, n, scale).reshape(shp)
    col, row = twin_layer(C, heads, w, g_col, g_row)
    with torch.no_grad():
        xd = x.double()
        y_par = xd + col(xd) + row(xd)  # the released code: both branches on the same input
        t = xd + col(xd)
        y_seq = t + row(t)  # the paper's text
        # How far float32 PyTorch is from the float64 golden (printed for the record).
        col32, row32 = twin_layer(C, heads, w, g_col, g_row)
        col32, row32 = col32.float(), row32.float()
        y32 = x + col32(x) + row32(x)
        err = ((y32.double() - y_par) ** 2).mean() / (y_par ** 2).mean()
    print(f"{name}: B={B} C={C} H={H} W={W} heads={heads}  torch fp32 vs fp64 nmse {err.item():.2e}")
    tensors[f"{name}.x"] = x
    tensors[f"{name}.parallel"] = y_par.float()
    tensors[f"{name}.sequential"] = y_seq.float()
    meta_cases.append([name, B, C, H, W, heads, scale, g_col, g_row, base])

path = write_fixture(
    "twin_attention",
    tensors,
    "tests/reference/make_twin_attention_fixtures.py",
    SEED,
    cases=meta_cases,
    weights=WEIGHTS,
    generator="xorshift32: s = (seed*2654435761+12345) mod 2^32 (0 -> 1); s ^= s<<13; s ^= s>>17; s ^= s<<5; "
    "skip 8; value = ((s>>8) - 2^23) / 2^23 * scale; x uses seed base, weight i seed base+1+i",
)
print("wrote", path)
