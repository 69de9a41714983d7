"""Runs the OFFICIAL SOTR code (the authors' repository, on detectron2 v0.2.1) on our fixture checkpoints and images,
and compares it with the goldens that tests/reference/sotr_reference.py wrote and the library's parity tests check.

sotr_reference.py was written from the specification (../shared/docs/sotr-architecture.md); this script closes the
loop: if the official code gives the goldens, the library's parity with the goldens is parity with the official code.
Outside CI (it needs the official sources, which are not ours to commit). Nothing of theirs is copied here: the
script imports their modules from checkouts you provide and replaces only what needs a compiled extension.

What you need (all pure Python; none is installed system-wide):
  --sotr DIR          a checkout of the authors' SOTR repository (the `adet/` and `configs/` folders)
  --path DIR ...      folders put first on sys.path so that these import: detectron2 (tag v0.2.1; its compiled `_C`
                      is NOT needed), fvcore (of mid-2020), yacs, pycocotools (built, or any importable copy)
  Debian packages: python3-torch, python3-torchvision, python3-termcolor, python3-tabulate, python3-portalocker,
  python3-cloudpickle, python3-pil.

Substitutions, all outside the official files:
  - detectron2.layers.deform_conv.modulated_deform_conv (DCNv2; CUDA only in detectron2) -> torchvision.ops.deform_conv2d
    with a mask (the same layout: (dy, dx) pairs per kernel tap, bilinear sampling, zero outside);
  - detectron2._C (its compiled extension, imported but not called by SOTR's inference) -> an empty module;
  - cv2 (used by the official utils for training-time rescaling only) -> a stub module;
  - for the tiny fixture models only: TwinTransformer(dim=256) and nn.GroupNorm(32, .) are constants in the official
    head; they are given the checkpoint's width, the fixture's depth / heads and GroupNorm groups, and the backbone is
    built with detectron2's own ResNet / FPN classes at the checkpoint's widths (detectron2's config builder only
    knows widths that double per stage). With --config (full-size checkpoints), nothing is substituted but DCN.

Checked first: detectron2's read_image on the decoding fixtures (decode_expected.safetensors). Then per image: the
network input exactly (detectron2's read_image + ResizeShortestEdge + SOTR's normalisation and
padding), every stage's sampled values by NMSE (p2..p6, the transformer per level, its p5 pass, the heads, the mask
feature), and the final instances: matched one to one by label, score (relative) and mask IoU.

  /usr/bin/python3 tests/reference/check_official_code.py --sotr /tmp/off --path /tmp/off/d2 /tmp/off/deps
  /usr/bin/python3 tests/reference/check_official_code.py ... --full DIR r50 --config /tmp/off/configs/SOTR/R50.yaml
        (DIR as written by full_size_reference.py: <preset>.pth, image.png, <preset>_golden.safetensors)
  /usr/bin/python3 tests/reference/check_official_code.py ... --predict CHECKPOINT official.json IMAGE...
        (the official instances of any images, then: node tests/model/official_compare.mjs official.json CHECKPOINT
        IMAGE...; a direct comparison, the decoding of the files by both sides included)
Exit status 0 when every image matches (stage NMSE <= 1e-9, all instances matched).
"""
import argparse
import json
import os
import sys
import time
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_io import read_fixture as read_safetensors  # noqa: E402
FIXTURES = os.path.join(HERE, "..", "fixtures", "model")
STAGE_BOUND = 1e-9

# The fixtures' images and sizes (make_model_fixtures.py) and the tiny-dcn constants.
TINY_IMAGES = {"land": (160, 256), "port": (160, 256), "ratio3": (40, 400), "down": (64, 100), "pal": (96, 96)}
DCN_IMAGES = ["land", "ratio3"]


