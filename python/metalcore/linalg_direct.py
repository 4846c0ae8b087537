"""Direct factorizations and solvers, batched, on CPU and CUDA: `cholesky`, `cholesky_ex`,
`solve` (also float16/bfloat16), `lu_factor`, `lu_factor_ex`, `lu_solve`, `trsm` and `qr`.

Results follow torch.linalg's conventions (LAPACK's: R's diagonal may be negative, pivots are
1-based int32). Each op is a torch.library custom op with a fake impl (torch.compile) and
autograd by the standard formulas; in eager mode without autograd the extension is called
directly.

Routing: our kernels factor each matrix in one thread block (CUDA) or one loop nest (CPU), which
is the fast path for batches of small and mid-sized matrices. For large matrices the blocked,
multi-core/multi-SM LAPACK (CPU) and cuSOLVER (CUDA) factorizations behind torch.linalg are
faster, so a call whose matrices have n >= ROUTE_MIN_N[device], or n >= ROUTE_FEW_MIN_N[device]
with at most ROUTE_FEW_BATCH of them (too few to fill the GPU one block each), goes to
torch.linalg (keeping its autograd). On the 2-core CPU torch was already faster at 100 x 128
(bench: qr 35 vs 31 ms, solve 6.5 vs 4.9 ms), hence 128 there. bench/bench_linalg_direct.py
measures both sides (n = 1024 and 4096 against torch, with our kernel forced as "kernel_ms").
Our kernels stay correct at any n (the tests force them past the thresholds).
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor

from . import _C
from ._backend import TORCH_QR, fused_op

__all__ = ["cholesky", "cholesky_ex", "solve", "lu_factor", "lu_factor_ex", "lu_solve", "trsm", "qr"]

# Matrices of this order and up go to torch.linalg (see the module docstring).
ROUTE_MIN_N = {"cpu": 128, "cuda": 512}
# On the CPU the cut is per op, measured on the 2-core x86-64 machine against torch 2.11 (fp32,
# batch sized to ~10 ms; our speed over LAPACK's): cholesky 1.14x at n=64, 0.93x at 100; qr 1.40x
# at 64, 0.76x at 100; solve 1.67x at 32, 0.93x at 64; trsm (4 rhs) 1.14x at 32, 0.50x at 64.
ROUTE_MIN_N_CPU = {"cholesky": 65, "qr": 65, "solve": 33, "trsm": 33}
ROUTE_FEW_MIN_N = {"cpu": 128, "cuda": 128}
ROUTE_FEW_BATCH = 4

_QR_MODES = {"reduced": 0, "complete": 1, "r": 2}
_F32_F64 = (torch.float32, torch.float64)
_SOLVE_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def _routed(op: str, n: int, device: torch.device, batch_shape=()) -> bool:
    table = ROUTE_MIN_N_CPU if device.type == "cpu" else ROUTE_MIN_N
    limit = table.get(op if device.type == "cpu" else device.type, 1 << 62)
    if n >= limit:
        return True
    nb = 1
    for d in batch_shape:
        nb *= d
    return nb <= ROUTE_FEW_BATCH and n >= ROUTE_FEW_MIN_N.get(device.type, 1 << 62)


def _check_matrix(name: str, A, what: str = "A", dtypes=_F32_F64, square: bool = True) -> None:
    if not isinstance(A, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, not {type(A).__name__}")
    if A.dtype not in dtypes:
        names = ", ".join(str(d).replace("torch.", "") for d in dtypes)
        raise TypeError(f"{name}: {what} has dtype {A.dtype}; expected one of {names}")
    if A.dim() < 2:
        raise ValueError(f"{name}: {what} must have at least 2 dimensions, got shape {list(A.shape)}")
    if square and A.shape[-1] != A.shape[-2]:
        raise ValueError(f"{name}: {what} must be batches of square matrices, got shape {list(A.shape)}")


def _info(A: Tensor) -> Tensor:
    return torch.zeros(A.shape[:-2], dtype=torch.int32, device=A.device)


def _batch_msg(info: Tensor, nbatch: int):
    """(flat index, value, prefix) of the first nonzero info, or None. Syncs with the device."""
    bad = torch.nonzero(info.reshape(-1))
    if bad.numel() == 0:
        return None
    i = int(bad[0, 0])
    v = int(info.reshape(-1)[i])
    return i, v, (f"(Batch element {i}): " if nbatch > 0 else "")


# ---- Cholesky -------------------------------------------------------------------------------

def _cholesky_impl(A: Tensor, upper: bool) -> tuple[Tensor, Tensor]:
    L = torch.empty_like(A, memory_format=torch.contiguous_format)
    info = _info(A)
    _C.cholesky(A, upper, L, info)
    return L, info


def _cholesky_op_fake(A, upper):
    return torch.empty_like(A), A.new_empty(A.shape[:-2], dtype=torch.int32)


def _cholesky_setup(ctx, inputs, output):
    ctx.upper = inputs[1]
    ctx.save_for_backward(output[0])


def _cholesky_backward(ctx, gL, _ginfo):
    # torch's formula (FunctionsManual.cpp, cholesky_backward): with lower L,
    # gA = L^{-H} Phi L^{-1}, Phi = 0.5 * (tril(L^H gL) + tril(L^H gL, -1)^H).
    (L,) = ctx.saved_tensors
    if ctx.upper:
        L, gL = L.mT, gL.mT
    P = (L.mT @ gL).tril()
    P = 0.5 * (P + P.tril(-1).mT)
    S = trsm(L, P, lower=True, transpose=True)  # L^{-T} P
    gA = trsm(L, S.mT, lower=True, transpose=True).mT  # S L^{-1}
    return gA, None


_cholesky_op = fused_op("cholesky_ex", _cholesky_impl, _cholesky_op_fake, _cholesky_setup, _cholesky_backward)


def cholesky_ex(A: Tensor, upper: bool = False, *, check_errors: bool = False):
    """(L, info) as torch.linalg.cholesky_ex: info[b] = 0, or the order of the first leading
    minor of A[b] that is not positive-definite. No host sync unless check_errors."""
    _check_matrix("cholesky", A)
    if _routed("cholesky", A.shape[-1], A.device, A.shape[:-2]):
        L, info = torch.linalg.cholesky_ex(A, upper=upper)
    else:
        A = A.contiguous()
        L, info = _cholesky_op(A, upper)
    if check_errors:
        _raise_cholesky(info, A.dim() - 2)
    return L, info


def _raise_cholesky(info: Tensor, nbatch: int) -> None:
    r = _batch_msg(info, nbatch)
    if r is not None:
        i, v, pre = r
        raise torch.linalg.LinAlgError(
            f"linalg.cholesky: {pre}The factorization could not be completed because the input is not "
            f"positive-definite (the leading minor of order {v} is not positive-definite).")


def cholesky(A: Tensor, upper: bool = False) -> Tensor:
    """L with A = L L^T (or U with A = U^T U when upper), reading A's lower triangle. Raises
    torch.linalg.LinAlgError naming the batch element and the order of the failing minor."""
    L, _ = cholesky_ex(A, upper, check_errors=True)
    return L


# ---- triangular solve -----------------------------------------------------------------------

def _trsm_impl(A: Tensor, B: Tensor, lower: bool, transpose: bool, unit_diagonal: bool) -> Tensor:
    X = torch.empty_like(B, memory_format=torch.contiguous_format)
    _C.trsm(A, B, lower, transpose, unit_diagonal, X)
    return X


def _trsm_op_fake(A, B, lower, transpose, unit_diagonal):
    return torch.empty_like(B)


def _trsm_setup(ctx, inputs, output):
    A, _, ctx.lower, ctx.transpose, ctx.unit = inputs
    ctx.save_for_backward(A, output)


def _trsm_backward(ctx, gX):
    # X = op(A)^{-1} B: gB = op(A)^{-T} gX; g op(A) = -gB X^T, restricted to the triangle read.
    A, X = ctx.saved_tensors
    gB = trsm(A, gX, lower=ctx.lower, transpose=not ctx.transpose, unit_diagonal=ctx.unit)
    gA = None
    if ctx.needs_input_grad[0]:
        g = -(gB @ X.mT)
        if ctx.transpose:
            g = g.mT
        d = 1 if ctx.unit else 0
        gA = g.tril(-d) if ctx.lower else g.triu(d)
    return gA, gB, None, None, None


_trsm_op = fused_op("trsm", _trsm_impl, _trsm_op_fake, _trsm_setup, _trsm_backward)


def trsm(A: Tensor, B: Tensor, lower: bool = True, transpose: bool = False,
         unit_diagonal: bool = False) -> Tensor:
    """X with op(A) X = B, op(A) = A.mT when transpose; A triangular (its `lower`, else upper,
    triangle is read; its diagonal is taken as ones when unit_diagonal). A: (..., N, N),
    B: (..., N, K), batch dimensions broadcast."""
    _check_matrix("trsm", A)
    _check_matrix("trsm", B, "B", square=False)
    if B.dtype != A.dtype:
        raise TypeError(f"trsm: B has dtype {B.dtype} but A has {A.dtype}")
    if B.device != A.device:
        raise ValueError(f"trsm: A is on {A.device} but B is on {B.device}")
    n = A.shape[-1]
    if B.shape[-2] != n:
        raise ValueError(f"trsm: B must have {n} rows (A is {n} x {n}), got shape {list(B.shape)}")
    batch = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
    lower, transpose, unit_diagonal = bool(lower), bool(transpose), bool(unit_diagonal)
    if _routed("trsm", n, A.device, batch):
        Aop = A.mT if transpose else A
        return torch.linalg.solve_triangular(Aop, B, upper=(lower == transpose), left=True,
                                             unitriangular=unit_diagonal)
    A = A.expand(*batch, n, n).contiguous()
    B = B.expand(*batch, n, B.shape[-1]).contiguous()
    return _trsm_op(A, B, lower, transpose, unit_diagonal)


# ---- LU: solve, lu_factor, lu_solve ---------------------------------------------------------

def _solve_impl(A: Tensor, B: Tensor) -> tuple[Tensor, Tensor]:
    X = torch.empty_like(B, memory_format=torch.contiguous_format)
    info = _info(A)
    nbytes = _C.solve_workspace_size(A, B)
    ws = torch.empty(nbytes, dtype=torch.uint8, device=A.device) if nbytes else None
    _C.solve(A, B, X, info, ws)
    return X, info


def _solve_op_fake(A, B):
    return torch.empty_like(B), A.new_empty(A.shape[:-2], dtype=torch.int32)


def _solve_setup(ctx, inputs, output):
    ctx.save_for_backward(inputs[0], output[0])


def _solve_backward(ctx, gX, _ginfo):
    # X = A^{-1} B: gB = A^{-T} gX, gA = -gB X^T.
    A, X = ctx.saved_tensors
    gB = solve(A.mT, gX)
    gA = -(gB @ X.mT) if ctx.needs_input_grad[0] else None
    return gA, gB


_solve_op = fused_op("solve_ex", _solve_impl, _solve_op_fake, _solve_setup, _solve_backward)


def _raise_singular(info: Tensor, nbatch: int, name: str = "torch.linalg.solve") -> None:
    r = _batch_msg(info, nbatch)
    if r is not None:
        i, v, pre = r
        raise torch.linalg.LinAlgError(
            f"{name}: {pre}The solver failed because the input matrix is singular "
            f"(U[{v - 1}, {v - 1}] is exactly zero).")


def solve(A: Tensor, B: Tensor) -> Tensor:
    """X with A X = B by LU with partial pivoting. A: (..., N, N); B: (..., N, K) or (..., N)
    (a vector when B.dim() == 1 or B.shape == A.shape[:-1], as torch.linalg.solve decides);
    batch dimensions broadcast. float16/bfloat16 are factored and solved in float32 and
    returned in the input dtype. Singular A raises torch.linalg.LinAlgError."""
    _check_matrix("solve", A, dtypes=_SOLVE_DTYPES)
    if not isinstance(B, Tensor):
        raise TypeError(f"solve: B must be a Tensor, not {type(B).__name__}")
    if B.dtype != A.dtype:
        raise TypeError(f"solve: B has dtype {B.dtype} but A has {A.dtype}")
    if B.device != A.device:
        raise ValueError(f"solve: A is on {A.device} but B is on {B.device}")
    n = A.shape[-1]
    vector = B.dim() == 1 or (B.dim() == A.dim() - 1 and B.shape == A.shape[:-1])
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.dim() < 2 or Bm.shape[-2] != n:
        raise ValueError(f"solve: B of shape {list(B.shape)} does not match A of shape {list(A.shape)}")
    batch = torch.broadcast_shapes(A.shape[:-2], Bm.shape[:-2])
    if _routed("solve", n, A.device, batch):
        if A.dtype in _F32_F64:
            X = torch.linalg.solve(A, Bm)
        else:  # torch has no 16-bit solve: same contract, computed in float32
            X = torch.linalg.solve(A.float(), Bm.float()).to(A.dtype)
        return X.squeeze(-1) if vector else X
    Ab = A.expand(*batch, n, n).contiguous()
    Bb = Bm.expand(*batch, n, Bm.shape[-1]).contiguous()
    X, info = _solve_op(Ab, Bb)
    _raise_singular(info, len(batch))
    return X.squeeze(-1) if vector else X


def _lu_factor_impl(A: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    LU = torch.empty_like(A, memory_format=torch.contiguous_format)
    piv = torch.empty(A.shape[:-1], dtype=torch.int32, device=A.device)
    info = _info(A)
    _C.lu_factor(A, LU, piv, info)
    return LU, piv, info


def _lu_factor_op_fake(A):
    return (torch.empty_like(A), A.new_empty(A.shape[:-1], dtype=torch.int32),
            A.new_empty(A.shape[:-2], dtype=torch.int32))


def _lu_factor_setup(ctx, inputs, output):
    ctx.save_for_backward(output[0], output[1])


def _lu_factor_backward(ctx, gLU, _gpiv, _ginfo):
    # A = P L U (square): gA = P L^{-T} [tril(L^T gL, -1) + triu(gU U^T)] U^{-T}
    # (torch's linalg_lu_backward, square case).
    LU, piv = ctx.saved_tensors
    P, L, U = torch.lu_unpack(LU, piv)
    phi = (L.mT @ gLU.tril(-1)).tril(-1) + (gLU.triu() @ U.mT).triu()
    S = trsm(L, phi, lower=True, transpose=True, unit_diagonal=True)  # L^{-T} phi
    S = trsm(U, S.mT, lower=False, transpose=False).mT  # S U^{-T}
    return P @ S


_lu_factor_op = fused_op("lu_factor_ex", _lu_factor_impl, _lu_factor_op_fake, _lu_factor_setup, _lu_factor_backward)


def lu_factor_ex(A: Tensor, *, check_errors: bool = False):
    """(LU, pivots, info) as torch.linalg.lu_factor_ex (square A; pivots 1-based int32)."""
    _check_matrix("lu_factor", A)
    A = A.contiguous()
    LU, piv, info = _lu_factor_op(A)
    if check_errors:
        _raise_singular(info, A.dim() - 2, "torch.linalg.lu_factor")
    return LU, piv, info


def lu_factor(A: Tensor):
    """(LU, pivots) as torch.linalg.lu_factor. Like torch, an exactly singular A is factored
    without error (info is discarded); lu_solve with it gives Inf/NaN."""
    LU, piv, _ = lu_factor_ex(A)
    return LU, piv


def _lu_solve_impl(LU: Tensor, pivots: Tensor, B: Tensor, adjoint: bool) -> Tensor:
    X = torch.empty_like(B, memory_format=torch.contiguous_format)
    _C.lu_solve(LU, pivots, B, adjoint, X)
    return X


def _lu_solve_op_fake(LU, pivots, B, adjoint):
    return torch.empty_like(B)


def _lu_solve_setup(ctx, inputs, output):
    ctx.adjoint = inputs[3]
    ctx.save_for_backward(inputs[0], inputs[1])


def _lu_solve_backward(ctx, gX):
    if ctx.needs_input_grad[0]:
        raise NotImplementedError("metalcore.lu_solve: the gradient with respect to LU is not "
                                  "implemented; differentiate metalcore.solve(A, B) instead")
    LU, piv = ctx.saved_tensors
    return None, None, lu_solve(LU, piv, gX, adjoint=not ctx.adjoint), None


_lu_solve_op = fused_op("lu_solve", _lu_solve_impl, _lu_solve_op_fake, _lu_solve_setup, _lu_solve_backward)


def lu_solve(LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True, adjoint: bool = False) -> Tensor:
    """X with A X = B (A^T X = B when adjoint) from lu_factor's (LU, pivots), as
    torch.linalg.lu_solve (left=True only). B: (..., N, K); batch dimensions broadcast.
    Differentiable in B (not in LU)."""
    if not left:
        raise ValueError("lu_solve: only left=True is supported")
    _check_matrix("lu_solve", LU, "LU")
    _check_matrix("lu_solve", B, "B", square=False)
    if B.dtype != LU.dtype:
        raise TypeError(f"lu_solve: B has dtype {B.dtype} but LU has {LU.dtype}")
    if not isinstance(pivots, Tensor) or pivots.dtype != torch.int32:
        raise TypeError("lu_solve: pivots must be an int32 tensor (as lu_factor returns)")
    if pivots.shape != LU.shape[:-1]:
        raise ValueError(f"lu_solve: pivots of shape {list(pivots.shape)} do not match LU of shape {list(LU.shape)}")
    n = LU.shape[-1]
    if B.shape[-2] != n:
        raise ValueError(f"lu_solve: B must have {n} rows, got shape {list(B.shape)}")
    batch = torch.broadcast_shapes(LU.shape[:-2], B.shape[:-2])
    LU = LU.expand(*batch, n, n).contiguous()
    pivots = pivots.expand(*batch, n).contiguous()
    B = B.expand(*batch, n, B.shape[-1]).contiguous()
    return _lu_solve_op(LU, pivots, B, bool(adjoint))


# ---- QR -------------------------------------------------------------------------------------

def _qr_shapes(A: Tensor, mode: str):
    m, n = A.shape[-2], A.shape[-1]
    k = min(m, n)
    b = A.shape[:-2]
    if mode == "reduced":
        return (*b, m, k), (*b, k, n)
    if mode == "complete":
        return (*b, m, m), (*b, m, n)
    return None, (*b, k, n)


def _qr_impl(A: Tensor, mode: str) -> tuple[Tensor, Tensor]:
    qs, rs = _qr_shapes(A, mode)
    Q = torch.empty(qs, dtype=A.dtype, device=A.device) if qs is not None else A.new_empty(0)
    R = torch.empty(rs, dtype=A.dtype, device=A.device)
    code = _QR_MODES[mode]
    nbytes = _C.qr_workspace_size(A, code)
    ws = torch.empty(nbytes, dtype=torch.uint8, device=A.device) if nbytes else None
    _C.qr(A, code, Q if qs is not None else None, R, ws)
    return Q, R


def _qr_op_fake(A, mode):
    qs, rs = _qr_shapes(A, mode)
    return (A.new_empty(qs) if qs is not None else A.new_empty(0)), A.new_empty(rs)


def _qr_setup(ctx, inputs, output):
    ctx.mode = inputs[1]
    ctx.save_for_backward(inputs[0], output[0], output[1])


def _qr_backward_tall(Q: Tensor, R: Tensor, gQ: Tensor, gR: Tensor) -> Tensor:
    # m >= n (Liao et al., "Differentiable programming tensor networks", 2019, eq. 42):
    # gA = [gQ + Q copyltu(M)] R^{-T}, M = R gR^T - gQ^T Q, copyltu(M) = tril(M) + tril(M, -1)^T.
    M = R @ gR.mT - gQ.mT @ Q
    M = M.tril() + M.tril(-1).mT
    b = gQ + Q @ M
    return trsm(R, b.mT, lower=False, transpose=False).mT  # b R^{-T}


def _qr_backward(ctx, gQ, gR):
    A, Q, R = ctx.saved_tensors
    m, n = A.shape[-2], A.shape[-1]
    if ctx.mode == "r":
        raise RuntimeError("metalcore.qr: mode='r' does not compute Q and is not differentiable; "
                           "use mode='reduced'")
    if ctx.mode == "complete" and m > n:
        raise RuntimeError("metalcore.qr: the QR decomposition is not differentiable when "
                           "mode='complete' and nrows > ncols")
    gQ = torch.zeros_like(Q) if gQ is None else gQ
    gR = torch.zeros_like(R) if gR is None else gR
    if m >= n:
        return _qr_backward_tall(Q, R, gQ, gR), None
    # m < n: A = [X | Y], X = Q U, Y = Q V (Liao et al., sec. on wide matrices).
    U, V = R[..., :m], R[..., m:]
    gU, gV = gR[..., :m], gR[..., m:]
    Y = A[..., m:]
    gX = _qr_backward_tall(Q, U, gQ + Y @ gV.mT, gU)
    return torch.cat([gX, Q @ gV], dim=-1), None


_qr_op = fused_op("qr", _qr_impl, _qr_op_fake, _qr_setup, _qr_backward)


def qr(A: Tensor, mode: str = "reduced"):
    """Householder QR as torch.linalg.qr: returns (Q, R) for mode 'reduced' (Q: (..., M, K),
    R: (..., K, N), K = min(M, N)) and 'complete' (Q: (..., M, M), R: (..., M, N)). For mode 'r'
    it returns R alone (the usage guide's convention; torch.linalg.qr returns an empty Q
    beside it). R's diagonal may be negative, as LAPACK's."""
    if mode not in _QR_MODES:
        raise ValueError(f"qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    _check_matrix("qr", A, square=False)
    if _routed("qr", min(A.shape[-2], A.shape[-1]), A.device, A.shape[:-2]):
        Q, R = TORCH_QR(A, mode=mode)
    else:
        A = A.contiguous()
        Q, R = _qr_op(A, mode)
    return R if mode == "r" else (Q, R)
