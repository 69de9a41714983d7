"""COCO evaluation goldens (tests/eval/coco_eval.test.mjs), written to tests/fixtures/eval/coco_eval.json.

Synthetic ground truth (images of several sizes, non-contiguous category ids and one category without ground truth,
multi-part polygons with fractional and out-of-image vertices, crowd regions as uncompressed RLE, areas across the small / medium / large ranges, an 'ignore' flag that pycocotools
overrides) and two result sets (perturbed ground-truth masks and false positives, tied scores, 130 results of one
image and category (past maxDets), one of a category the annotations lack; one with `bbox` as `sotr predict --coco` writes, one with
segmentation only), evaluated by pycocotools' COCOeval for 'segm' and 'bbox'. Also each ground-truth segmentation as
pycocotools rasterises it (annToRLE: compressed counts, area, toBbox) and a few IoU matrices.

Needs pycocotools, which Debian does not package: build it from the cocoapi sources (PythonAPI: `python3 setup.py
build_ext --inplace`, with Debian's cython3; remove coco.py's matplotlib imports if matplotlib is absent, and with
numpy >= 1.24 replace cocoeval.py's `np.float` by `float`) and put its
PythonAPI folder on PYTHONPATH. Run: PYTHONPATH=<cocoapi>/PythonAPI /usr/bin/python3 tests/reference/make_coco_eval_fixtures.py
"""
import contextlib
import io
import json
import os

import numpy as np
from pycocotools import mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

SEED = 5
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "eval", "coco_eval.json")


def star(rng, cx, cy, r, n):
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.4, 1.0, n)
    pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)
    return [round(float(v), 2) for v in pts.reshape(-1)]


