"""A PyTorch reference of SOTR inference (../shared/docs/sotr-architecture.md), written for the parity tests.

It mirrors the released code's module structure, so a state_dict of the official key names loads into it with
strict=True: detectron2 v0.2.1's ResNet (FrozenBN, stride in the 1x1, DCNv2 blocks detected per block) and FPN
(LastLevelMaxPool), SOTR's TwinTransformerHead (lucidrains-style axial attention: each axis permuted to a sequence,
ReZero gates, the input concatenated with itself along the width and the halves averaged), MaskHead, and the
inference of SOTR.inference_single_image with the same F.interpolate calls.

Written from the specification; no code of the original projects is copied. The one deliberate difference: sorts
break ties by (score descending, candidate index ascending) (torch.sort(stable=True)), the rule the library
documents, where the original argsort is unstable.

Usage (Debian's torch):  /usr/bin/python3 tests/reference/sotr_reference.py <checkpoint> <image> [--min-size N]
"""
import math
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PIXEL_MEAN = [103.530, 116.280, 123.675]
PIXEL_STD = [1.0, 1.0, 1.0]


class Config:
    """The official constants (each overridable) plus the structure read from a state_dict."""

    def __init__(self, sd=None, spec=None, **over):
        self.heads = 8
        self.gn_groups = 32
        self.gn_eps = 1e-5
        self.bn_eps = 1e-5
        self.num_grids = [40, 36, 24, 16, 12]
        self.instance_strides = [8, 8, 16, 32, 32]
        self.stride_in_1x1 = True
        self.min_size = 800
        self.max_size = 1333
        self.size_divisibility = 32
        self.score_thr = 0.1
        self.mask_thr = 0.5
        self.nms_pre = 500
        self.nms_kernel = "gaussian"
        self.nms_sigma = 2.0
        self.update_thr = 0.05
        self.max_per_img = 100
        if spec is not None:
            for k, v in spec.items():
                setattr(self, k, v)
            self.dcn = spec.get("dcn") or [[False] * n for n in self.blocks]
            for k, v in over.items():
                if v is not None:
                    setattr(self, k, v)
            return
        pre = "backbone.bottom_up."
        self.blocks = []
        self.dcn = []
        for s in range(2, 6):
            n = 0
            while f"{pre}res{s}.{n}.conv1.weight" in sd:
                n += 1
            self.blocks.append(n)
            self.dcn.append([f"{pre}res{s}.{b}.conv2_offset.weight" in sd for b in range(n)])
        self.stem = sd[pre + "stem.conv1.weight"].shape[0]
        self.bottleneck = [sd[f"{pre}res{s}.0.conv1.weight"].shape[0] for s in range(2, 6)]
        self.out = [sd[f"{pre}res{s}.0.conv3.weight"].shape[0] for s in range(2, 6)]
        self.fpn = sd["backbone.fpn_lateral2.weight"].shape[0]
        t = 0
        while f"cate_head.transformer.layers.blocks.{2 * t}.0.fn.g" in sd:
            t += 1
        self.depth = t
        self.classes = sd["cate_head.cate_pred.weight"].shape[0]
        self.num_kernels = sd["cate_head.kernel_pred.weight"].shape[0]
        self.mask_channels = sd["mask_head.convs_all_levels.0.conv0.0.weight"].shape[0]
        self.num_masks = sd["mask_head.conv_pred.0.weight"].shape[0]
        for k, v in over.items():
            if v is not None:
                setattr(self, k, v)


# ------------------------------------------------------------------------------------------ backbone

class FrozenBN(nn.Module):
    def __init__(self, c, eps):
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(c))
        self.register_buffer("bias", torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c) - eps)

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)


class ConvNorm(nn.Conv2d):
    """detectron2's Conv2d wrapper: conv (no bias) → FrozenBN, as `<name>.weight` + `<name>.norm.*`."""

    def __init__(self, cin, cout, k, stride, pad, eps):
        super().__init__(cin, cout, k, stride=stride, padding=pad, bias=False)
        self.norm = FrozenBN(cout, eps)

    def forward(self, x):
        return self.norm(super().forward(x))


