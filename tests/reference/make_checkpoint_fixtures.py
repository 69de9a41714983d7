"""Writes the tiny torch.save fixtures of the checkpoint reader tests into tests/fixtures/checkpoints/.

Run with Debian's torch:  /usr/bin/python3 tests/reference/make_checkpoint_fixtures.py
The tests themselves never need torch: the fixtures are committed.

basic_{zip,legacy}.pth  one bare state_dict in both torch.save formats, every dtype torch 1.13 stores, a 0-dim
                        Parameter, an empty tensor, views with storage offsets and strides, tensors sharing one
                        storage, a broadcast (stride 0) tensor, special float values; storages tagged 'cuda:0'
                        as if saved from a GPU. basic_expected.safetensors holds every tensor made contiguous.
basic_wrapped_zip.pth   the same inside {"model", "optimizer", "scheduler", "iteration"} with 'module.' prefixes.
tiny_sotr_zip.pth       a bare SOTR state_dict with the official key structure and tiny widths (zip format).
tiny_sotr_wrapped_legacy.pth  the same as a DDP training checkpoint ('module.' keys, optimizer state with its own
                        tensors, scheduler, iteration; storages tagged 'cuda:0') in the legacy format.
Tiny SOTR values follow a formula the tests recompute: value[i] = ((i * 37 + h) % 255 - 127) / 64, where h is
the sum of the key's character codes modulo 97 (exact in float32).
"""
import collections
import contextlib
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_io import write_fixture  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "checkpoints")
SCRIPT = "tests/reference/make_checkpoint_fixtures.py"
SEED = 1234


@contextlib.contextmanager
def cuda_location():
    """Makes torch.save tag every storage 'cuda:0', as if it had been saved from a GPU."""
    import torch.serialization as ser
    saved = ser.location_tag
    ser.location_tag = lambda storage: "cuda:0"
    try:
        yield
    finally:
        ser.location_tag = saved


def save_both(obj, stem):
    torch.save(obj, os.path.join(OUT, stem + "_zip.pth"))
    torch.save(obj, os.path.join(OUT, stem + "_legacy.pth"), _use_new_zipfile_serialization=False)


def basic_state_dict():
    g = torch.Generator().manual_seed(SEED)
    sd = collections.OrderedDict()
    base = torch.randn(4, 5, generator=g)
    sd["f32"] = base  # the storage shared with the views below
    sd["f32_t"] = base.t()  # non-contiguous view, same storage
    sd["f32_rows"] = base[1:3]  # contiguous view with a storage offset
    sd["f32_cols"] = base[:, 1:4]  # strided view with a storage offset
    sd["f32_step"] = base[::2, ::3]  # strides 10, 3
    big = torch.arange(64, dtype=torch.float32)
    sd["f32_small_slice"] = big[60:63]  # uses a small part of its storage: copied out
    sd["f32_expand"] = torch.tensor([1.5, -2.25, 3.0]).expand(4, 3)  # stride 0
    sd["f32_special"] = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 1e-45, 3.4028235e38])
    sd["f64"] = torch.randn(3, 2, generator=g, dtype=torch.float64).t()
    sd["f16"] = torch.randn(2, 3, generator=g).half()
    sd["bf16"] = torch.randn(3, 2, generator=g).bfloat16()
    sd["i64"] = torch.tensor([[0, -1, 2**62 + 3], [-(2**63), 2**53 + 1, 7]], dtype=torch.int64)
    sd["i32"] = torch.tensor([-(2**31), 2**31 - 1, 5], dtype=torch.int32)
    sd["i16"] = torch.tensor([-32768, 32767, 1], dtype=torch.int16)
    sd["i8"] = torch.tensor([-128, 127, -3], dtype=torch.int8)
    sd["u8"] = torch.tensor([[0, 255], [17, 128]], dtype=torch.uint8)
    sd["bool"] = torch.tensor([True, False, True])
    sd["num_batches_tracked"] = torch.tensor(17, dtype=torch.int64)  # 0-dim int64
    sd["gate"] = torch.nn.Parameter(torch.tensor(0.375))  # 0-dim Parameter (ReZero gate)
    sd["param"] = torch.nn.Parameter(torch.randn(2, 2, generator=g))
    sd["empty"] = torch.zeros(0, 3)
    sd["f16_t"] = sd["f16"].t()  # strided 2-byte elements
    sd["i64_t"] = sd["i64"].t()  # strided 8-byte elements
    return sd


