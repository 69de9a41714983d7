"""pycocotools' side of host_outputs_bench.mjs's evaluation rows: COCOeval on the same synthetic set, timed here.

  PYTHONPATH=<folder holding a built pycocotools> /usr/bin/python3 benchmarks/pycocotools/coco_eval_bench.py GT.json RES.json

Prints JSON: per iouType (segm, bbox), the seconds of loadRes + evaluate + accumulate + summarize (the work
evaluateCoco does; reading the JSON files excluded) and the 12 stats. Debian has no pycocotools package: build it
from the cocoapi sources (PythonAPI, `python3 setup.py build_ext --inplace` with Debian's cython3).
"""
import contextlib
import io
import json
import sys
import time

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def main():
    gt_path, res_path = sys.argv[1], sys.argv[2]
    with open(gt_path) as f:
        gt = json.load(f)
    with open(res_path) as f:
        res = json.load(f)
    out = {}
    for iou_type in ("segm", "bbox"):
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO()
            coco.dataset = gt
            coco.createIndex()
            t0 = time.perf_counter()
            dt = coco.loadRes([dict(r) for r in res])
            ev = COCOeval(coco, dt, iou_type)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            secs = time.perf_counter() - t0
        out[iou_type] = {"seconds": secs, "stats": [float(x) for x in ev.stats]}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