def modulated_deform_conv(x, offset, mask, weight, stride, pad, dil, groups):
    """DCNv2 (§3.1): tap k = i·3 + j reads offset channels 2k (dy), 2k+1 (dx) and mask channel k; bilinear
    sampling with zeros outside (a sample needs -1 < h < H and -1 < w < W; each corner only if inside)."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    ho, wo = offset.shape[-2:]
    kk = kh * kw
    cpg = c // groups
    cols = x.new_zeros(n, c, kk, ho, wo)
    base_y = (torch.arange(ho, dtype=torch.float32, device=x.device) * stride - pad).view(ho, 1)
    base_x = (torch.arange(wo, dtype=torch.float32, device=x.device) * stride - pad).view(1, wo)
    for g in range(groups):
        xg = x[:, g * cpg:(g + 1) * cpg].reshape(n, cpg, h * w)
        for i in range(kh):
            for j in range(kw):
                k = i * kw + j
                py = base_y + i * dil + offset[:, g * 2 * kk + 2 * k]
                px = base_x + j * dil + offset[:, g * 2 * kk + 2 * k + 1]
                valid = (py > -1) & (px > -1) & (py < h) & (px < w)
                y0 = torch.floor(py)
                x0 = torch.floor(px)
                ly = py - y0
                lx = px - x0
                y0 = y0.long()
                x0 = x0.long()
                acc = x.new_zeros(n, cpg, ho, wo)
                for dy, dx, wt in ((0, 0, (1 - ly) * (1 - lx)), (0, 1, (1 - ly) * lx), (1, 0, ly * (1 - lx)), (1, 1, ly * lx)):
                    yy = y0 + dy
                    xx = x0 + dx
                    inside = valid & (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
                    idx = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).view(n, 1, ho * wo).expand(n, cpg, ho * wo)
                    v = torch.gather(xg, 2, idx).view(n, cpg, ho, wo)
                    acc = acc + v * (wt * inside).unsqueeze(1)
                cols[:, g * cpg:(g + 1) * cpg, k] = acc * mask[:, g * kk + k].unsqueeze(1)
    out = torch.matmul(weight.reshape(o, c * kk), cols.reshape(n, c * kk, ho * wo))
    return out.view(n, o, ho, wo)


class DeformConvNorm(nn.Module):
    def __init__(self, cin, cout, stride, eps, groups):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(cout, cin, 3, 3))
        self.norm = FrozenBN(cout, eps)
        self.stride = stride
        self.groups = groups

    def forward(self, x, offset, mask):
        return self.norm(modulated_deform_conv(x, offset, mask, self.weight, self.stride, 1, 1, self.groups))


class Bottleneck(nn.Module):
    def __init__(self, cin, bott, cout, stride, cfg, dcn, dcn_groups=1):
        super().__init__()
        eps = cfg.bn_eps
        s1, s3 = (stride, 1) if cfg.stride_in_1x1 else (1, stride)
        if cin != cout:
            self.shortcut = ConvNorm(cin, cout, 1, stride, 0, eps)
        else:
            self.shortcut = None
        self.conv1 = ConvNorm(cin, bott, 1, s1, 0, eps)
        self.dcn = dcn
        if dcn:
            self.conv2_offset = nn.Conv2d(bott, 27 * dcn_groups, 3, stride=s3, padding=1)
            self.conv2 = DeformConvNorm(bott, bott, s3, eps, dcn_groups)
        else:
            self.conv2 = ConvNorm(bott, bott, 3, s3, 1, eps)
        self.conv3 = ConvNorm(bott, cout, 1, 1, 0, eps)

    def forward(self, x):
        out = F.relu_(self.conv1(x))
        if self.dcn:
            om = self.conv2_offset(out)
            ox, oy, m = torch.chunk(om, 3, dim=1)
            offset = torch.cat((ox, oy), dim=1)
            out = F.relu_(self.conv2(out, offset, m.sigmoid()))
        else:
            out = F.relu_(self.conv2(out))
        out = self.conv3(out)
        sc = self.shortcut(x) if self.shortcut is not None else x
        return F.relu_(out + sc)


class Stem(nn.Module):
    def __init__(self, cout, eps):
        super().__init__()
        self.conv1 = ConvNorm(3, cout, 7, 2, 3, eps)

    def forward(self, x):
        return F.max_pool2d(F.relu_(self.conv1(x)), kernel_size=3, stride=2, padding=1)


class ResNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.stem = Stem(cfg.stem, cfg.bn_eps)
        cin = cfg.stem
        self.stage_names = []
        for s in range(4):
            blocks = []
            for b in range(cfg.blocks[s]):
                stride = 2 if (s > 0 and b == 0) else 1
                blocks.append(Bottleneck(cin if b == 0 else cfg.out[s], cfg.bottleneck[s], cfg.out[s], stride, cfg, cfg.dcn[s][b]))
            cin = cfg.out[s]
            name = f"res{s + 2}"
            self.add_module(name, nn.Sequential(*blocks))
            self.stage_names.append(name)

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for name in self.stage_names:
            x = getattr(self, name)(x)
            outs.append(x)
        return outs


class Backbone(nn.Module):
    """ResNet + FPN with detectron2's names: bottom_up, fpn_lateral{2..5}, fpn_output{2..5}."""

    def __init__(self, cfg):
        super().__init__()
        self.bottom_up = ResNet(cfg)
        for i, c in enumerate(cfg.out):
            self.add_module(f"fpn_lateral{i + 2}", nn.Conv2d(c, cfg.fpn, 1))
            self.add_module(f"fpn_output{i + 2}", nn.Conv2d(cfg.fpn, cfg.fpn, 3, padding=1))

    def forward(self, x):
        c = self.bottom_up(x)
        prev = self.fpn_lateral5(c[3])
        p = [self.fpn_output5(prev)]
        for lvl in (4, 3, 2):
            top_down = F.interpolate(prev, scale_factor=2, mode="nearest")
            prev = getattr(self, f"fpn_lateral{lvl}")(c[lvl - 2]) + top_down
            p.insert(0, getattr(self, f"fpn_output{lvl}")(prev))
        p.append(F.max_pool2d(p[-1], kernel_size=1, stride=2, padding=0))  # LastLevelMaxPool: P6
        return p