def many_categories():
    """Boxes only, 12 categories: the mean behind AP then covers 10 x 101 x 12 = 12 120 values, more than numpy's
    reduction buffer (8192), which numpy sums chunk by chunk (pairwise within a chunk)."""
    rng = np.random.default_rng(SEED + 1)
    cats = list(range(1, 13))
    images, anns, res = [], [], []
    for i in range(30):
        h, w = int(rng.integers(40, 200)), int(rng.integers(40, 200))
        images.append({"id": 500 + i, "height": h, "width": w, "file_name": f"m{i}.png"})
        for _ in range(int(rng.integers(2, 9))):
            x, y = float(rng.uniform(0, w - 10)), float(rng.uniform(0, h - 10))
            bw, bh = float(rng.uniform(3, w - x)), float(rng.uniform(3, h - y))
            cat = int(rng.choice(cats))
            anns.append({"id": len(anns) + 1, "image_id": 500 + i, "category_id": cat, "bbox": [x, y, bw, bh],
                         "area": bw * bh, "iscrowd": 0})
            for _ in range(int(rng.integers(1, 4))):
                j = rng.uniform(-0.3, 0.3, 4) * [bw, bh, bw, bh]
                res.append({"image_id": 500 + i, "category_id": cat if rng.random() < 0.8 else int(rng.choice(cats)),
                            "bbox": [float(v) for v in np.maximum([x + j[0], y + j[1], bw + j[2], bh + j[3]], 1.0)],
                            "score": float(np.round(rng.uniform(0.05, 1.0), 6))})
    gt = {"images": images, "annotations": anns, "categories": [{"id": c, "name": f"c{c}"} for c in cats]}
    coco = COCO()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        coco.dataset = json.loads(json.dumps(gt))
        coco.createIndex()
        dt = coco.loadRes(json.loads(json.dumps(res)))
        ev = COCOeval(coco, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    lines = [l for l in out.getvalue().splitlines() if l.startswith(" Average")]
    return {"groundTruth": gt, "results": res, "expected": {"stats": [float(v) for v in ev.stats], "lines": lines}}


def main():
    rng = np.random.default_rng(SEED)
    sizes = [(37, 53), (120, 160), (200, 300), (64, 64), (150, 113), (90, 250), (300, 200), (48, 31)]
    cats = [1, 3, 7, 10, 12]  # 12 has no ground truth
    images, anns = [], []
    aid = 1
    for i, (h, w) in enumerate(sizes):
        images.append({"id": 100 + i, "height": h, "width": w, "file_name": f"img{i}.png"})
        for j in range(int(rng.integers(2, 7))):
            cat = int(rng.choice(cats[:4]))
            big = j == 0 and min(h, w) >= 150  # a 'large' object (area > 96^2)
            r = float(min(h, w) / 1.7) if big else float(rng.uniform(3, min(h, w) / 1.5))
            cx, cy = float(rng.uniform(-5, w + 5)) if rng.random() < 0.2 else float(rng.uniform(w / 4, 3 * w / 4)), float(rng.uniform(h / 4, 3 * h / 4))
            if big:
                cx, cy = w / 2, h / 2
            parts = [star(rng, cx, cy, r, 40 if big else int(rng.integers(3, 12)))]
            if rng.random() < 0.3:
                parts.append(star(rng, float(rng.uniform(0, w)), float(rng.uniform(0, h)), r / 2, int(rng.integers(3, 8))))
            ann = {"id": aid, "image_id": 100 + i, "category_id": cat, "segmentation": parts, "iscrowd": 0}
            if rng.random() < 0.12:  # a crowd region, as uncompressed RLE
                m = mask_util.decode(mask_util.merge(mask_util.frPyObjects(parts, h, w)))
                runs, cur, n = [], 0, 0
                for v in m.flatten(order="F"):
                    if v != cur:
                        runs.append(n)
                        n, cur = 0, v
                    n += 1
                runs.append(n)
                ann["segmentation"] = {"size": [h, w], "counts": [int(c) for c in runs]}
                ann["iscrowd"] = 1
            anns.append(ann)
            aid += 1
    gt = {"images": images, "annotations": anns, "categories": [{"id": c, "name": f"c{c}"} for c in cats]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = json.loads(json.dumps(gt))
        coco.createIndex()
    rasters = []
    for a in anns:
        rle = coco.annToRLE(a)
        a["area"] = float(mask_util.area(rle))
        a["bbox"] = [float(v) for v in mask_util.toBbox(rle)]
        rasters.append({"id": a["id"], "counts": rle["counts"].decode(), "area": int(mask_util.area(rle)), "bbox": a["bbox"]})
    # One annotation with an area field that disagrees with its mask (COCO's areas are polygon areas), and one with
    # an 'ignore' flag that pycocotools overrides with iscrowd (so it counts).
    anns[1]["area"] = anns[1]["area"] * 0.9 + 1.5
    anns[2]["ignore"] = 1
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = json.loads(json.dumps(gt))
        coco.createIndex()
    results_box, results_segm = [], []
    for a in anns:
        img = coco.imgs[a["image_id"]]
        h, w = img["height"], img["width"]
        m = mask_util.decode(coco.annToRLE(a))
        for _ in range(int(rng.integers(0, 3))):
            dy, dx = int(rng.integers(-3, 4)), int(rng.integers(-3, 4))
            p = np.roll(np.roll(m, dy, 0), dx, 1)
            x, y, bw, bh = [int(v) for v in mask_util.toBbox(coco.annToRLE(a))]
            flip = np.zeros_like(p, dtype=bool)
            flip[y:y + bh, x:x + bw] = rng.random((min(bh, h - y), min(bw, w - x))) < rng.choice([0.02, 0.1, 0.3])
            p = np.logical_xor(p, flip).astype(np.uint8)
            results_box.append((a["image_id"], a["category_id"] if rng.random() < 0.85 else int(rng.choice(cats)), p))
    for img in images:
        h, w = img["height"], img["width"]
        for _ in range(int(rng.integers(0, 4))):
            p = np.zeros((h, w), np.uint8)
            y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
            p[y0:y0 + int(rng.integers(1, h)), x0:x0 + int(rng.integers(1, w))] = 1
            results_box.append((img["id"], int(rng.choice(cats)), p))
    # More than maxDets (100) results for one image and category: the cut in computeIoU, evaluateImg and accumulate.
    h, w = images[2]["height"], images[2]["width"]
    for _ in range(130):
        p = np.zeros((h, w), np.uint8)
        y0, x0 = int(rng.integers(0, h - 8)), int(rng.integers(0, w - 8))
        p[y0:y0 + int(rng.integers(2, 40)), x0:x0 + int(rng.integers(2, 40))] = 1
        results_box.append((images[2]["id"], 7, p))
    # A result whose category the annotation file does not have: not evaluated.
    results_box.append((images[0]["id"], 99, np.ones((images[0]["height"], images[0]["width"]), np.uint8)))
    box_out, segm_out = [], []
    for k, (img_id, cat, p) in enumerate(results_box):
        rle = mask_util.encode(np.asfortranarray(p))
        score = float(np.round(rng.uniform(0.05, 1.0), 2 if k % 3 == 0 else 6))  # some ties
        seg = {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode()}
        bb = [float(v) for v in mask_util.toBbox(rle)]
        box_out.append({"image_id": img_id, "category_id": cat, "score": score, "segmentation": seg, "bbox": bb})
        segm_out.append({"image_id": img_id, "category_id": cat, "score": score, "segmentation": seg})
    stats = {}
    for name, res in (("withBbox", box_out), ("segmOnly", segm_out)):
        for iou_type in ("segm", "bbox"):
            with contextlib.redirect_stdout(io.StringIO()) as out:
                dt = coco.loadRes(json.loads(json.dumps(res)))
                ev = COCOeval(coco, dt, iou_type)
                ev.evaluate()
                ev.accumulate()
                ev.summarize()
            lines = [l for l in out.getvalue().splitlines() if l.startswith(" Average")]
            # Per-category AP as detectron2 tabulates it: precision[:, :, k, area all, maxDets 100], entries > -1.
            prec = ev.eval["precision"]
            per_cat = []
            for k in range(prec.shape[2]):
                p_k = prec[:, :, k, 0, -1]
                p_k = p_k[p_k > -1]
                per_cat.append(float(np.mean(p_k)) if p_k.size else -1.0)
            stats[f"{name}.{iou_type}"] = {"stats": [float(v) for v in ev.stats], "lines": lines, "perCategory": per_cat}
    # IoU matrices of one image, with the crowd rule.
    ious = []
    for img in images[:3]:
        g = [a for a in anns if a["image_id"] == img["id"]]
        d = [r for r in box_out if r["image_id"] == img["id"]]
        if not g or not d:
            continue
        gr = [coco.annToRLE(a) for a in g]
        dr = [r["segmentation"] for r in d]
        crowd = [a["iscrowd"] for a in g]
        io_ = mask_util.iou(dr, gr, crowd)
        ious.append({"image_id": img["id"], "dt": [r["segmentation"]["counts"] for r in d], "gt": [a["id"] for a in g],
                     "iou": [[float(v) for v in row] for row in np.asarray(io_)]})
    many = many_categories()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"script": "tests/reference/make_coco_eval_fixtures.py", "seed": SEED, "groundTruth": gt,
                   "rasters": rasters, "results": {"withBbox": box_out, "segmOnly": segm_out}, "expected": stats, "ious": ious,
                   "manyCategories": many},
                  f, separators=(",", ":"))
    print(OUT, os.path.getsize(OUT), "bytes;", len(anns), "annotations,", len(box_out), "results")
    for k, v in stats.items():
        print(k, [round(x, 4) for x in v["stats"]])


if __name__ == "__main__":
    main()
