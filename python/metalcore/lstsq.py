"""Least squares and pseudo-inverse on top of metalcore's SVD and eigh: rank-revealing, minimum-
norm solutions, torch.linalg's rcond conventions. Autograd flows through svd/eigh."""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor

from .eigh import eigh
from .svd import svd

__all__ = ["lstsq", "pinv"]


class LstsqResult(NamedTuple):
    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor


def _check_float(name, *ts):
    for t in ts:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected Tensors, got {type(t).__name__}")
        if t.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"{name}: dtype {t.dtype} not supported; expected float32 or float64")


def _keep(S: Tensor, atol: Optional[float], rtol: Optional[float]) -> Tensor:
    """Mask of singular values above max(atol, rtol * s_max) (torch.linalg.pinv's rule)."""
    cut = S[..., :1] * (rtol or 0.0)
    if atol is not None and atol > 0:
        cut = cut.clamp_min(atol)
    return S > cut


def lstsq(A: Tensor, B: Tensor, rcond: Optional[float] = None) -> LstsqResult:
    """Least-squares solution of A X = B for A (..., M, N), B (..., M, K) or (..., M), via the
    SVD (like LAPACK gelsd): singular values <= rcond * s_max are treated as zero (rcond=None:
    eps(dtype) * max(M, N)), giving the minimum-norm solution of rank-deficient and
    underdetermined systems. residuals: squared residual norms per column when M > N and every
    matrix has full rank, else empty; rank: int64; singular_values: (..., min(M, N))."""
    _check_float("lstsq", A, B)
    if A.dim() < 2:
        raise ValueError(f"lstsq: A must have at least 2 dimensions; got shape {list(A.shape)}")
    if A.dtype != B.dtype or A.device != B.device:
        raise ValueError("lstsq: A and B must have the same dtype and device")
    m, n = A.shape[-2:]
    vector = B.dim() == A.dim() - 1
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.dim() < 2 or Bm.shape[-2] != m:
        raise ValueError(f"lstsq: B of shape {list(B.shape)} does not match A of shape {list(A.shape)}")
    batch = torch.broadcast_shapes(A.shape[:-2], Bm.shape[:-2])
    A = A.expand(*batch, m, n)
    Bm = Bm.expand(*batch, m, Bm.shape[-1])
    if rcond is None:
        rcond = torch.finfo(A.dtype).eps * max(m, n)
    U, S, V = svd(A)
    keep = _keep(S, None, rcond)
    rank = keep.sum(-1)
    sinv = torch.where(keep, 1.0 / torch.where(keep, S, torch.ones_like(S)), torch.zeros_like(S))
    X = V @ (sinv.unsqueeze(-1) * (U.mT @ Bm))
    if m > n and rank.numel() > 0 and bool((rank == n).all()):
        residuals = (A @ X - Bm).square().sum(-2)
        if vector:
            residuals = residuals.squeeze(-1)
    else:
        residuals = A.new_empty(0)
    if vector:
        X = X.squeeze(-1)
    return LstsqResult(X, residuals, rank, S)


def pinv(A: Tensor, rcond: Optional[float] = None, hermitian: bool = False, *,
         atol: Optional[float] = None, rtol: Optional[float] = None) -> Tensor:
    """Moore-Penrose pseudo-inverse with torch.linalg.pinv's semantics: singular values (or
    |eigenvalues| when hermitian, reading the lower triangle) <= max(atol, rtol * largest) are
    dropped; rcond is the older name of rtol; with neither atol nor rtol, rtol =
    eps(dtype) * max(M, N)."""
    _check_float("pinv", A)
    if A.dim() < 2:
        raise ValueError(f"pinv: A must have at least 2 dimensions; got shape {list(A.shape)}")
    if rcond is not None:
        if rtol is not None:
            raise ValueError("pinv: give rcond or rtol, not both")
        rtol = rcond
    m, n = A.shape[-2:]
    if rtol is None:
        rtol = torch.finfo(A.dtype).eps * max(m, n) if (atol is None or atol <= 0) else 0.0
    if hermitian:
        L, Q = eigh(A)
        absL = L.abs()
        order = absL.argsort(-1, descending=True)
        keep = _keep(absL.gather(-1, order), atol, rtol).gather(-1, order.argsort(-1))
        linv = torch.where(keep, 1.0 / torch.where(keep, L, torch.ones_like(L)), torch.zeros_like(L))
        return (Q * linv.unsqueeze(-2)) @ Q.mT
    U, S, V = svd(A)
    keep = _keep(S, atol, rtol)
    sinv = torch.where(keep, 1.0 / torch.where(keep, S, torch.ones_like(S)), torch.zeros_like(S))
    return (V * sinv.unsqueeze(-2)) @ U.mT
