"""Golden fixtures for the dense ops around the convolution engine:
maxPool2d / avgPool2d (pool.safetensors), groupNorm (group_norm.safetensors),
interpolate (interpolate.safetensors), linear (linear.safetensors) and the
element-wise ops (elementwise.safetensors).

Regenerate: /usr/bin/python3 tests/reference/make_dense_ops_fixtures.py
interpolate: outputs are torch's own float32 results (the test requires them
bit for bit, except cases marked loose: none now; C == 1 and 1x1 maps, where
torch runs its channels-last kernel and blend, are exact too).
"""
import torch
import torch.nn.functional as F

from fixture_io import write_fixture

SEED = 5
SCRIPT = "tests/reference/make_dense_ops_fixtures.py"

# ---------------------------------------------------------------- pools
torch.manual_seed(SEED)
t, cases = {}, []
pool_cases = [
    # name, kind, shape, kernel, stride, padding, dilation, ceil, countIncludePad
    ("stem", "max", (2, 3, 9, 11), 3, 2, 1, 1, False, True),
    ("p6", "max", (1, 4, 5, 7), 1, 2, 0, 1, False, True),
    ("ceil", "max", (1, 2, 7, 9), 2, 2, 0, 1, True, True),
    ("dil", "max", (1, 2, 10, 9), 3, 1, 1, 2, False, True),
    ("rect", "max", (1, 3, 8, 7), [3, 2], [2, 1], [1, 0], 1, False, True),
    ("avg2", "avg", (1, 5, 8, 10), 2, 2, 0, 1, False, True),
    ("avg3pad", "avg", (2, 3, 9, 7), 3, 2, 1, 1, False, True),
    ("avg3nopad", "avg", (2, 3, 9, 7), 3, 2, 1, 1, False, False),
    ("avgceil", "avg", (1, 2, 7, 9), 2, 2, 1, 1, True, True),
]
for name, kind, shape, k, s, p, d, ceil, cip in pool_cases:
    x = torch.randn(*shape)
    if kind == "max":
        y = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil)
    else:
        y = F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=cip)
    t[f"{name}.x"], t[f"{name}.out"] = x, y
    cases.append([name, kind, k, s, p, d, ceil, cip])
write_fixture("pool", t, SCRIPT, SEED, cases=cases)

# ---------------------------------------------------------------- groupNorm
torch.manual_seed(SEED)
t, cases = {}, []
gn_cases = [
    # name, shape, groups, affine, act, offset
    ("mask", (2, 8, 5, 7), 4, True, "relu", 0.0),
    ("pointmap", (1, 12, 1, 1), 3, True, "none", 0.0),
    ("noaffine", (2, 6, 4, 3), 2, False, "none", 0.0),
    ("rank3", (2, 6, 10), 3, True, "leakyRelu", 0.0),
    ("offset", (1, 8, 6, 6), 2, True, "none", 100.0),
    ("onegroup", (1, 5, 3, 4), 1, True, "relu", 0.0),
]
for name, shape, groups, affine, act, off in gn_cases:
    x = torch.randn(*shape) * 2 + off
    w = torch.rand(shape[1]) + 0.5 if affine else None
    b = torch.randn(shape[1]) if affine else None
    y = F.group_norm(x.double(), groups, w.double() if affine else None, b.double() if affine else None, 1e-5)
    if act == "relu":
        y = F.relu(y)
    elif act == "leakyRelu":
        y = F.leaky_relu(y, 0.01)
    t[f"{name}.x"], t[f"{name}.out"] = x, y.float()
    if affine:
        t[f"{name}.weight"], t[f"{name}.bias"] = w, b
    cases.append([name, groups, affine, act])
write_fixture("group_norm", t, SCRIPT, SEED, cases=cases)

