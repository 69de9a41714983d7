"""Golden fixtures of the SOTR forward pass (tests/model/*.test.mjs), written into tests/fixtures/model/.

  tiny_sotr.pth          a calibrated random 'tiny' model (sotr_random.py, seed below): bare state_dict, zip format
  tiny_sotr_legacy.pth   the same weights as a training checkpoint {"model": ..., "iteration": ...}, legacy format
  img_<name>.png         the test images (synthetic shapes; RGB, RGBA, grey, palette; non-square, odd sizes)
  model_golden.safetensors   per image, from tests/reference/sotr_reference.py on those files:
      <img>.meta        int32 [h, w, Hp, Wp, H0, W0, ratio, min_size, max_size, candidates, after_area, before_nms, after_nms]
      <img>.<stage>.idx / .val   a fixed random sample (int32 flat indices, float32 values) of each intermediate:
                        input, p2..p6, t0..t4 (transformer on the grids), tp5, cate0..4, kernel0..4, maskF
      <img>.labels, <img>.scores     all final instances (sorted)
      <img>.masks       uint8 [K', ceil(H0·W0 / 8)]: np.packbits of the first K' = min(K, 40) masks, row-major
  tiny_dcn.pth           a 'tiny-dcn' model (DCNv2 blocks; heads 2, GroupNorm 4 groups, 8 classes), zip format
  model_golden_dcn.safetensors   the same content for that model on two of the images (DCN_IMAGES)
  dec_*.{jpg,png} + decode_expected.safetensors   decoding cases (EXIF orientation 6 JPEG, 16-bit RGB, 16-bit grey,
                        grey + alpha, CMYK JPEG with EXIF 6, CMYK TIFF, palette with transparency, 1-bit) with what
                        detectron2's read_image (Pillow convert('RGB')) gives
  pillow_resize.safetensors   Pillow BILINEAR resizes of random uint8 images (bit-exact targets)

Run: /usr/bin/python3 tests/reference/make_model_fixtures.py [--decode-only]
"""
import os
import sys

import numpy as np
import torch
from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_io import write_fixture  # noqa: E402
from sotr_random import random_state_dict  # noqa: E402
from sotr_reference import load_model, predict, read_image_bgr  # noqa: E402

SCRIPT = "tests/reference/make_model_fixtures.py"
SEED = 0
OUT = os.path.join(HERE, "..", "fixtures", "model")
SAMPLES = 256
MAX_MASKS = 40

# name, size (w, h), PIL mode, min_size, max_size
IMAGES = [
    ("land", (67, 49), "RGB", 160, 256),      # landscape, odd sizes, upscaled
    ("port", (41, 63), "RGBA", 160, 256),     # portrait with alpha (dropped)
    ("ratio3", (105, 25), "L", 40, 400),      # grey; resized height 40 → ratio 3, and w > f_w·ratio (crop quirk)
    ("down", (150, 85), "RGB", 64, 100),      # downscaled, long side capped
    ("pal", (48, 48), "P", 96, 96),           # square palette image
]


