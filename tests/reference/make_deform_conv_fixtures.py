"""Golden fixtures for deformConv2d (modulated deformable conv, DCNv2).

Regenerate: /usr/bin/python3 tests/reference/make_deform_conv_fixtures.py
The reference is written here in float64 from the rules of
docs (sotr-architecture.md §3.1, detectron2 / mmcv ModulatedDeformConv):
offset channel (g*kh*kw + t)*2 is dy, +1 is dx (tap t = i*kw + j), mask channel
g*kh*kw + t; sample at (oy*s - p + i*d + dy, ox*s - p + j*d + dx), bilinear,
zero unless -1 < h < H and -1 < w < W, each corner only when inside.
"""
import torch
import torch.nn.functional as F

from fixture_io import write_fixture

SEED = 3
torch.manual_seed(SEED)


def dcn_ref(x, offset, mask, weight, bias, stride, pad, dil, groups, dg):
    x = x.double()
    N, C, H, W = x.shape
    O, Cg, kh, kw = weight.shape
    Ho, Wo = offset.shape[2:]
    taps, cpdg = kh * kw, C // dg
    cols = torch.zeros(N, C, taps, Ho * Wo, dtype=torch.float64)
    oy = (torch.arange(Ho) * stride - pad).double().view(1, -1, 1)
    ox = (torch.arange(Wo) * stride - pad).double().view(1, 1, -1)
    for d in range(dg):
        xd = x[:, d * cpdg:(d + 1) * cpdg].reshape(N, cpdg, H * W)
        for t in range(taps):
            i, j = divmod(t, kw)
            dy = offset[:, (d * taps + t) * 2].double()
            dx = offset[:, (d * taps + t) * 2 + 1].double()
            h = oy + i * dil + dy
            w = ox + j * dil + dx
            valid = (h > -1) & (w > -1) & (h < H) & (w < W)
            hl, wl = torch.floor(h), torch.floor(w)
            lh, lw = h - hl, w - wl
            val = torch.zeros(N, cpdg, Ho * Wo, dtype=torch.float64)
            for cy, cx, wt in ((0, 0, (1 - lh) * (1 - lw)), (0, 1, (1 - lh) * lw), (1, 0, lh * (1 - lw)), (1, 1, lh * lw)):
                yy, xx = hl + cy, wl + cx
                inb = valid & (yy >= 0) & (yy < H) & (xx >= 0) & (xx < W)
                idx = (yy.clamp(0, H - 1) * W + xx.clamp(0, W - 1)).long().view(N, 1, -1).expand(N, cpdg, -1)
                val += torch.gather(xd, 2, idx) * (wt * inb).view(N, 1, -1)
            if mask is not None:
                val *= mask[:, d * taps + t].double().view(N, 1, -1)
            cols[:, d * cpdg:(d + 1) * cpdg, t] = val
    cols = cols.view(N, groups, Cg * taps, Ho * Wo)
    wg = weight.double().view(groups, O // groups, Cg * taps)
    out = torch.einsum("gok,ngkp->ngop", wg, cols).reshape(N, O, Ho, Wo)
    if bias is not None:
        out = out + bias.double().view(1, -1, 1, 1)
    return out


tensors, meta = {}, []
cases = [
    # name, N, C, H, W, O, k, stride, pad, dil, groups, dg, mask, bias, bn, act, offset scale
    ("basic", 1, 4, 7, 9, 5, 3, 1, 1, 1, 1, 1, True, True, False, "none", 1.5),
    ("stride2_dg2", 2, 6, 9, 11, 4, 3, 2, 1, 1, 1, 2, True, False, True, "relu", 2.0),
    ("dcnv1_dil2", 1, 3, 8, 7, 6, 3, 1, 2, 2, 1, 1, False, True, False, "none", 1.0),
    ("groups2", 1, 8, 6, 6, 10, 3, 1, 1, 1, 2, 2, True, True, False, "leakyRelu", 3.0),
    ("far", 1, 3, 5, 5, 3, 3, 1, 1, 1, 1, 1, True, False, False, "none", 6.0),
    ("integer", 1, 3, 6, 7, 4, 3, 1, 1, 1, 1, 1, True, False, False, "none", 0.0),
    ("rows130", 1, 12, 5, 6, 130, 3, 1, 1, 1, 1, 1, True, False, True, "relu", 1.0),
]
for name, N, C, H, W, O, k, s, p, d, groups, dg, has_mask, has_bias, bn, act, osc in cases:
    Ho = (H + 2 * p - d * (k - 1) - 1) // s + 1
    Wo = (W + 2 * p - d * (k - 1) - 1) // s + 1
    x = torch.randn(N, C, H, W)
    if osc > 0:
        off = torch.randn(N, 2 * dg * k * k, Ho, Wo) * osc
    else:  # whole-pixel shifts, including ones landing exactly on -1 and on H / W
        off = torch.randint(-2, 3, (N, 2 * dg * k * k, Ho, Wo)).float()
    mask = torch.rand(N, dg * k * k, Ho, Wo) if has_mask else None
    w = torch.randn(O, C // groups, k, k) / (C // groups * k * k) ** 0.5
    b = torch.randn(O) if has_bias else None
    y = dcn_ref(x, off, mask, w, b, s, p, d, groups, dg)
    if bn:
        scale, shift = torch.rand(O) + 0.5, torch.randn(O)
        tensors[f"{name}.scale"], tensors[f"{name}.shift"] = scale, shift
        y = y * scale.double().view(1, -1, 1, 1) + shift.double().view(1, -1, 1, 1)
    y = {"relu": F.relu, "leakyRelu": lambda v: F.leaky_relu(v, 0.01)}.get(act, lambda v: v)(y)
    tensors[f"{name}.x"], tensors[f"{name}.offset"], tensors[f"{name}.weight"] = x, off, w
    if mask is not None:
        tensors[f"{name}.mask"] = mask
    if b is not None:
        tensors[f"{name}.bias"] = b
    tensors[f"{name}.out"] = y.float()
    meta.append([name, s, p, d, groups, dg, has_mask, has_bias, bn, act])
write_fixture("deform_conv2d", tensors, "tests/reference/make_deform_conv_fixtures.py", SEED, cases=meta)