# ------------------------------------------------------------------------------------------ transformer

class Rezero(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.g = nn.Parameter(torch.tensor(0.0))

    def forward(self, x):
        return self.fn(x) * self.g


class SelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.e = dim // heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(dim, 2 * dim, bias=False)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, d = x.shape
        h, e = self.heads, self.e
        q = self.to_q(x)
        k, v = self.to_kv(x).chunk(2, dim=-1)

        def split(z):
            return z.reshape(b, t, h, e).transpose(1, 2).reshape(b * h, t, e)

        q, k, v = split(q), split(k), split(v)
        attn = (torch.einsum("bie,bje->bij", q, k) * (e ** -0.5)).softmax(dim=-1)
        out = torch.einsum("bij,bje->bie", attn, v)
        out = out.reshape(b, h, t, e).transpose(1, 2).reshape(b, t, d)
        return self.to_out(out)


class AxialPermute(nn.Module):
    """Moves one spatial axis and the channels last, runs fn on the (rest, axis, C) sequences, moves back."""

    def __init__(self, perm, fn):
        super().__init__()
        self.perm = perm
        self.inv = [perm.index(i) for i in range(len(perm))]
        self.fn = fn

    def forward(self, x):
        y = x.permute(*self.perm).contiguous()
        shape = y.shape
        y = self.fn(y.reshape(-1, shape[-2], shape[-1]))
        return y.reshape(*shape).permute(*self.inv).contiguous()


class Layers(nn.Module):
    def __init__(self, blocks):
        super().__init__()
        self.blocks = blocks

    def forward(self, x):
        for pair in self.blocks:
            f, g = pair[0], pair[1]
            x = x + f(x) + g(x)
        return x


class TwinTransformer(nn.Module):
    def __init__(self, dim, depth, heads):
        super().__init__()
        blocks = nn.ModuleList()
        # [B, C, H, W]: column attention over H ([0, 3, 2, 1]), row attention over W ([0, 2, 3, 1]).
        for _ in range(depth):
            blocks.append(nn.ModuleList([AxialPermute([0, 3, 2, 1], Rezero(SelfAttention(dim, heads))),
                                         AxialPermute([0, 2, 3, 1], Rezero(SelfAttention(dim, heads)))]))
            blocks.append(nn.ModuleList([
                Rezero(nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1), nn.LeakyReLU(inplace=True), nn.Conv2d(dim, dim, 3, padding=1)))
                for _ in range(2)]))
        self.layers = Layers(blocks)

    def forward(self, x):
        x = torch.cat((x, x), dim=-1)
        x = self.layers(x)
        return torch.stack(x.chunk(2, dim=-1)).mean(dim=0)