def synth(w, h, seed):
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 / w), (yy * 255 / h), ((xx + yy) * 128 / (w + h))], -1)
    im = Image.fromarray(base.astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(6):
        x0, y0 = rng.randint(0, max(1, w - 6)), rng.randint(0, max(1, h - 6))
        x1, y1 = x0 + rng.randint(4, max(5, w // 2)), y0 + rng.randint(4, max(5, h // 2))
        col = tuple(int(c) for c in rng.randint(0, 256, 3))
        (d.ellipse if rng.rand() < 0.5 else d.rectangle)([x0, y0, x1, y1], fill=col)
    a = np.asarray(im).astype(np.int16) + rng.randint(-8, 9, (h, w, 3))
    return np.clip(a, 0, 255).astype(np.uint8)


def make_image(name, size, mode, seed):
    w, h = size
    rgb = synth(w, h, seed)
    im = Image.fromarray(rgb)
    if mode == "RGBA":
        alpha = np.random.RandomState(seed + 100).randint(0, 256, (h, w)).astype(np.uint8)
        im = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    elif mode == "L":
        im = im.convert("L")
    elif mode == "P":
        im = im.quantize(colors=64)
    path = os.path.join(OUT, f"img_{name}.png")
    im.save(path)
    return path


DCN_SEED = 2
DCN_IMAGES = ["land", "ratio3"]
DCN_OVERRIDES = dict(heads=2, gn_groups=4)


def sample(gen, t, key, out, prefix):
    flat = t.detach().reshape(-1).float()
    n = flat.numel()
    idx = torch.randperm(n, generator=gen)[:SAMPLES].sort().values if n > SAMPLES else torch.arange(n)
    out[f"{prefix}.{key}.idx"] = idx.to(torch.int32)
    out[f"{prefix}.{key}.val"] = flat[idx].contiguous()


def golden_for(sd, names, paths, gen, over, summary):
    golden = {}
    for name in names:
        _, size, mode, min_size, max_size = next(x for x in IMAGES if x[0] == name)
        model = load_model(sd, min_size=min_size, max_size=max_size, **over)
        bgr = read_image_bgr(paths[name])
        keep = {}
        labels, scores, masks = predict(model, bgr, keep)
        h, w = keep["size"]
        x = keep["input"]
        tr = keep["trace"]
        meta = [h, w, x.shape[2], x.shape[3], bgr.shape[0], bgr.shape[1], tr["ratio"], min_size, max_size,
                tr.get("candidates", 0), tr.get("after_area", 0), tr.get("before_nms", 0), tr.get("after_nms", 0)]
        golden[f"{name}.meta"] = torch.tensor(meta, dtype=torch.int32)
        sample(gen, x, "input", golden, name)
        for j, p in enumerate(keep["fpn"]):
            sample(gen, p, f"p{j + 2}", golden, name)
        for j, t in enumerate(keep["transformer"]):
            sample(gen, t, f"t{j}", golden, name)
        sample(gen, keep["transformer_p5"], "tp5", golden, name)
        for j, c in enumerate(keep["cate"]):
            sample(gen, c, f"cate{j}", golden, name)
        for j, k in enumerate(keep["kernel"]):
            sample(gen, k, f"kernel{j}", golden, name)
        sample(gen, keep["mask_feature"], "maskF", golden, name)
        golden[f"{name}.labels"] = labels.to(torch.int32)
        golden[f"{name}.scores"] = scores.float()
        km = min(len(labels), MAX_MASKS)
        packed = np.stack([np.packbits(m.numpy().reshape(-1).astype(np.uint8)) for m in masks[:km]]) if km else np.zeros((0, 1), np.uint8)
        golden[f"{name}.masks"] = torch.from_numpy(packed)
        summary.append(f"{name}: {size[0]}x{size[1]} {mode} -> {h}x{w} (pad {x.shape[2]}x{x.shape[3]}), ratio {tr['ratio']}, "
                       f"candidates {meta[9]}, after area {meta[10]}, before nms {meta[11]}, after nms {meta[12]}, instances {len(labels)}")
    return golden


def png16(path, arr, color_type):
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB)."""
    import struct
    import zlib
    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def decode_cases():
    from PIL import ImageOps
    rng = np.random.RandomState(3)
    files = {}
    im = Image.fromarray(synth(29, 19, 5))
    ex = Image.Exif()
    ex[0x0112] = 6  # rotate 90° clockwise on display
    files["exif6"] = os.path.join(OUT, "dec_exif6.jpg")
    im.save(files["exif6"], quality=90, exif=ex.tobytes())
    files["rgb16"] = os.path.join(OUT, "dec_rgb16.png")
    png16(files["rgb16"], rng.randint(0, 65536, (5, 7, 3)), 2)
    files["grey16"] = os.path.join(OUT, "dec_grey16.png")
    png16(files["grey16"], (rng.randint(0, 300, (6, 4)) * rng.randint(1, 3, (6, 4))), 0)
    files["la"] = os.path.join(OUT, "dec_la.png")
    Image.fromarray(np.dstack([rng.randint(0, 256, (5, 6)), rng.randint(0, 256, (5, 6))]).astype(np.uint8), "LA").save(files["la"])
    # CMYK: Pillow converts with its own formula, libvips with a colour profile (up to 112 levels apart).
    cmyk = Image.fromarray(synth(23, 17, 6)).convert("CMYK")
    files["cmyk_exif6"] = os.path.join(OUT, "dec_cmyk_exif6.jpg")
    cmyk.save(files["cmyk_exif6"], quality=90, exif=ex.tobytes())
    files["cmyk_tif"] = os.path.join(OUT, "dec_cmyk.tif")
    cmyk.save(files["cmyk_tif"], compression="tiff_deflate")
    files["pal_trns"] = os.path.join(OUT, "dec_pal_trns.png")
    Image.fromarray(synth(13, 11, 7)).convert("P", palette=Image.ADAPTIVE, colors=12).save(files["pal_trns"], transparency=2)
    files["bilevel"] = os.path.join(OUT, "dec_bilevel.png")
    Image.fromarray(synth(15, 9, 8)).convert("1").save(files["bilevel"])
    out = {}
    for k, f in files.items():
        rgb = np.asarray(ImageOps.exif_transpose(Image.open(f)).convert("RGB"))
        out[f"{k}.rgb"] = torch.from_numpy(rgb.copy())
    write_fixture("model/decode_expected", out, SCRIPT, 3, files=json_list(files), pillow=Image.__version__)


def json_list(files):
    return [os.path.basename(v) for v in files.values()]


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = random_state_dict("tiny", SEED)
    torch.save(sd, os.path.join(OUT, "tiny_sotr.pth"))
    torch.save({"model": sd, "iteration": 90000}, os.path.join(OUT, "tiny_sotr_legacy.pth"), _use_new_zipfile_serialization=False)
    paths = {name: make_image(name, size, mode, 10 + i) for i, (name, size, mode, _, _) in enumerate(IMAGES)}
    gen = torch.Generator().manual_seed(1234)
    summary = []
    golden = golden_for(sd, [n for n, *_ in IMAGES], paths, gen, {}, summary)
    write_fixture("model/model_golden", golden, SCRIPT, SEED, images=[n for n, *_ in IMAGES], samples=SAMPLES, max_masks=MAX_MASKS,
                  model="tiny_sotr.pth")
    sd_dcn = random_state_dict("tiny-dcn", DCN_SEED)
    torch.save(sd_dcn, os.path.join(OUT, "tiny_dcn.pth"))
    summary.append("tiny-dcn:")
    golden = golden_for(sd_dcn, DCN_IMAGES, paths, gen, DCN_OVERRIDES, summary)
    write_fixture("model/model_golden_dcn", golden, SCRIPT, DCN_SEED, images=DCN_IMAGES, samples=SAMPLES, max_masks=MAX_MASKS,
                  model="tiny_dcn.pth", overrides=DCN_OVERRIDES)
    decode_cases()
    # Pillow resize targets: random images, up and down, odd sizes, one axis only.
    rz = {}
    rng = np.random.RandomState(7)
    cases = [((37, 23), (91, 57)), ((128, 96), (45, 33)), ((50, 40), (50, 17)), ((33, 61), (100, 61)), ((90, 70), (89, 71)),
             ((17, 9), (160, 80)), ((160, 120), (23, 17))]
    for k, ((w0, h0), (w1, h1)) in enumerate(cases):
        src = rng.randint(0, 256, (h0, w0, 3)).astype(np.uint8)
        if k % 2 == 1:  # smooth content as well as noise
            yy, xx = np.mgrid[0:h0, 0:w0]
            src = ((np.sin(xx / 7.0)[..., None] * 100 + 128 + (yy % 13)[..., None] * 5) + np.arange(3) * 20).clip(0, 255).astype(np.uint8)
        dst = np.asarray(Image.fromarray(src).resize((w1, h1), Image.BILINEAR))
        rz[f"case{k}.src"] = torch.from_numpy(src.copy())
        rz[f"case{k}.dst"] = torch.from_numpy(dst.copy())
    write_fixture("model/pillow_resize", rz, SCRIPT, 7, cases=len(cases), pillow=Image.__version__)
    for s in summary:
        print(s)
    total = 0
    for f in sorted(os.listdir(OUT)):
        sz = os.path.getsize(os.path.join(OUT, f))
        total += sz
        print(f"{f:32s} {sz:8d}")
    print(f"{'total':32s} {total:8d}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--decode-only"]:  # the decoding cases alone (the model fixtures stay as they are)
        decode_cases()
    else:
        main()