def install_substitutes():
    """What the official code imports but cannot have here: detectron2's compiled ops and cv2."""
    c = types.ModuleType("detectron2._C")

    def missing(name):
        def f(*a, **k):
            raise RuntimeError(f"detectron2._C.{name} is not available in this check")
        return f

    c.__getattr__ = missing
    sys.modules["detectron2._C"] = c
    cv2 = types.ModuleType("cv2")
    cv2.__version__ = "4.0.0"
    cv2.setNumThreads = lambda n: None
    cv2.ocl = types.SimpleNamespace(setUseOpenCL=lambda v: None)
    for i, k in enumerate(["INTER_NEAREST", "INTER_LINEAR", "INTER_CUBIC", "INTER_AREA", "INTER_LANCZOS4"]):
        setattr(cv2, k, i)
    sys.modules["cv2"] = cv2


def substitute_dcn():
    """detectron2's modulated_deform_conv is CUDA only ('not supported on CPUs'): torchvision's deform_conv2d with a
    mask computes the same DCNv2 (offsets as (dy, dx) pairs per kernel tap, bilinear sampling, zero outside)."""
    from torchvision.ops import deform_conv2d
    import detectron2.layers.deform_conv as dc

    def modulated_deform_conv(x, offset, mask, weight, bias, stride, padding, dilation, groups, deformable_groups):
        if groups != 1:
            raise NotImplementedError("grouped DCN")
        return deform_conv2d(x, offset, weight, bias, stride=stride, padding=padding, dilation=dilation, mask=mask)

    dc.modulated_deform_conv = modulated_deform_conv


def import_official(sotr_dir):
    """adet.modeling.sotr without adet's own __init__ files (they import its compiled ops, unused by SOTR)."""
    sys.path.insert(0, sotr_dir)
    import detectron2
    detectron2._C = sys.modules["detectron2._C"]
    for name, sub in [("adet", "adet"), ("adet.modeling", "adet/modeling")]:
        m = types.ModuleType(name)
        m.__path__ = [os.path.join(sotr_dir, sub)]
        sys.modules[name] = m
    import adet.modeling.sotr.sotr as sotr_module
    from adet.config import get_cfg
    substitute_dcn()
    return sotr_module, get_cfg


def structure(sd):
    """Blocks per stage, DCN per block and the widths, read from the checkpoint's shapes."""
    pre = "backbone.bottom_up."
    stages = []
    for s in range(2, 6):
        blocks = []
        i = 0
        while f"{pre}res{s}.{i}.conv1.weight" in sd:
            b = f"{pre}res{s}.{i}."
            blocks.append(dict(inp=sd[b + "conv1.weight"].shape[1], bottleneck=sd[b + "conv1.weight"].shape[0],
                               out=sd[b + "conv3.weight"].shape[0], dcn=(b + "conv2_offset.weight") in sd))
            i += 1
        stages.append(blocks)
    n = 0  # the official layers alternate attention and convolution entries: two per transformer layer
    while any(k.startswith(f"cate_head.transformer.layers.blocks.{n}.") for k in sd):
        n += 1
    depth = n // 2
    return dict(stages=stages, stem=sd[pre + "stem.conv1.weight"].shape[0], fpn=sd["backbone.fpn_output2.weight"].shape[0],
                classes=sd["cate_head.cate_pred.weight"].shape[0], kernels=sd["cate_head.kernel_pred.weight"].shape[0],
                mask_channels=sd["mask_head.convs_all_levels.0.conv0.0.weight"].shape[0],
                masks=sd["mask_head.conv_pred.0.weight"].shape[0], depth=depth)


