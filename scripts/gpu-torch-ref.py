#!/usr/bin/env python3
"""The PyTorch reference forward end to end, timed on the checkpoint and image of scripts/gpu-e2e.mjs (stage 4b of
scripts/gpu-check.sh): tests/reference/sotr_reference.py's load_model + predict on --device, batch 1.

What one timed run includes (as our predict, from raw BGR pixels to instances): the reference's pre-processing
(uint8 HWC -> float32 CHW on the CPU, moved to the device, normalised and padded there, as detectron2's
DefaultPredictor), backbone + FPN, twin transformer, heads, mask branch, SOTR's post-processing (score threshold,
dynamic convolution, area filter, Matrix NMS, mask upsampling to the image size and threshold). The image is in
memory (read from its file once, outside the timing); torch.cuda.synchronize() before and after each run.
`medianMs` leaves the results on the device (the reference forward as it stands: the favourable number for torch);
`toHost` also copies labels, scores and the bool masks [K, H, W] to the host (our predict returns its results to
JavaScript). fp32 with TF32 off (matmul and cuDNN); bf16 = the same code under torch.autocast(bfloat16), unchanged
(autocast also runs the post-processing's matmul in Matrix NMS in bf16). cudnn.benchmark is left at its default.

With --e2e-json (gpu-e2e's JSON), compares with our runs there (instance count, labels in order, scores, mask areas,
post-processing counts), gives the ratio torch / ours of the batch-1 medians, and merges the result into that file
as `torchReference` (after each precision, so a timeout keeps what was done). One summary line per precision on
stdout, progress on stderr.

  python3 scripts/gpu-torch-ref.py --checkpoint F.safetensors --image F.bgr [--width 1333] [--height 800]
      [--min-size 800] [--device cuda] [--precisions fp32,bf16] [--warmup 3] [--reps 20] [--budget 45]
      [--e2e-json FILE]
Exit codes: 0 ran (or skipped: torch, the device or the files missing; the JSON and the line say why), 1 error.
"""
import argparse
import json
import os
import signal
import sys
import time

T0 = time.perf_counter()
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, ".."))


def log(*a):
    print(f"[torch-ref {time.perf_counter() - T0:.1f}s]", *a, file=sys.stderr, flush=True)


def r3(v):
    return None if v is None else float(f"{v:.3g}")


def quant(xs, q):
    """The nearest-rank quantile gpu-e2e.mjs uses (median of an even count: the upper middle)."""
    if not xs:
        return None
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def stats(ts):
    return {"medianMs": r3(quant(ts, 0.5)), "p10Ms": r3(quant(ts, 0.1)), "p90Ms": r3(quant(ts, 0.9)),
            "minMs": r3(min(ts)) if ts else None, "reps": len(ts)}


class Killed(Exception):
    pass


def on_term(signum, frame):
    raise Killed(f"signal {signum} (timeout)")


def compare(tl, ol, score_tol=0.02, area_tol=0.1):
    """Torch's instances against ours, both [[label, score, area], ...] sorted by score: order-aligned, and matched
    greedily (same label, |dscore| <= score_tol, mask areas within area_tol relative)."""
    n = min(len(tl), len(ol))
    same = len(tl) == len(ol) and all(tl[k][0] == ol[k][0] for k in range(n))
    ds = max((abs(tl[k][1] - ol[k][1]) for k in range(n)), default=0.0)
    da = max((abs(tl[k][2] - ol[k][2]) / max(tl[k][2], ol[k][2], 1) for k in range(n)), default=0.0)
    used = set()
    matched = 0
    for lab, sc, ar in tl:
        best, bd = -1, None
        for j, (l2, s2, a2) in enumerate(ol):
            if j in used or l2 != lab:
                continue
            d = abs(s2 - sc)
            if d <= score_tol and abs(a2 - ar) / max(a2, ar, 1) <= area_tol and (bd is None or d < bd):
                best, bd = j, d
        if best >= 0:
            used.add(best)
            matched += 1
    return {"torch": len(tl), "ours": len(ol), "sameCountAndLabels": same, "maxScoreDiff": r3(ds),
            "maxAreaRelDiff": r3(da), "matched": matched, "tolerance": {"score": score_tol, "areaRel": area_tol}}


