"""Golden fixtures for the mask ops: Matrix NMS and dynamic convolution.

Regenerate: /usr/bin/python3 tests/reference/make_mask_fixtures.py

matrix_nms_reference() is SOTR's utils.matrix_nms (byte for byte the
AdelaiDet SOLOv2 one) as ../shared/docs/sotr-architecture.md §10 describes it:
float masks, torch.mm intersections, strict upper triangle, class matrix,
compensation = column max, decay = column min of the kernel ratio.

The library differs from it in two documented places only, where the
reference produces NaN:
  * a pair with zero union (two empty masks) has IoU 0 (reference: 0/0 = NaN,
    which spreads to every column through the compensation);
  * linear kernel, comp_i = 1 (mask i duplicates a higher-scored mask of its
    class): row i is skipped (reference: x/0 = inf, or 0/0 = NaN when mask j
    duplicates i too).
matrix_nms_documented() applies these two rules; the script checks that it
equals the reference wherever the reference is not NaN, and that the NaN
columns of the linear kernel come out as 0.

Writes tests/fixtures/mask_nms.safetensors and tests/fixtures/mask_dynconv.safetensors.
"""
import math

import torch
import torch.nn.functional as F

from fixture_io import write_fixture

SEED = 11
torch.manual_seed(SEED)
gen = torch.Generator().manual_seed(SEED)


def matrix_nms_reference(seg_masks, cate_labels, cate_scores, kernel="gaussian", sigma=2.0, sum_masks=None):
    n_samples = len(cate_labels)
    if n_samples == 0:
        return []
    if sum_masks is None:
        sum_masks = seg_masks.sum((1, 2)).float()
    seg_masks = seg_masks.reshape(n_samples, -1).float()
    # inter.
    inter_matrix = torch.mm(seg_masks, seg_masks.transpose(1, 0))
    # union.
    sum_masks_x = sum_masks.expand(n_samples, n_samples)
    # iou.
    iou_matrix = (inter_matrix / (sum_masks_x + sum_masks_x.transpose(1, 0) - inter_matrix)).triu(diagonal=1)
    # label_specific matrix.
    cate_labels_x = cate_labels.expand(n_samples, n_samples)
    label_matrix = (cate_labels_x == cate_labels_x.transpose(1, 0)).float().triu(diagonal=1)
    # IoU compensation
    compensate_iou, _ = (iou_matrix * label_matrix).max(0)
    compensate_iou = compensate_iou.expand(n_samples, n_samples).transpose(1, 0)
    # IoU decay
    decay_iou = iou_matrix * label_matrix
    # matrix nms
    if kernel == "gaussian":
        decay_matrix = torch.exp(-1 * sigma * (decay_iou ** 2))
        compensate_matrix = torch.exp(-1 * sigma * (compensate_iou ** 2))
        decay_coefficient, _ = (decay_matrix / compensate_matrix).min(0)
    elif kernel == "linear":
        decay_matrix = (1 - decay_iou) / (1 - compensate_iou)
        decay_coefficient, _ = decay_matrix.min(0)
    else:
        raise NotImplementedError
    # update the score.
    cate_scores_update = cate_scores * decay_coefficient
    return cate_scores_update


def matrix_nms_documented(seg_masks, cate_labels, cate_scores, kernel="gaussian", sigma=2.0):
    """The reference with the library's two rules for its NaN cases (see above)."""
    n = len(cate_labels)
    if n == 0:
        return torch.zeros(0)
    sum_masks = seg_masks.sum((1, 2)).float()
    m = seg_masks.reshape(n, -1).float()
    inter = torch.mm(m, m.t())
    sx = sum_masks.expand(n, n)
    union = sx + sx.t() - inter
    iou = torch.where(union > 0, inter / union, torch.zeros_like(inter)).triu(diagonal=1)
    lab = cate_labels.expand(n, n)
    same = (lab == lab.t()).float().triu(diagonal=1)
    d = iou * same
    comp, _ = d.max(0)
    compm = comp.expand(n, n).t()
    if kernel == "gaussian":
        dm = torch.exp(-1 * sigma * d ** 2) / torch.exp(-1 * sigma * compm ** 2)
    else:
        dm = (1 - d) / (1 - compm)
        dm = torch.where(compm >= 1, torch.full_like(dm, math.inf), dm)
    dec, _ = dm.min(0)
    return cate_scores * dec


def same_label_intersections(seg_masks, labels):
    n = len(labels)
    m = seg_masks.reshape(n, -1).float()
    inter = torch.mm(m, m.t())
    same = (labels[:, None] == labels[None, :]).triu(diagonal=1)
    return torch.where(same, inter, torch.zeros_like(inter)).round().to(torch.int32)