def build_tiny(sotr_module, get_cfg, sd, heads, gn_groups):
    """The official SOTR module at the checkpoint's widths: detectron2's ResNet / FPN classes, SOTR's heads."""
    from detectron2.layers import ShapeSpec
    from detectron2.modeling.backbone.fpn import FPN, LastLevelMaxPool
    from detectron2.modeling.backbone.resnet import BasicStem, BottleneckBlock, DeformBottleneckBlock, ResNet

    st = structure(sd)
    stem = BasicStem(in_channels=3, out_channels=st["stem"], norm="FrozenBN")
    stages = []
    for s, blocks in enumerate(st["stages"]):
        stage = []
        for i, b in enumerate(blocks):
            kw = dict(in_channels=b["inp"], out_channels=b["out"], bottleneck_channels=b["bottleneck"],
                      stride=2 if (i == 0 and s > 0) else 1, num_groups=1, norm="FrozenBN", stride_in_1x1=True)
            stage.append(DeformBottleneckBlock(deform_modulated=True, deform_num_groups=1, **kw) if b["dcn"]
                         else BottleneckBlock(**kw))
        stages.append(stage)
    bottom_up = ResNet(stem, stages, out_features=["res2", "res3", "res4", "res5"])
    backbone = FPN(bottom_up=bottom_up, in_features=["res2", "res3", "res4", "res5"], out_channels=st["fpn"], norm="",
                   top_block=LastLevelMaxPool(), fuse_type="sum")

    cfg = get_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.SOTR.INSTANCE_IN_CHANNELS = st["fpn"]
    cfg.MODEL.SOTR.MASK_IN_CHANNELS = st["fpn"]
    cfg.MODEL.SOTR.MASK_CHANNELS = st["mask_channels"]
    cfg.MODEL.SOTR.NUM_MASKS = st["masks"]
    cfg.MODEL.SOTR.NUM_KERNELS = st["kernels"]
    cfg.MODEL.SOTR.NUM_CLASSES = st["classes"]

    # The head's constants, set from the fixture (the official file says TwinTransformer(dim=256) and GroupNorm(32, .)).
    orig_tt, orig_build, orig_nn = sotr_module.TwinTransformer, sotr_module.build_backbone, sotr_module.nn
    nn_proxy = types.ModuleType("nn_proxy")
    nn_proxy.__dict__.update(torch.nn.__dict__)
    nn_proxy.GroupNorm = lambda groups, channels, *a, **k: torch.nn.GroupNorm(gn_groups, channels, *a, **k)
    sotr_module.TwinTransformer = lambda dim=256, **k: orig_tt(dim=st["fpn"], depth=st["depth"], heads=heads)
    sotr_module.build_backbone = lambda c: backbone
    sotr_module.nn = nn_proxy
    try:
        model = sotr_module.SOTR(cfg)
    finally:
        sotr_module.TwinTransformer, sotr_module.build_backbone, sotr_module.nn = orig_tt, orig_build, orig_nn
    return model, cfg


def build_from_config(sotr_module, get_cfg, config_file):
    cfg = get_cfg()
    cfg.merge_from_file(config_file)
    cfg.MODEL.DEVICE = "cpu"
    return sotr_module.SOTR(cfg), cfg


def load_strict(model, sd):
    if "model" in sd and not isinstance(sd["model"], torch.Tensor):
        sd = sd["model"]
    missing, unexpected = model.load_state_dict(sd, strict=False)
    # Buffers the official module makes itself (pixel mean/std) are not in checkpoints.
    missing = [k for k in missing if k not in ("pixel_mean", "pixel_std")]
    if missing or unexpected:
        raise SystemExit(f"state_dict mismatch: missing {missing[:8]}, unexpected {unexpected[:8]}")
    return model.eval()


