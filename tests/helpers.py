"""Helpers shared by the tests (importable as `helpers`; pytest puts tests/ on sys.path)."""
import torch


def rel_err(out: torch.Tensor, ref: torch.Tensor, scale: float = None) -> float:
    """max |out - ref| / max |ref| (or / scale when given: for results that cancel, measure
    against the size of the terms), in float64 on the CPU; NaN anywhere gives inf."""
    out = out.detach().double().cpu()
    ref = ref.detach().double().cpu()
    if torch.isnan(out).any():
        return float("inf")
    if scale is None:
        scale = ref.abs().max().item() if ref.numel() else 1.0
    return (out - ref).abs().max().item() / max(scale, 1e-300) if out.numel() else 0.0


# Unit roundoff per dtype; tolerances in the tests are multiples of these.
EPS = {
    torch.float64: 2.0**-52,
    torch.float32: 2.0**-23,
    torch.float16: 2.0**-10,
    torch.bfloat16: 2.0**-7,
}