# ---------------------------------------------------------------- tiny SOTR state_dict (official key structure)

TINY = dict(
    stem=4,
    blocks=[1, 2, 1, 1],
    bottleneck=[2, 3, 4, 5],
    out=[8, 12, 16, 20],
    dcn={(1, 1), (2, 0)},  # (stage index, block): res3.1 and res4.0 are deformable, res3.0 is not
    fpn=4,
    depth=2,
    classes=3,
    mask_channels=4,
    num_masks=8,
)


def tiny_sotr_shapes(c):
    """Key -> shape, written independently of the TypeScript under test, FPN registered before bottom_up."""
    shapes = collections.OrderedDict()
    F = c["fpn"]
    for lvl in range(2, 6):
        shapes[f"backbone.fpn_lateral{lvl}.weight"] = (F, c["out"][lvl - 2], 1, 1)
        shapes[f"backbone.fpn_lateral{lvl}.bias"] = (F,)
        shapes[f"backbone.fpn_output{lvl}.weight"] = (F, F, 3, 3)
        shapes[f"backbone.fpn_output{lvl}.bias"] = (F,)

    def conv(name, shape):
        shapes[name + ".weight"] = shape
        for p in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.norm.{p}"] = (shape[0],)

    bu = "backbone.bottom_up"
    conv(f"{bu}.stem.conv1", (c["stem"], 3, 7, 7))
    cin = c["stem"]
    for s in range(4):
        bn, oc = c["bottleneck"][s], c["out"][s]
        for b in range(c["blocks"][s]):
            p = f"{bu}.res{s + 2}.{b}"
            i = cin if b == 0 else oc
            if b == 0 and i != oc:
                conv(p + ".shortcut", (oc, i, 1, 1))
            conv(p + ".conv1", (bn, i, 1, 1))
            if (s, b) in c["dcn"]:
                shapes[p + ".conv2_offset.weight"] = (27, bn, 3, 3)
                shapes[p + ".conv2_offset.bias"] = (27,)
            conv(p + ".conv2", (bn, bn, 3, 3))
            conv(p + ".conv3", (oc, bn, 1, 1))
        cin = oc
    t = "cate_head.transformer.layers.blocks"
    for L in range(c["depth"]):
        for h in (0, 1):
            p = f"{t}.{2 * L}.{h}.fn"
            shapes[p + ".g"] = ()
            shapes[p + ".fn.to_q.weight"] = (F, F)
            shapes[p + ".fn.to_kv.weight"] = (2 * F, F)
            shapes[p + ".fn.to_out.weight"] = (F, F)
            shapes[p + ".fn.to_out.bias"] = (F,)
        for h in (0, 1):
            p = f"{t}.{2 * L + 1}.{h}"
            shapes[p + ".g"] = ()
            for j in (0, 2):
                shapes[f"{p}.fn.{j}.weight"] = (F, F, 3, 3)
                shapes[f"{p}.fn.{j}.bias"] = (F,)
    shapes["cate_head.cate_pred.weight"] = (c["classes"], F)
    shapes["cate_head.cate_pred.bias"] = (c["classes"],)
    shapes["cate_head.kernel_pred.weight"] = (c["num_masks"], F)
    shapes["cate_head.kernel_pred.bias"] = (c["num_masks"],)
    M = c["mask_channels"]
    for lvl in range(4):
        for j in range(max(1, lvl)):
            p = f"mask_head.convs_all_levels.{lvl}.conv{j}"
            shapes[p + ".0.weight"] = (M, F if j == 0 else M, 3, 3)
            shapes[p + ".1.weight"] = (M,)
            shapes[p + ".1.bias"] = (M,)
    shapes["mask_head.conv_pred.0.weight"] = (c["num_masks"], M, 1, 1)
    shapes["mask_head.conv_pred.1.weight"] = (c["num_masks"],)
    shapes["mask_head.conv_pred.1.bias"] = (c["num_masks"],)
    return shapes


def formula(key, shape):
    h = sum(ord(ch) for ch in key) % 97
    n = 1
    for d in shape:
        n *= d
    i = torch.arange(n, dtype=torch.int64)
    return (((i * 37 + h) % 255 - 127).to(torch.float32) / 64).reshape(shape)