def run_official(model, image_path, min_size, max_size):
    """detectron2's DefaultPredictor steps, then the model with hooks that keep each stage."""
    from detectron2.data import transforms as T
    from detectron2.data.detection_utils import read_image

    original = read_image(image_path, format="BGR")
    h0, w0 = original.shape[:2]
    image = T.ResizeShortestEdge([min_size, min_size], max_size).get_transform(original).apply_image(original)
    inp = {"image": torch.as_tensor(image.astype("float32").transpose(2, 0, 1)), "height": h0, "width": w0}
    keep = {"transformer_calls": []}
    hooks = [
        model.backbone.register_forward_pre_hook(lambda m, a: keep.__setitem__("input", a[0])),
        model.backbone.register_forward_hook(lambda m, a, out: keep.__setitem__("fpn", out)),
        model.cate_head.register_forward_hook(lambda m, a, out: keep.__setitem__("heads", out)),
        model.cate_head.transformer.register_forward_hook(lambda m, a, out: keep["transformer_calls"].append(out)),
        model.mask_head.register_forward_hook(lambda m, a, out: keep.__setitem__("mask_feature", out)),
    ]
    t0 = time.time()
    with torch.no_grad():
        out = model([inp])[0]["instances"]
    keep["seconds"] = time.time() - t0
    for h in hooks:
        h.remove()
    keep["size"] = tuple(image.shape[:2])
    calls = keep["transformer_calls"]  # levels 0..3, then level 3's full-resolution pass (p5), then level 4
    cate, kernel, extra = keep["heads"]
    stages = {"input": keep["input"]}
    for j in range(5):
        stages[f"p{j + 2}"] = keep["fpn"][f"p{j + 2}"]
        stages[f"t{j}"] = calls[j if j < 4 else 5]
        stages[f"cate{j}"] = cate[j]
        stages[f"kernel{j}"] = kernel[j]
    stages["tp5"] = extra[0]
    stages["maskF"] = keep["mask_feature"]
    if len(out) and out.pred_masks.dim() == 3:
        inst = (out.pred_classes.long(), out.scores.float(), out.pred_masks.bool())
    else:
        inst = (torch.zeros(0, dtype=torch.long), torch.zeros(0), torch.zeros(0, h0, w0, dtype=torch.bool))
    return stages, inst, keep


def check_decoding():
    """detectron2 v0.2.1's own read_image(format='BGR') on the decoding fixtures (EXIF, 16-bit, CMYK, palette, ...)
    against decode_expected.safetensors, which the library's decoding test checks."""
    from detectron2.data.detection_utils import read_image

    expected, meta = read_safetensors(os.path.join(FIXTURES, "decode_expected.safetensors"))
    ok = True
    for f in json.loads(meta["files"]):
        key = f[len("dec_"):].replace(".jpg", "").replace(".png", "").replace(".tif", "_tif") + ".rgb"
        rgb = read_image(os.path.join(FIXTURES, f), format="BGR")[:, :, ::-1]
        same = rgb.shape == expected[key].shape and bool(np.array_equal(rgb, expected[key]))
        ok = ok and same
        print(f"read_image {f}: {'equal' if same else 'DIFFERS'} ({rgb.shape[1]}x{rgb.shape[0]})")
    return ok


