"""Exports the network of tests/reference/sotr_reference.py (the PyTorch mirror of the official code: backbone, FPN,
twin transformer, heads, mask branch; no pre- or post-processing) to ONNX, for benchmarks/onnxruntime_bench.mjs.

    /usr/bin/python3 benchmarks/onnxruntime/export_onnx.py CHECKPOINT.safetensors OUT.onnx [HEIGHT WIDTH]

HEIGHT x WIDTH is the padded network input (default 800 x 1344: a 1333 x 800 image at the test size). Outputs, in
order: the five category logit grids, the five kernel grids, the mask feature (as the reference's heads give them).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))
sys.path.insert(0, os.path.join(HERE, "..", "torch"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from benches_e2e import read_safetensors  # noqa: E402
from sotr_reference import load_model  # noqa: E402


class Network(nn.Module):
    """The reference's network (SOTR.network): its outputs as one flat tuple, as ONNX wants them."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, image):
        cate, kernel, feat = self.m.network(image)
        return (*cate, *kernel, feat)


def main():
    ck, out = sys.argv[1], sys.argv[2]
    h, w = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (800, 1344)
    net = Network(load_model(read_safetensors(ck))).eval()
    with torch.no_grad():
        torch.onnx.export(net, (torch.zeros(1, 3, h, w),), out, opset_version=17, input_names=["image"],
                          output_names=[f"cate{i}" for i in range(5)] + [f"kernel{i}" for i in range(5)] + ["mask_feature"],
                          do_constant_folding=True)
    print(f"{out}: {os.path.getsize(out) / 2**20:.0f} MiB, torch {torch.__version__}, input 1x3x{h}x{w}")


if __name__ == "__main__":
    main()