def tiny_sotr_state_dict():
    sd = collections.OrderedDict()
    for k, shape in tiny_sotr_shapes(TINY).items():
        sd[k] = formula(k, shape)
    # nn.Module.state_dict() attaches per-module versions; pickle stores them with a BUILD opcode
    sd._metadata = collections.OrderedDict(
        [("", {"version": 1}), ("backbone", {"version": 1}), ("backbone.bottom_up.stem.conv1.norm", {"version": 3})])
    return sd


def wrapped(sd):
    """A DDP training checkpoint: 'module.' keys, optimizer state with its own tensors, scheduler, iteration."""
    model = collections.OrderedDict(("module." + k, v) for k, v in sd.items())
    if hasattr(sd, "_metadata"):
        model._metadata = collections.OrderedDict(("module." + k if k else "module", v) for k, v in sd._metadata.items())
    params = [torch.nn.Parameter(v.clone()) for v in list(sd.values())[:6]]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    sched = {"milestones": [210000, 250000], "gamma": 0.1, "warmup_factor": 0.01, "warmup_iters": 1000,
             "warmup_method": "linear", "base_lrs": [0.01], "last_epoch": 1233, "_step_count": 1234,
             "verbose": False, "_get_lr_called_within_step": False, "_last_lr": [0.01]}
    return {"model": model, "optimizer": opt.state_dict(), "scheduler": sched, "iteration": 1234}


def numpy_protocol5():
    """pickle_protocol=5: numpy stores an array beside the model as numpy.core.numeric._frombuffer(BYTEARRAY8 data,
    dtype, shape, order), which the reader once refused as unsafe."""
    import numpy as np
    sd = collections.OrderedDict(w=torch.arange(4, dtype=torch.float32) / 8)
    obj = {"model": sd, "best": np.array([0.5]), "iteration": 7}
    torch.save(obj, os.path.join(OUT, "numpy_p5_zip.pth"), pickle_protocol=5)
    torch.save(obj, os.path.join(OUT, "numpy_p5_legacy.pth"), pickle_protocol=5, _use_new_zipfile_serialization=False)


def main():
    os.makedirs(OUT, exist_ok=True)
    numpy_protocol5()
    basic = basic_state_dict()
    with cuda_location():
        save_both(basic, "basic")
    # fixture_io cannot view a 0-dim tensor as bytes and has no int16/int8: those are stored as shape [1] and as
    # int32; the true shapes and dtypes are in the metadata.
    def storable(v):
        v = v.detach()
        if v.dim() == 0:
            v = v.reshape(1)
        if v.dtype in (torch.int16, torch.int8):
            v = v.to(torch.int32)
        return v
    write_fixture("checkpoints/basic_expected", {k: storable(v) for k, v in basic.items()},
                  SCRIPT, SEED, shapes={k: list(v.shape) for k, v in basic.items()},
                  dtypes={k: str(v.dtype).replace("torch.", "") for k, v in basic.items()},
                  note="every tensor of basic_{zip,legacy}.pth made contiguous; 0-dim tensors stored as [1], "
                       "int16/int8 as int32")
    with cuda_location():
        torch.save(wrapped(basic), os.path.join(OUT, "basic_wrapped_zip.pth"))
    tiny = tiny_sotr_state_dict()
    torch.save(tiny, os.path.join(OUT, "tiny_sotr_zip.pth"))
    with cuda_location():
        torch.save(wrapped(tiny), os.path.join(OUT, "tiny_sotr_wrapped_legacy.pth"), _use_new_zipfile_serialization=False)
    cfg = dict(TINY)
    cfg["dcn"] = sorted(cfg["dcn"])
    with open(os.path.join(OUT, "tiny_sotr_config.json"), "w") as f:
        json.dump({"script": SCRIPT, "config": cfg, "keys": len(tiny),
                   "modelBytes": sum(v.numel() * 4 for v in tiny.values())}, f, indent=1)
        f.write("\n")
    total = 0
    for name in sorted(os.listdir(OUT)):
        size = os.path.getsize(os.path.join(OUT, name))
        total += size
        print(f"{name:40s} {size:8d}")
    print(f"{'total':40s} {total:8d}  ({len(tiny)} tiny SOTR tensors)")


if __name__ == "__main__":
    main()