def compare(name, golden, stages, inst, keep, score_rel):
    g = lambda k: golden[f"{name}.{k}"]  # noqa: E731
    meta = g("meta").tolist()
    lines, ok = [], True
    h, w = keep["size"]
    hp, wp = stages["input"].shape[-2:]
    if [h, w, hp, wp] != meta[:4]:
        ok = False
        lines.append(f"  sizes: official {[h, w, hp, wp]}, golden {meta[:4]}")
    worst = (None, 0.0)
    for k, t in stages.items():
        idx = g(f"{k}.idx").astype(np.int64)
        ref = g(f"{k}.val").astype(np.float64)
        flat = t.detach().reshape(-1).double().numpy()
        if flat.size <= idx.max(initial=0):
            ok = False
            lines.append(f"  {k}: official has {flat.size} values, golden samples index {idx.max()}")
            continue
        val = flat[idx]
        nmse = float(((val - ref) ** 2).sum() / max((ref ** 2).sum(), 1e-30))
        if k == "input":
            exact = bool(np.array_equal(val.astype(np.float32), ref.astype(np.float32)))
            if not exact:
                ok = False
                lines.append(f"  input differs (NMSE {nmse:.2e})")
        if nmse > worst[1] or worst[0] is None:
            worst = (k, nmse)
        if nmse > STAGE_BOUND:
            ok = False
            lines.append(f"  stage {k}: NMSE {nmse:.2e} > {STAGE_BOUND:g}")
    labels, scores, masks = inst
    ref_labels, ref_scores, ref_masks = g("labels"), g("scores"), g("masks")
    h0, w0 = meta[4], meta[5]
    used = set()
    matched, worst_iou, worst_rel = 0, 1.0, 0.0
    for i in range(len(ref_labels)):
        ref_m = np.unpackbits(ref_masks[i])[: h0 * w0].astype(bool) if i < ref_masks.shape[0] else None
        best, best_iou = -1, -1.0
        for j in range(len(labels)):
            if j in used or int(labels[j]) != int(ref_labels[i]):
                continue
            if abs(float(scores[j]) - float(ref_scores[i])) > score_rel * abs(float(ref_scores[i])):
                continue
            v = 1.0
            if ref_m is not None:
                m = masks[j].reshape(-1).numpy()
                union = np.logical_or(m, ref_m).sum()
                v = float(np.logical_and(m, ref_m).sum() / union) if union else 1.0
            if v > best_iou:
                best, best_iou = j, v
        if best < 0 or (ref_m is not None and ref_m.sum() >= 20 and best_iou < 0.99):
            continue
        used.add(best)
        matched += 1
        worst_iou = min(worst_iou, best_iou)
        worst_rel = max(worst_rel, abs(float(scores[best]) - float(ref_scores[i])) / abs(float(ref_scores[i])))
    if matched != len(ref_labels) or len(labels) != len(ref_labels):
        ok = False
    stage_text = f"worst stage {worst[0]} NMSE {worst[1]:.1e}" if worst[1] > 0 else "every stage bit for bit"
    summary = (f"{name}: input {h}x{w} (pad {hp}x{wp}), {stage_text}, instances official "
               f"{len(labels)} / golden {len(ref_labels)}, matched {matched}, worst IoU {worst_iou:.4f}, worst score rel "
               f"{worst_rel:.1e}, official forward {keep['seconds']:.2f} s -> {'OK' if ok else 'DIFFERS'}")
    return ok, [summary] + lines


def predict_images(sotr_module, get_cfg, a):
    """--predict: the official instances of each image as JSON (mask as pycocotools' compressed RLE)."""
    import pycocotools.mask as mask_util

    if len(a.predict) < 3:
        raise SystemExit("--predict CHECKPOINT OUT.json IMAGE [IMAGE ...]")
    ck, out_path, images = a.predict[0], a.predict[1], a.predict[2:]
    sd = torch.load(ck, map_location="cpu") if not ck.endswith(".safetensors") else read_safetensors_torch(ck)
    out = {"checkpoint": os.path.basename(ck), "min_size": a.min_size, "max_size": a.max_size, "images": {}}
    for path in images:
        if a.config:
            model, cfg = build_from_config(sotr_module, get_cfg, a.config)
            min_size, max_size = cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST
        else:
            model, cfg = build_tiny(sotr_module, get_cfg, sd, a.heads, a.gn_groups)
            min_size, max_size = a.min_size, a.max_size
        load_strict(model, sd)
        _, (labels, scores, masks), keep = run_official(model, path, min_size, max_size)
        h, w = masks.shape[-2:] if masks.dim() == 3 else (0, 0)
        inst = []
        for l, s, m in zip(labels.tolist(), scores.tolist(), masks):
            rle = mask_util.encode(np.asfortranarray(m.numpy().astype(np.uint8)))
            inst.append({"label": l, "score": s, "counts": rle["counts"].decode("ascii")})
        out["images"][os.path.basename(path)] = {"height": int(h), "width": int(w), "instances": inst, "seconds": keep["seconds"]}
        print(f"{path}: {len(inst)} instances, official forward {keep['seconds']:.2f} s", flush=True)
    with open(out_path, "w") as f:
        json.dump(out, f)
    print(f"wrote {out_path}")
    return 0


