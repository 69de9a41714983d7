"""Fixture writer shared by every reference script.

Fixtures are safetensors files (8-byte little-endian header length, JSON header,
raw little-endian data), written here by hand so neither side needs a package.
Every fixture records the script and seed that made it in __metadata__.
Run reference scripts with Debian's torch: /usr/bin/python3 tests/reference/<script>.py
"""
import json
import os
import struct

import numpy as np
import torch

FIXTURE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")

_DTYPES = {
    torch.float32: "F32",
    torch.float64: "F64",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int32: "I32",
    torch.int64: "I64",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def write_fixture(name, tensors, script, seed, **meta):
    """Writes tests/fixtures/<name>.safetensors; returns its path.

    tensors: dict name -> torch.Tensor (made contiguous, moved to the CPU).
    meta: extra string-able metadata (shapes, options) stored in __metadata__.
    """
    header = {}
    blobs = []
    offset = 0
    for key in sorted(tensors):
        t = tensors[key].detach().cpu().contiguous()
        if t.dtype not in _DTYPES:
            raise TypeError(f"{key}: unsupported dtype {t.dtype}")
        raw = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().tobytes()
        header[key] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
                       "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    md = {"script": script, "seed": str(seed)}
    md.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    header["__metadata__"] = md
    hbytes = json.dumps(header, separators=(",", ":")).encode()
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    os.makedirs(FIXTURE_DIR, exist_ok=True)
    path = os.path.join(FIXTURE_DIR, name + ".safetensors")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for b in blobs:
            f.write(b)
    return path


_NUMPY = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32, "I16": np.int16,
          "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_fixture(path):
    """A safetensors file (this writer's or any other, bfloat16 aside) as (name -> numpy array, __metadata__)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=_NUMPY[v["dtype"]]).reshape(v["shape"])
    return out, header.get("__metadata__", {})