class TwinTransformerHead(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.num_grids = cfg.num_grids
        self.transformer = TwinTransformer(cfg.fpn, cfg.depth, cfg.heads)
        self.cate_pred = nn.Linear(cfg.fpn, cfg.classes)
        self.kernel_pred = nn.Linear(cfg.fpn, cfg.num_kernels)

    def forward(self, feats, keep=None):
        cate, kernel, extra = [], [], []
        for i, feat in enumerate(feats):
            g = F.interpolate(feat, size=self.num_grids[i], mode="bilinear")
            t = self.transformer(g)
            if keep is not None:
                keep.setdefault("transformer", []).append(t)
            t = t.permute(0, 2, 3, 1)
            cate.append(self.cate_pred(t).permute(0, 3, 1, 2))
            kernel.append(self.kernel_pred(t).permute(0, 3, 1, 2))
            if i == 3:
                extra.append(self.transformer(feat))
        return cate, kernel, extra


class MaskHead(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        m = cfg.mask_channels
        self.convs_all_levels = nn.ModuleList()
        for lvl in range(4):
            seq = nn.Sequential()
            for j in range(max(1, lvl)):
                cin = cfg.fpn if j == 0 else m
                seq.add_module(f"conv{j}", nn.Sequential(nn.Conv2d(cin, m, 3, padding=1, bias=False),
                                                          nn.GroupNorm(cfg.gn_groups, m, eps=cfg.gn_eps), nn.ReLU()))
                if lvl > 0:
                    seq.add_module(f"upsample{j}", nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            self.convs_all_levels.append(seq)
        self.conv_pred = nn.Sequential(nn.Conv2d(m, cfg.num_masks, 1, bias=False),
                                       nn.GroupNorm(cfg.gn_groups, cfg.num_masks, eps=cfg.gn_eps), nn.ReLU(inplace=True))

    def forward(self, feats):
        x = self.convs_all_levels[0](feats[0])
        for i in range(1, 4):
            x = x + self.convs_all_levels[i](feats[i])
        return self.conv_pred(x)


# ------------------------------------------------------------------------------------------ the model

def point_nms(heat, kernel=2):
    hmax = F.max_pool2d(heat, (kernel, kernel), stride=1, padding=1)
    keep = (hmax[:, :, :-1, :-1] == heat).float()
    return heat * keep


def stable_order(scores, tiebreak):
    """Indices sorted by (score descending, tiebreak ascending)."""
    o = torch.argsort(tiebreak)
    o2 = torch.sort(scores[o], descending=True, stable=True).indices
    return o[o2]


def matrix_nms(labels, masks, areas, scores, sigma=2.0, kernel="gaussian"):
    n = len(labels)
    m = masks.reshape(n, -1).float()
    inter = torch.mm(m, m.t())
    ax = areas.expand(n, n)
    iou = (inter / (ax + ax.t() - inter)).triu(diagonal=1)
    lx = labels.expand(n, n)
    same = (lx == lx.t()).float().triu(diagonal=1)
    comp, _ = (iou * same).max(0)
    comp = comp.expand(n, n).t()
    decay_iou = iou * same
    if kernel == "gaussian":
        d = torch.exp(-1 * sigma * decay_iou ** 2) / torch.exp(-1 * sigma * comp ** 2)
    else:
        d = (1 - decay_iou) / (1 - comp)
    coef, _ = d.min(0)
    return scores * coef


class SOTR(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.backbone = Backbone(cfg)
        self.cate_head = TwinTransformerHead(cfg)
        self.mask_head = MaskHead(cfg)

    def network(self, image, keep=None):
        """The network up to the post-processing (benchmarks/onnxruntime/export_onnx.py exports this): the category
        logits and kernels of the five grids, and the mask feature."""
        p = self.backbone(image)
        if keep is not None:
            keep["fpn"] = p
        ins = [F.interpolate(p[0], scale_factor=0.5, mode="bilinear"), p[1], p[2], p[3],
               F.interpolate(p[4], size=p[3].shape[-2:], mode="bilinear")]
        cate, kernel, extra = self.cate_head(ins, keep)
        if keep is not None:
            keep["cate"] = cate
            keep["kernel"] = kernel
            keep["transformer_p5"] = extra[0]
        feat = self.mask_head([p[0], p[1], p[2], extra[0]])
        if keep is not None:
            keep["mask_feature"] = feat
        return cate, kernel, feat

    @torch.no_grad()
    def forward(self, image, h, w, ori_h, ori_w, keep=None):
        """image: normalised, padded [1, 3, Hp, Wp]. Returns labels, scores, masks (bool [K, ori_h, ori_w])."""
        cfg = self.cfg
        cate, kernel, feat = self.network(image, keep)
        cate = [point_nms(c.sigmoid(), kernel=2).permute(0, 2, 3, 1) for c in cate]
        cate = torch.cat([c[0].reshape(-1, cfg.classes) for c in cate], 0)
        kern = torch.cat([k[0].permute(1, 2, 0).reshape(-1, cfg.num_kernels) for k in kernel], 0)
        return self.inference_single_image(cate, kern, feat, (h, w), (ori_h, ori_w), keep)

    def inference_single_image(self, cate_preds, kernel_preds, seg_preds, cur_size, ori_size, keep=None):
        cfg = self.cfg
        h, w = cur_size
        f_h, f_w = seg_preds.shape[-2:]
        ratio = math.ceil(h / f_h)
        up = (int(f_h * ratio), int(f_w * ratio))
        dev = seg_preds.device
        empty = (torch.zeros(0, dtype=torch.long, device=dev), torch.zeros(0, device=dev),
                 torch.zeros(0, *ori_size, dtype=torch.bool, device=dev))
        trace = {"ratio": ratio}
        if keep is not None:
            keep["trace"] = trace
        inds = cate_preds > cfg.score_thr
        scores = cate_preds[inds]
        trace["candidates"] = len(scores)
        if len(scores) == 0:
            return empty
        inds = inds.nonzero()
        labels = inds[:, 1]
        kernels = kernel_preds[inds[:, 0]]
        size_trans = labels.new_tensor(cfg.num_grids).pow(2).cumsum(0)
        strides = kernels.new_ones(size_trans[-1])
        strides[:size_trans[0]] *= cfg.instance_strides[0]
        for i in range(1, len(cfg.num_grids)):
            strides[size_trans[i - 1]:size_trans[i]] *= cfg.instance_strides[i]
        strides = strides[inds[:, 0]]
        n, d = kernels.shape
        seg = F.conv2d(seg_preds, kernels.view(n, d, 1, 1), stride=1).squeeze(0).sigmoid()
        masks = seg > cfg.mask_thr
        areas = masks.sum((1, 2)).float()
        keepm = areas > strides
        trace["after_area"] = int(keepm.sum())
        if keepm.sum() == 0:
            return empty
        cand_index = torch.arange(n, device=dev)[keepm]
        masks, seg, areas, scores, labels, kernels = masks[keepm], seg[keepm], areas[keepm], scores[keepm], labels[keepm], kernels[keepm]
        scores = scores * ((seg * masks.float()).sum((1, 2)) / areas)
        order = stable_order(scores, cand_index)[:cfg.nms_pre]
        masks, seg, areas, scores, labels, cand_index = masks[order], seg[order], areas[order], scores[order], labels[order], cand_index[order]
        trace["before_nms"] = len(order)
        scores = matrix_nms(labels, masks, areas, scores, sigma=cfg.nms_sigma, kernel=cfg.nms_kernel)
        keepm = scores >= cfg.update_thr
        trace["after_nms"] = int(keepm.sum())
        if keepm.sum() == 0:
            return empty
        seg, scores, labels, cand_index = seg[keepm], scores[keepm], labels[keepm], cand_index[keepm]
        order = stable_order(scores, cand_index)[:cfg.max_per_img]
        seg, scores, labels = seg[order], scores[order], labels[order]
        seg = F.interpolate(seg.unsqueeze(0), size=up, mode="bilinear")[:, :, :h, :w]
        out = F.interpolate(seg, size=ori_size, mode="bilinear").squeeze(0) > cfg.mask_thr
        return labels, scores, out


# ------------------------------------------------------------------------------------------ pre-processing

def read_image_bgr(path):
    """detectron2 read_image(format='BGR'): PIL, EXIF orientation, convert('RGB'), channels reversed."""
    from PIL import Image, ImageOps
    im = Image.open(path)
    im = ImageOps.exif_transpose(im)
    return np.asarray(im.convert("RGB"))[:, :, ::-1].copy()


def shortest_edge_size(h, w, size, max_size):
    scale = size * 1.0 / min(h, w)
    if h < w:
        newh, neww = size, scale * w
    else:
        newh, neww = scale * h, size
    if max(newh, neww) > max_size:
        scale = max_size * 1.0 / max(newh, neww)
        newh = newh * scale
        neww = neww * scale
    return int(newh + 0.5), int(neww + 0.5)


def preprocess(bgr, cfg, device=None):
    """As detectron2's DefaultPredictor + GeneralizedRCNN.preprocess_image: the resize (Pillow) and the float32 CHW
    tensor on the CPU; that tensor moved to `device` (the model's), normalised and padded there."""
    h0, w0 = bgr.shape[:2]
    h, w = shortest_edge_size(h0, w0, cfg.min_size, cfg.max_size)
    if (h, w) != (h0, w0):
        from PIL import Image
        resized = np.asarray(Image.fromarray(bgr).resize((w, h), Image.BILINEAR))
    else:
        resized = bgr
    x = torch.as_tensor(resized.astype("float32").transpose(2, 0, 1))
    if device is not None:
        x = x.to(device)
    mean = torch.tensor(PIXEL_MEAN, device=x.device).view(3, 1, 1)
    std = torch.tensor(PIXEL_STD, device=x.device).view(3, 1, 1)
    x = (x - mean) / std
    d = cfg.size_divisibility
    hp, wp = (h + d - 1) // d * d, (w + d - 1) // d * d
    out = x.new_zeros(1, 3, hp, wp)
    out[0, :, :h, :w] = x
    return out, h, w


def load_model(sd, **over):
    if "model" in sd and not isinstance(sd["model"], torch.Tensor):
        sd = sd["model"]
    cfg = Config(sd, **over)
    model = SOTR(cfg).eval()
    model.load_state_dict(sd, strict=True)
    return model


def predict(model, bgr, keep=None):
    """bgr: uint8 numpy [H, W, 3]. Runs on the model's device (model.to("cuda") works); returns tensors there."""
    x, h, w = preprocess(bgr, model.cfg, next(model.parameters()).device)
    if keep is not None:
        keep["input"] = x
        keep["size"] = (h, w)
    return model(x, h, w, bgr.shape[0], bgr.shape[1], keep)


if __name__ == "__main__":
    args = sys.argv[1:]
    over = {}
    if "--min-size" in args:
        i = args.index("--min-size")
        over["min_size"] = int(args[i + 1])
        del args[i:i + 2]
    sd = torch.load(args[0], map_location="cpu")
    model = load_model(sd, **over)
    labels, scores, masks = predict(model, read_image_bgr(args[1]))
    for l, s, m in zip(labels.tolist(), scores.tolist(), masks):
        print(f"label {l:3d} score {s:.5f} area {int(m.sum())}")