TRACE_KEYS = (("candidates", "candidates"), ("after_area", "afterAreaFilter"), ("before_nms", "beforeNms"),
              ("after_nms", "afterNms"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--image", required=True, help="raw BGR uint8 bytes, height x width x 3")
    ap.add_argument("--width", type=int, default=1333)
    ap.add_argument("--height", type=int, default=800)
    ap.add_argument("--min-size", type=int, default=800)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--budget", type=float, default=45.0, help="seconds for the whole script, import included")
    ap.add_argument("--e2e-json", default=None, help="gpu-e2e.mjs's JSON: compared with, and merged into")
    a = ap.parse_args()
    deadline = T0 + a.budget
    signal.signal(signal.SIGTERM, on_term)
    precisions = [p for p in a.precisions.split(",") if p]
    out = {"script": "scripts/gpu-torch-ref.py", "device": a.device, "checkpoint": a.checkpoint, "image": a.image,
           "size": [a.height, a.width], "minSize": a.min_size,
           "included": "raw BGR in memory -> float32 CHW (CPU) -> device, normalise + pad -> model -> post-processing "
                       "(Matrix NMS, masks at image size); synchronize before/after each run; medianMs: results on "
                       "the device; toHost: + labels, scores, bool masks copied to the host"}
    lines = []

    e2e = None
    if a.e2e_json and os.path.exists(a.e2e_json):
        try:
            with open(a.e2e_json) as fh:
                e2e = json.loads(fh.read())
        except (OSError, ValueError) as e:
            log(f"cannot read {a.e2e_json}: {e}")

    def save():
        if not a.e2e_json:
            return
        doc = dict(e2e) if isinstance(e2e, dict) else {"note": "scripts/gpu-e2e.mjs wrote no JSON"}
        doc["torchReference"] = out
        tmp = a.e2e_json + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(json.dumps(doc) + "\n")
        os.replace(tmp, a.e2e_json)

    def finish(code):
        out["wallS"] = round(time.perf_counter() - T0, 1)
        try:
            save()
        except OSError as e:
            log(f"cannot write {a.e2e_json}: {e}")
        for line in lines:
            print(line, flush=True)
        return code

    for f in (a.checkpoint, a.image):
        if not os.path.exists(f):
            out["skipped"] = f"{f} missing (gpu-e2e did not get that far)"
            lines.append(f"torch reference: skipped ({out['skipped']})")
            return finish(0)
    try:
        import numpy as np
        import torch
    except Exception as e:
        out["skipped"] = f"torch not importable: {type(e).__name__}: {e}"
        lines.append(f"torch reference: skipped ({out['skipped']})")
        return finish(0)
    if a.device == "cuda" and not torch.cuda.is_available():
        out["skipped"] = "torch has no CUDA device"
        lines.append(f"torch reference: skipped ({out['skipped']})")
        return finish(0)

    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    sys.path.insert(0, os.path.join(ROOT, "benchmarks", "torch"))
    cuda = a.device.startswith("cuda")
    try:
        from sotr_reference import load_model, predict
        from benches_e2e import read_safetensors

        torch.set_grad_enabled(False)
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        out.update({"torch": torch.__version__, "threads": torch.get_num_threads(),
                    "tf32": {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32},
                    "cudnn": torch.backends.cudnn.version() if cuda else None,
                    "cudnnBenchmark": torch.backends.cudnn.benchmark,
                    "gpu": torch.cuda.get_device_name(0) if cuda else None})
        log(f"torch {torch.__version__} on {a.device}{' (' + out['gpu'] + ')' if cuda else ''}, importing took "
            f"{time.perf_counter() - T0:.1f} s")
        t = time.perf_counter()
        sd = read_safetensors(a.checkpoint)
        model = load_model(sd, min_size=a.min_size).to(a.device)
        del sd
        bgr = np.fromfile(a.image, dtype=np.uint8).reshape(a.height, a.width, 3)
        if cuda:
            torch.cuda.synchronize()
        out["loadMs"] = round((time.perf_counter() - t) * 1000)
        log(f"model loaded and moved to {a.device} in {out['loadMs']} ms")
    except Killed as e:
        out["error"] = str(e)
        lines.append(f"torch reference: killed while loading ({e})")
        return finish(1)
    except Exception as e:
        out["error"] = f"{type(e).__name__}: {e}"
        lines.append(f"torch reference: ERROR {out['error']}")
        log("error:", out["error"])
        return finish(1)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    ours_runs = {r.get("precision"): r for r in (e2e or {}).get("runs", []) if isinstance(r, dict)}
    ours_cpu = (e2e or {}).get("reference") or {}
    torch_fp32_ms = None
    last_s = 0.0  # the last run's seconds: what the next precision's first run may cost
    code = 0
    for i, prec in enumerate(precisions):
        res = {"precision": prec}
        out[prec] = res
        if prec not in ("fp32", "bf16"):
            res["skipped"] = "unknown precision (fp32, bf16)"
            continue
        left = deadline - time.perf_counter()
        if left < max(2.0, 1.5 * last_s):
            res["skipped"] = "budget"
            lines.append(f"torch reference {a.device} {prec}: skipped (budget)")
            continue
        share_end = time.perf_counter() + left / (len(precisions) - i)
        if prec == "bf16":
            res["autocast"] = "bfloat16"
            ctx = lambda: torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16)  # noqa: E731
        else:
            res["autocast"] = None
            ctx = torch.no_grad

        def once(keep=None, to_host=False):
            sync()
            t0 = time.perf_counter()
            with ctx():
                labels, scores, masks = predict(model, bgr, keep)
            if to_host:
                labels, scores, masks = labels.cpu(), scores.cpu(), masks.cpu()
            sync()
            return (time.perf_counter() - t0) * 1000, (labels, scores, masks)

        try:
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            keep = {}
            first, (labels, scores, masks) = once(keep)
            res["firstMs"] = r3(first)
            trace = keep.get("trace", {})
            res["trace"] = {b: trace.get(k) for k, b in TRACE_KEYS}
            areas = masks.flatten(1).sum(1).tolist()
            tl = [[int(l), float(s), int(ar)] for l, s, ar in zip(labels.tolist(), scores.float().tolist(), areas)]
            res["instances"] = len(tl)
            del keep, labels, scores, masks
            log(f"{prec}: first {first:.0f} ms, {len(tl)} instances, trace {json.dumps(res['trace'])}")
            warm = [first]
            while len(warm) < max(1, a.warmup) + 1 and time.perf_counter() + 3 * warm[-1] / 1000 < share_end:
                warm.append(once()[0])
            res["warmup"] = len(warm) - 1
            # Timed runs: results left on the device, then copied to the host (on the CPU the same thing: once).
            dev_ms, host_ms = [], []
            est = (2 if cuda else 1) * warm[-1] / 1000
            while len(dev_ms) < a.reps and time.perf_counter() + est < (share_end if dev_ms else deadline):
                t = time.perf_counter()
                dev_ms.append(once()[0])
                host_ms.append(once(to_host=True)[0] if cuda else dev_ms[-1])
                est = time.perf_counter() - t
            last_s = (dev_ms[-1] if dev_ms else warm[-1]) / 1000
            res.update(stats(dev_ms))
            res["toHost"] = stats(host_ms)
            if not dev_ms:
                res["skipped"] = "budget: no timed run after the first"
            if cuda:
                res["peakAllocatedMiB"] = round(torch.cuda.max_memory_allocated() / 2 ** 20, 1)
            # Ours: the same precision on the device; the CPU reference (fp32) of gpu-e2e as well.
            ours = ours_runs.get(prec) or {}
            if ours.get("instanceList") is not None:
                res["vsOurs"] = compare(tl, ours["instanceList"])
            if ours.get("trace"):
                res["traceAgreesWithOurs"] = all(res["trace"][b] == ours["trace"].get(b) for _, b in TRACE_KEYS)
            if ours_cpu.get("instanceList") is not None:
                res["vsOursCpu"] = compare(tl, ours_cpu["instanceList"])
            ours_ms = (ours.get("batch1") or {}).get("medianMs")
            if ours_ms and dev_ms:
                res["oursBatch1MedianMs"] = ours_ms
                res["torchOverOurs"] = r3(res["medianMs"] / ours_ms)
                res["torchToHostOverOurs"] = r3(res["toHost"]["medianMs"] / ours_ms)
            if prec == "fp32":
                torch_fp32_ms = res["medianMs"]
            elif torch_fp32_ms and ours_ms and dev_ms:
                res["torchFp32OverOurs"] = r3(torch_fp32_ms / ours_ms)
            log(f"{prec}: {json.dumps(res)}")
        except Killed as e:
            res["error"] = str(e)
            lines.append(f"torch reference {a.device} {prec}: killed ({e})")
            save()
            return finish(1)
        except Exception as e:
            res["error"] = f"{type(e).__name__}: {e}"
            log(f"{prec}: error:", res["error"])
            code = 1
        finally:
            if cuda:
                torch.cuda.empty_cache()
        lines.append(summary_line(a.device, prec, res, ours_runs.get(prec)))
        save()
    return finish(code)


def g(v):
    return "-" if v is None else f"{v:g}"


def summary_line(device, prec, res, ours):
    head = f"torch reference {device} {prec}" + (" (TF32 off)" if prec == "fp32" and device != "cpu" else "") + \
        (" (autocast bf16)" if prec == "bf16" else "")
    if res.get("error"):
        return f"{head}: ERROR {res['error'].splitlines()[0]}"
    if res.get("medianMs") is None:
        return f"{head}: no timing ({res.get('skipped', '?')}); first {g(res.get('firstMs'))} ms, {res.get('instances')} instances"
    h = res["toHost"]
    s = (f"{head}: median {g(res['medianMs'])} ms (p10 {g(res['p10Ms'])}, p90 {g(res['p90Ms'])}, {res['reps']} reps after "
         f"{res['warmup']} warm-up" + (f"; with masks to host {g(h['medianMs'])} ms" if device != "cpu" else "") +
         f"), first {g(res['firstMs'])} ms, {res['instances']} instances")
    if res.get("peakAllocatedMiB") is not None:
        s += f", peak {g(res['peakAllocatedMiB'])} MiB"
    if res.get("torchOverOurs") is not None:
        s += f"; ours {device} {prec} batch 1 {g(res['oursBatch1MedianMs'])} ms: torch/ours {g(res['torchOverOurs'])}x"
        if res.get("torchFp32OverOurs") is not None:
            s += f" (torch fp32/ours {prec} {g(res['torchFp32OverOurs'])}x)"
    elif ours is None:
        s += f"; no {prec} run of ours to compare"
    v = res.get("vsOurs")
    if v:
        s += (f"; vs ours: {v['torch']} vs {v['ours']} instances, same labels in order {'yes' if v['sameCountAndLabels'] else 'NO'}, "
              f"matched {v['matched']}/{v['torch']}, max |dscore| {g(v['maxScoreDiff'])}, max area diff {g(v['maxAreaRelDiff'])}")
    if res.get("traceAgreesWithOurs") is not None:
        s += f", post-processing counts {'agree' if res['traceAgreesWithOurs'] else 'DIFFER ' + json.dumps(res['trace'])}"
    return s


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Killed as e:
        print(f"torch reference: killed ({e})", flush=True)
        sys.exit(1)