def ellipse(h, w, cx, cy, rx, ry, angle=0.0):
    ys = torch.arange(h, dtype=torch.float32)[:, None]
    xs = torch.arange(w, dtype=torch.float32)[None, :]
    c, s = math.cos(angle), math.sin(angle)
    u = ((xs - cx) * c + (ys - cy) * s) / max(rx, 0.5)
    v = (-(xs - cx) * s + (ys - cy) * c) / max(ry, 0.5)
    return (u * u + v * v <= 1.0).to(torch.uint8)


def rand(a, b):
    return a + (b - a) * torch.rand(1, generator=gen).item()


def random_blobs(n, h, w, dup=0, nested=0, empty=0, full=0):
    masks = []
    for _ in range(n):
        cx, cy = rand(-0.1 * w, 1.1 * w), rand(-0.1 * h, 1.1 * h)
        masks.append(ellipse(h, w, cx, cy, rand(1, w / 2.5), rand(1, h / 2.5), rand(0, math.pi)))
    masks = torch.stack(masks)
    for k in range(dup):  # exact duplicates of earlier masks
        masks[n - 1 - k] = masks[k]
    for k in range(nested):  # a mask inside another (nested), same label later
        i = dup + k
        big = masks[i]
        ys, xs = torch.nonzero(big, as_tuple=True)
        if len(ys):
            cy, cx = ys.float().mean().item(), xs.float().mean().item()
            inner = ellipse(h, w, cx, cy, 2.0, 2.0) & big
            masks[i + nested] = inner
    for k in range(empty):
        masks[n // 2 + k] = 0
    for k in range(full):
        masks[1 + k] = 1
    return masks


# ---------------------------------------------------------------------------
# Matrix NMS cases
# ---------------------------------------------------------------------------
nms_tensors = {}
nms_cases = []


def add_nms_case(name, masks, labels, kernel="gaussian", sigma=2.0, expect_nan=False, share=None):
    """share: the name of an earlier case with the same masks, labels and scores."""
    n = masks.shape[0]
    if share:
        scores = nms_tensors[f"{share}.scores"]
    else:
        scores = torch.sort(torch.rand(n, generator=gen) * 0.9 + 0.05, descending=True).values
        if n > 3:  # ties in the scores are allowed (sorted, not strictly)
            scores[2] = scores[1]
    labels = labels.to(torch.int32)
    src = share or name
    ours = matrix_nms_documented(masks, labels.long(), scores, kernel, sigma)
    if n:
        ref = matrix_nms_reference(masks, labels.long(), scores, kernel, sigma)
        finite = ~torch.isnan(ref)
        assert torch.allclose(ours[finite], ref[finite], rtol=1e-6, atol=0), name
        assert expect_nan == bool((~finite).any()), f"{name}: NaN in the reference: {(~finite).sum().item()}"
        if kernel == "linear" and expect_nan:
            assert torch.all(ours[~finite] == 0), name
    if not share:
        nms_tensors[f"{name}.masks"] = masks.to(torch.uint8)
        nms_tensors[f"{name}.labels"] = labels
        nms_tensors[f"{name}.scores"] = scores
        nms_tensors[f"{name}.inter"] = same_label_intersections(masks, labels.long()) if n else torch.zeros(0, 0, dtype=torch.int32)
    nms_tensors[f"{name}.decayed"] = ours.to(torch.float32)
    nms_cases.append([name, kernel, sigma, src])


m = random_blobs(40, 37, 53, dup=2, nested=3)
lab = torch.randint(0, 5, (40,), generator=gen)
lab[38], lab[39] = lab[1], lab[0]  # duplicates share the label of their original
lab[5], lab[6], lab[7] = lab[2], lab[3], lab[4]  # nested masks share their container's label
add_nms_case("blobs", m, lab)
add_nms_case("blobs_sigma05", m, lab, sigma=0.5, share="blobs")
add_nms_case("blobs_linear", m, lab, kernel="linear", share="blobs")

m = random_blobs(30, 20, 130, dup=3, nested=2, full=1)
m[26] = m[0]  # a triplicate: 0, 26, 29 (linear: NaN in the reference at column 29)
add_nms_case("one_class", m, torch.zeros(30, dtype=torch.int64))
add_nms_case("one_class_linear", m, torch.zeros(30, dtype=torch.int64), kernel="linear", expect_nan=True, share="one_class")

m = random_blobs(12, 9, 64, empty=3)
lab = torch.tensor([0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 0])
add_nms_case("empty", m, lab, expect_nan=True)  # 0/0 for the two empty masks of label 1
m = random_blobs(60, 16, 16, dup=1)
lab = torch.arange(60) % 37
lab[59] = lab[0]
add_nms_case("many_classes", m, lab)
add_nms_case("wide", random_blobs(10, 6, 600, dup=1), torch.tensor([0, 1, 0, 1, 0, 1, 0, 1, 0, 0]))
add_nms_case("single", random_blobs(1, 7, 9), torch.tensor([3]))
add_nms_case("zero", torch.zeros(0, 4, 5, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64))

# The empty-mask case: the reference is NaN everywhere (0/0 spreads), ours is not.
ref_empty = matrix_nms_reference(nms_tensors["empty.masks"], nms_tensors["empty.labels"].long(), nms_tensors["empty.scores"])
assert torch.isnan(ref_empty).any()
assert not torch.isnan(nms_tensors["empty.decayed"]).any()

write_fixture("mask_nms", nms_tensors, "tests/reference/make_mask_fixtures.py", SEED, cases=nms_cases)

# ---------------------------------------------------------------------------
# Dynamic convolution cases
# ---------------------------------------------------------------------------
dc_tensors = {}
dc_cases = []


def mask_stats(b, soft):
    n = b.shape[0]
    areas = b.reshape(n, -1).sum(1).to(torch.int32)
    softs = (soft * b).reshape(n, -1).sum(1).to(torch.float32)
    boxes = torch.zeros(n, 4, dtype=torch.int32)
    for i in range(n):
        ys, xs = torch.nonzero(b[i], as_tuple=True)
        if len(ys):
            boxes[i] = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.int32)
    return areas, softs, boxes


