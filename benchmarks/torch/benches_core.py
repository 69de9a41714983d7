"""PyTorch twins of our core benchmarks (GEMM/matmul)."""
import torch


def matmul(p, device):
    g = torch.Generator().manual_seed(0)
    dt = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[p.get("precision", "fp32")]
    a = torch.randn(p["M"], p["K"], generator=g).to(device=device, dtype=dt)
    b = torch.randn(p["K"], p["N"], generator=g).to(device=device, dtype=dt)
    return lambda: torch.matmul(a, b)


BENCHES = {"matmul": matmul}