def read_safetensors_torch(path):
    arrays, _ = read_safetensors(path)
    return {k: torch.from_numpy(v.copy()) for k, v in arrays.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sotr", required=True, help="checkout of the authors' SOTR repository")
    ap.add_argument("--path", nargs="*", default=[], help="folders with detectron2 v0.2.1, fvcore, yacs, pycocotools")
    ap.add_argument("--full", nargs=2, metavar=("DIR", "PRESET"), help="a full_size_reference.py directory instead")
    ap.add_argument("--config", help="with --full: the official config file (configs/SOTR/R50.yaml, ...)")
    ap.add_argument("--predict", nargs="+", metavar=("CHECKPOINT OUT.json", "IMAGE"),
                    help="write the official code's instances for images (labels, scores, COCO RLE) for "
                         "tests/model/official_compare.mjs to compare with the library's")
    ap.add_argument("--min-size", type=int, default=800)
    ap.add_argument("--max-size", type=int, default=1333)
    ap.add_argument("--heads", type=int, default=8, help="with --predict and no --config: the checkpoint's heads")
    ap.add_argument("--gn-groups", type=int, default=32, help="with --predict and no --config: its GroupNorm groups")
    ap.add_argument("--score-rel", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sys.path[:0] = a.path
    install_substitutes()
    sotr_module, get_cfg = import_official(os.path.abspath(a.sotr))
    if a.predict:
        return predict_images(sotr_module, get_cfg, a)

    runs = []  # (checkpoint, golden, [(name, image, min, max)], heads, gn_groups, config)
    if a.full:
        d, preset = a.full
        golden_path = os.path.join(d, f"{preset}_golden.safetensors")
        golden, _ = read_safetensors(golden_path)
        meta = golden["full.meta"].tolist()
        runs.append((os.path.join(d, f"{preset}.pth"), golden, [("full", os.path.join(d, "image.png"), meta[7], meta[8])],
                     8, 32, a.config))
    else:
        img = lambda n: os.path.join(FIXTURES, f"img_{n}.png")  # noqa: E731
        golden, _ = read_safetensors(os.path.join(FIXTURES, "model_golden.safetensors"))
        runs.append((os.path.join(FIXTURES, "tiny_sotr.pth"), golden,
                     [(n, img(n), *TINY_IMAGES[n]) for n in TINY_IMAGES], 8, 32, None))
        golden, _ = read_safetensors(os.path.join(FIXTURES, "model_golden_dcn.safetensors"))
        runs.append((os.path.join(FIXTURES, "tiny_dcn.pth"), golden,
                     [(n, img(n), *TINY_IMAGES[n]) for n in DCN_IMAGES], 2, 4, None))
        legacy = os.path.join(FIXTURES, "tiny_sotr_legacy.pth")
        a_sd = torch.load(os.path.join(FIXTURES, "tiny_sotr.pth"), map_location="cpu")
        b_sd = torch.load(legacy, map_location="cpu")["model"]
        same = a_sd.keys() == b_sd.keys() and all(torch.equal(a_sd[k], b_sd[k]) for k in a_sd)
        print(f"tiny_sotr_legacy.pth holds tiny_sotr.pth's tensors: {same}")

    all_ok = a.full is not None or check_decoding()
    for ck, golden, images, heads, gn_groups, config in runs:
        sd = torch.load(ck, map_location="cpu")
        for name, path, min_size, max_size in images:
            if config:
                # The official config's test size, which must be the one the golden was made at (the library's
                # default for the variant; full_size_reference.py takes it from there).
                model, cfg = build_from_config(sotr_module, get_cfg, config)
                if (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST) != (min_size, max_size):
                    print(f"{config}: test size {cfg.INPUT.MIN_SIZE_TEST}/{cfg.INPUT.MAX_SIZE_TEST}, golden made at "
                          f"{min_size}/{max_size}")
                    all_ok = False
                min_size, max_size = cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST
            else:
                model, cfg = build_tiny(sotr_module, get_cfg, sd, heads, gn_groups)
            load_strict(model, sd)
            stages, inst, keep = run_official(model, path, min_size, max_size)
            ok, lines = compare(name, golden, stages, inst, keep, a.score_rel)
            print(f"{os.path.basename(ck)} " + "\n".join(lines), flush=True)
            all_ok = all_ok and ok
    print("official code = goldens" if all_ok else "DIFFERENCES (above)")
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
