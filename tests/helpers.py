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


# Floor of the relative error allowed per dtype when comparing with a float64 reference: a few
# units of roundoff of the output (results are computed in fp32 and rounded once), and for fp32
# some room for the fast exp/erf of the CUDA kernels (a few ulp each).
TOL_FLOOR = {
    torch.float64: 1e-12,
    torch.float32: 64 * EPS[torch.float32],
    torch.float16: 2 * EPS[torch.float16],
    torch.bfloat16: 2 * EPS[torch.bfloat16],
}


def assert_close_lp(out: torch.Tensor, ref64: torch.Tensor, same_precision: torch.Tensor, what: str = "") -> None:
    """Our error against the float64 reference is at most twice that of the same computation done
    by torch in the input's precision, or the dtype's floor (TOL_FLOOR), whichever is larger."""
    ours = rel_err(out, ref64)
    theirs = rel_err(same_precision, ref64)
    theirs = 0.0 if theirs == float("inf") else theirs
    tol = max(2 * theirs, TOL_FLOOR[out.dtype])
    assert ours <= tol, f"{what}: rel err {ours:.3g} > {tol:.3g} (torch {out.dtype}: {theirs:.3g})"