# ---------------------------------------------------------------- interpolate
torch.manual_seed(SEED)
t, cases = {}, []
interp_cases = [
    # name, shape, size, scale, mode, alignCorners, loose
    ("up2_scale", (1, 3, 25, 42), None, 2.0, "bilinear", False, False),
    ("up2_size", (1, 3, 25, 42), [50, 84], None, "bilinear", False, False),
    ("grid40", (1, 2, 50, 84), [40, 40], None, "bilinear", False, False),
    ("grid36_tall", (1, 2, 84, 50), [36, 36], None, "bilinear", False, False),
    ("p6_to_p5", (1, 3, 13, 17), [25, 34], None, "bilinear", False, False),
    ("half_even", (1, 2, 20, 34), None, 0.5, "bilinear", False, False),
    ("half_odd", (2, 2, 9, 13), None, 0.5, "bilinear", False, False),
    ("scale17", (1, 2, 9, 13), None, 1.7, "bilinear", False, False),
    ("scale_hw", (1, 2, 9, 13), None, [1.5, 0.7], "bilinear", False, False),
    ("same_h", (1, 2, 6, 5), [6, 11], None, "bilinear", False, False),
    ("width1", (1, 2, 6, 1), [6, 4], None, "bilinear", False, False),
    ("to1x1", (1, 2, 5, 7), [1, 1], None, "bilinear", False, False),
    ("align", (1, 2, 7, 9), [13, 5], None, "bilinear", True, False),
    ("near_up2", (1, 3, 7, 9), [14, 18], None, "nearest", False, False),
    ("near_odd", (1, 2, 7, 9), [10, 5], None, "nearest", False, False),
    ("near_scale", (1, 2, 9, 13), None, 1.7, "nearest", False, False),
    ("near_down", (1, 2, 9, 13), None, 0.3, "nearest", False, False),
    ("from1x1", (2, 3, 1, 1), [5, 7], None, "bilinear", False, False),
    ("c1", (1, 1, 13, 17), [25, 34], None, "bilinear", False, False),
    ("c1_batch", (3, 1, 9, 13), [20, 7], None, "bilinear", False, False),
    ("c1_align", (1, 1, 7, 9), [13, 5], None, "bilinear", True, False),
]
for name, shape, size, scale, mode, align, loose in interp_cases:
    x = torch.randn(*shape)
    kw = {"mode": mode}
    if mode == "bilinear":
        kw["align_corners"] = align
    if size is not None:
        y = F.interpolate(x, size=tuple(size), **kw)
    else:
        y = F.interpolate(x, scale_factor=tuple(scale) if isinstance(scale, list) else scale, **kw)
    t[f"{name}.x"], t[f"{name}.out"] = x, y
    cases.append([name, size, scale, mode, align, loose])
write_fixture("interpolate", t, SCRIPT, SEED, cases=cases)

# ---------------------------------------------------------------- linear
torch.manual_seed(SEED)
t, cases = {}, []
lin_cases = [
    # name, xshape, out, bias, act
    ("heads", (3, 5, 17), 11, True, "relu"),
    ("vector", (7,), 3, False, "none"),
    ("rank4", (2, 3, 4, 33), 20, True, "leakyRelu"),
    ("cate", (12, 12, 64), 80, True, "sigmoid"),
]
for name, xs, out, bias, act in lin_cases:
    x = torch.randn(*xs)
    w = torch.randn(out, xs[-1]) / xs[-1] ** 0.5
    b = torch.randn(out) if bias else None
    y = F.linear(x.double(), w.double(), b.double() if bias else None)
    y = {"relu": F.relu, "leakyRelu": lambda v: F.leaky_relu(v, 0.01), "sigmoid": torch.sigmoid}.get(act, lambda v: v)(y)
    t[f"{name}.x"], t[f"{name}.weight"], t[f"{name}.out"] = x, w, y.float()
    if bias:
        t[f"{name}.bias"] = b
    cases.append([name, bias, act])
write_fixture("linear", t, SCRIPT, SEED, cases=cases)

# ---------------------------------------------------------------- element-wise
torch.manual_seed(SEED)
t = {}
a = torch.randn(2, 3, 4, 5)
b = torch.randn(3, 1, 5)
c = torch.randn(4, 1)
d = torch.randn(1, 6)
e = torch.rand(2, 3, 4, 5) + 0.5
t["a"], t["b"], t["c"], t["d"], t["e"] = a, b, c, d, e
t["add_bcast"] = a + b
t["add_alpha"] = torch.add(a, e, alpha=0.5)
t["sub_bcast"] = torch.sub(a, b, alpha=2.0)
t["mul_outer"] = c * d
t["div_same"] = a / e
t["add_scalar"] = a + 1.5
t["mul_scalar"] = a * -0.25
t["relu"] = F.relu(a)
t["leaky"] = F.leaky_relu(a, 0.2)
t["sigmoid"] = torch.sigmoid(a * 4)
x = torch.randn(1, 3, 4, 5)
t["x"] = x
t["cat_w"] = torch.cat((x, x), -1)
t["cat_c"] = torch.cat((x, a[:1], x[:, :2]), 1)
t["slice_w"] = x[..., 1:4]
z = torch.randn(2, 3, 4, 10)
t["z"] = z
t["halves"] = torch.stack(z.chunk(2, -1)).mean(0)
write_fixture("elementwise", t, SCRIPT, SEED)