def add_dc_case(name, feats, kernels, sigmoid=True, threshold=0.5, exact=False):
    """exact: integer-valued products, so any summation order gives the same logits."""
    k = 1 if kernels.dim() == 2 else kernels.shape[2]
    w = kernels if kernels.dim() == 4 else kernels[:, :, None, None]
    logits = F.conv2d(feats[None], w, padding=k // 2)[0]
    soft = torch.sigmoid(logits)
    dc_tensors[f"{name}.features"] = feats
    dc_tensors[f"{name}.kernels"] = kernels
    dc_tensors[f"{name}.out"] = soft if sigmoid else logits
    b = (soft > threshold).to(torch.uint8)
    areas, softs, boxes = mask_stats(b, soft)
    dc_tensors[f"{name}.masks"] = b
    dc_tensors[f"{name}.areas"] = areas
    dc_tensors[f"{name}.softSums"] = softs
    dc_tensors[f"{name}.boxes"] = boxes
    dc_cases.append([name, k, sigmoid, threshold, exact])


def quantized(shape, lo, hi, scale=1.0):
    return torch.randint(lo, hi + 1, shape, generator=gen).to(torch.float32) * scale


add_dc_case("f1x1", torch.randn(8, 13, 70, generator=gen), torch.randn(6, 8, generator=gen))
add_dc_case("f3x3", torch.randn(5, 9, 11, generator=gen), torch.randn(4, 5, 3, 3, generator=gen) * 0.5)
add_dc_case("logits", torch.randn(7, 5, 65, generator=gen), torch.randn(3, 7, generator=gen), sigmoid=False)
# Exact cases: features in {-2..2}, kernels in multiples of 1/4, channel 0 all
# ones (so kernel 0 = +2 on it gives a full mask), kernel 1 zero (empty: sigmoid(0) = 0.5).
feats = quantized((16, 15, 70), -2, 2)
feats[0] = 1.0
kern = quantized((7, 16), -4, 4, 0.25)
kern[0] = 0
kern[0, 0] = 2.0
kern[1] = 0
add_dc_case("q1x1", feats, kern, exact=True)
feats = quantized((4, 10, 66), -2, 2)
kern = quantized((5, 4, 3, 3), -4, 4, 0.25)
kern[2] = 0
add_dc_case("q3x3_t03", feats, kern, threshold=0.3, exact=True)
feats = quantized((3, 4, 129), -2, 2)
add_dc_case("q5x5_wide", feats, quantized((2, 3, 5, 5), -4, 4, 0.25), threshold=0.7, exact=True)

write_fixture("mask_dynconv", dc_tensors, "tests/reference/make_mask_fixtures.py", SEED, cases=dc_cases)
print("wrote mask_nms and mask_dynconv")
