"""Cholesky, LU (solve, lu_factor, lu_solve), trsm and QR against float64 references.

Tolerances: the issue's backward-error bounds, 30 * n * eps of the working precision (fp32:
2^-23, fp64: 2^-52), on relative Frobenius residuals of each matrix (max over the batch). A
backward-stable algorithm (Householder QR, Cholesky, LU with partial pivoting, substitution)
meets c * n * eps with a small c, independently of the condition number, so these hold for the
ill-conditioned inputs too. 16-bit solve is computed in fp32 and rounded once: its forward error
on well-conditioned systems is bounded by the output rounding, 2 * eps16, plus the fp32 error.

Sizes are chosen to hit every CUDA path (H100 limits): n <= 32 and 64 (shared memory); fp32 256
(QR in global memory; solve and lu_factor with their first columns in global memory, the rest
in shared memory, also for 16-bit solve); 300 solve and lu_factor and fp64 256 solve and QR
(global memory); 400 Cholesky (global memory, routing to torch switched off)."""
import pytest
import torch

import metalcore
from metalcore import linalg_direct as ld
from helpers import EPS

F = [torch.float32, torch.float64]


def tol(n, dtype):
    return 30 * max(n, 1) * EPS[dtype]


def fro(x):
    return torch.linalg.matrix_norm(x.double().cpu(), ord="fro")


def worst(num, den):
    """max over the batch of ||num|| / ||den|| (Frobenius), 0 for an empty batch."""
    if num.numel() == 0:
        return 0.0
    d = fro(den)
    return (fro(num) / torch.where(d > 0, d, torch.ones_like(d))).max().item()


def randmat(shape, dtype, device, kind="random"):
    """float64 matrices of a kind, cast to dtype on device."""
    *b, m, n = shape
    if kind == "random":
        A = torch.randn(*b, m, n, dtype=torch.float64)
    elif kind in ("illcond", "graded"):
        k = min(m, n)
        U, _ = torch.linalg.qr(torch.randn(*b, m, k, dtype=torch.float64))
        V, _ = torch.linalg.qr(torch.randn(*b, n, k, dtype=torch.float64))
        cond = 1e6 if dtype == torch.float32 else 1e12
        s = torch.logspace(0, -torch.log10(torch.tensor(cond)).item(), k, dtype=torch.float64)
        A = U @ torch.diag_embed(s.expand(*b, k)) @ V.mT
        if kind == "graded":  # rows scaled over 6 orders of magnitude
            A = torch.randn(*b, m, n, dtype=torch.float64) * torch.logspace(0, -6, m, dtype=torch.float64)[:, None]
    elif kind == "identity":
        A = torch.eye(m, n, dtype=torch.float64).expand(*b, m, n).clone()
    elif kind == "diagonal":
        A = torch.diag_embed(torch.rand(*b, min(m, n), dtype=torch.float64) + 0.5)
        A = torch.nn.functional.pad(A, (0, n - min(m, n), 0, m - min(m, n)))
    elif kind == "rankdef":
        r = max(1, min(m, n) // 2)
        A = torch.randn(*b, m, r, dtype=torch.float64) @ torch.randn(*b, r, n, dtype=torch.float64)
    else:
        raise ValueError(kind)
    return A.to(dtype=dtype, device=device)


def spd(shape, dtype, device, illcond=False):
    *b, n, _ = shape
    if illcond:
        U, _ = torch.linalg.qr(torch.randn(*b, n, n, dtype=torch.float64))
        cond = 1e6 if dtype == torch.float32 else 1e12
        s = torch.logspace(0, -torch.log10(torch.tensor(cond)).item(), n, dtype=torch.float64)
        A = U @ torch.diag_embed(s.expand(*b, n)) @ U.mT
        A = 0.5 * (A + A.mT)
    else:
        G = torch.randn(*b, n, n, dtype=torch.float64)
        A = G @ G.mT / n + torch.eye(n, dtype=torch.float64)
    return A.to(dtype=dtype, device=device)


@pytest.fixture
def force_ours(monkeypatch):
    """Send every size to our kernels (no torch.linalg routing)."""
    monkeypatch.setattr(ld, "ROUTE_MIN_N", {})
    monkeypatch.setattr(ld, "ROUTE_MIN_N_CPU", {})
    monkeypatch.setattr(ld, "ROUTE_FEW_MIN_N", {})


# ---- Cholesky -------------------------------------------------------------------------------

CHOL_SHAPES = [(0, 4, 4), (1, 1), (3, 2, 2), (5, 7, 7), (4, 33, 33), (2, 64, 64), (1, 100, 100)]


@pytest.mark.parametrize("dtype", F)
@pytest.mark.parametrize("shape", CHOL_SHAPES)
@pytest.mark.parametrize("illcond", [False, True])
def test_cholesky_residual(device, dtype, shape, illcond):
    A = spd(shape, dtype, device, illcond and shape[-1] > 2)
    L = metalcore.cholesky(A)
    assert L.shape == A.shape and L.dtype == dtype and L.device == A.device
    n = shape[-1]
    assert torch.equal(L.triu(1), torch.zeros_like(L))
    Ld = L.double()
    assert worst(Ld @ Ld.mT - A.double(), A) <= tol(n, dtype)
    U = metalcore.cholesky(A, upper=True)
    assert torch.equal(U.tril(-1), torch.zeros_like(U))
    # our kernels return exactly L^T; LAPACK's upper factorization (the routed large sizes)
    # rounds in another order, so compare by the factorization's own bound
    Ud = U.double()
    assert worst(Ud.mT @ Ud - A.double(), A) <= tol(n, dtype)


@pytest.mark.parametrize("dtype", F)
def test_cholesky_reads_lower_only_and_noncontiguous(device, dtype):
    A = spd((3, 20, 20), dtype, device)
    Anan = torch.where(torch.ones_like(A, dtype=torch.bool).triu(1), torch.full_like(A, float("nan")), A)
    assert torch.equal(metalcore.cholesky(Anan), metalcore.cholesky(A))
    At = A.mT  # non-contiguous view of a symmetric matrix
    assert torch.allclose(metalcore.cholesky(At), metalcore.cholesky(A.contiguous()))


@pytest.mark.parametrize("dtype", F)
@pytest.mark.parametrize("n", [40, 400])
def test_cholesky_global_path(device, force_ours, n, dtype):
    # n=400 is past the shared-memory limit on every GPU: the global-memory kernel.
    A = spd((2, n, n), dtype, device)
    L = metalcore.cholesky(A)
    assert worst(L.double() @ L.double().mT - A.double(), A) <= tol(n, dtype)
    assert torch.equal(metalcore.cholesky(A, upper=True), L.mT)


@pytest.mark.parametrize("dtype", F)
def test_cholesky_not_positive_definite(device, dtype):
    A = spd((4, 6, 6), dtype, device)
    A[2, 2, 2] = -5.0  # the leading minor of order 3 of batch element 2 fails
    L, info = metalcore.cholesky_ex(A)
    ref = torch.linalg.cholesky_ex(A.cpu().double())[1]
    assert info.tolist() == ref.tolist() == [0, 0, 3, 0]
    with pytest.raises(torch.linalg.LinAlgError, match=r"Batch element 2\).*order 3"):
        metalcore.cholesky(A)
    with pytest.raises(torch.linalg.LinAlgError, match=r"order 1"):
        metalcore.cholesky(-torch.eye(3, dtype=dtype, device=device))


def test_cholesky_nan(device):
    A = spd((2, 5, 5), torch.float32, device)
    A[1, 3, 1] = float("nan")
    _, info = metalcore.cholesky_ex(A)
    assert info[0].item() == 0 and info[1].item() > 0


# ---- solve / LU -----------------------------------------------------------------------------

SOLVE_CASES = [
    ((1, 1), 1), ((2, 2), 2), ((4, 7, 7), 3), ((3, 32, 32), 1), ((2, 64, 64), 1),
    ((2, 64, 64), 20), ((2, 100, 100), 5), ((1, 256, 256), 1), ((1, 300, 300), 2), ((0, 5, 5), 2),
]


def solve_residual(A, X, B):
    A, X, B = A.double().cpu(), X.double().cpu(), B.double().cpu()
    R = A @ X - B
    return (fro(R) / (fro(A) * fro(X)).clamp_min(1e-300)).max().item() if R.numel() else 0.0


# Every kind at the small sizes; random only at the large ones (CPU time).
SOLVE_PARAMS = [(c, kind) for c in SOLVE_CASES for kind in ["random", "illcond", "graded", "identity", "diagonal"]
                if kind == "random" or c[0][-1] <= 64]


@pytest.mark.parametrize("dtype", F)
@pytest.mark.parametrize("case,kind", SOLVE_PARAMS)
def test_solve_residual(device, dtype, case, kind, force_ours):
    shape, k = case
    A = randmat(shape, dtype, device, kind)
    B = torch.randn(*shape[:-1], k, dtype=dtype, device=device)
    X = metalcore.solve(A, B)
    assert X.shape == B.shape and X.dtype == dtype
    assert torch.isfinite(X).all()
    assert solve_residual(A, X, B) <= tol(shape[-1], dtype)


@pytest.mark.parametrize("dtype", F)
def test_solve_vector_broadcast_noncontiguous(device, dtype):
    A = randmat((3, 1, 6, 6), dtype, device)
    b = torch.randn(6, dtype=dtype, device=device)
    x = metalcore.solve(A, b)
    ref = torch.linalg.solve(A.double().cpu(), b.double().cpu())
    assert x.shape == ref.shape == (3, 1, 6)
    assert (x.double().cpu() - ref).abs().max() <= 1e3 * tol(6, dtype) * ref.abs().max()
    B = torch.randn(4, 6, 2, dtype=dtype, device=device)
    X = metalcore.solve(A, B)  # (3,1) x (4,) -> (3, 4)
    assert X.shape == (3, 4, 6, 2)
    assert solve_residual(A.expand(3, 4, 6, 6), X, B.expand(3, 4, 6, 2)) <= tol(6, dtype)
    At = randmat((2, 9, 9), dtype, device).mT
    Bt = torch.randn(2, 3, 9, dtype=dtype, device=device).mT
    assert solve_residual(At, metalcore.solve(At, Bt), Bt) <= tol(9, dtype)
    # b of shape A.shape[:-1] is a batch of vectors, as in torch.linalg.solve
    bb = torch.randn(3, 1, 6, dtype=dtype, device=device)
    assert metalcore.solve(A, bb).shape == (3, 1, 6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("n", [1, 8, 64, 200, 256, 300])
def test_solve_half(device, dtype, n, force_ours):
    A64 = torch.randn(3, n, n, dtype=torch.float64) / n**0.5 + 2 * torch.eye(n, dtype=torch.float64)
    A = A64.to(dtype).to(device)
    B = torch.randn(3, n, 2, dtype=torch.float64).to(dtype).to(device)
    X = metalcore.solve(A, B)
    assert X.dtype == dtype and X.shape == B.shape
    ref = torch.linalg.solve(A.double().cpu(), B.double().cpu())
    err = (fro(X.double().cpu() - ref) / fro(ref)).max().item()
    assert err <= 4 * EPS[dtype]


@pytest.mark.parametrize("dtype", F + [torch.float16])
def test_solve_singular_raises(device, dtype):
    A = randmat((3, 5, 5), torch.float64, device).to(dtype)
    A[1, :, 2] = 0  # zero column
    B = torch.randn(3, 5, 1, dtype=dtype, device=device)
    with pytest.raises(torch.linalg.LinAlgError, match=r"Batch element 1\).*singular"):
        metalcore.solve(A, B)
    D = randmat((4, 4), dtype, device)
    D[3] = D[1]  # duplicated row: exactly singular after elimination
    with pytest.raises(torch.linalg.LinAlgError, match="singular"):
        metalcore.solve(D, torch.ones(4, dtype=dtype, device=device))


def test_solve_nan_inf(device):
    A = randmat((2, 6, 6), torch.float32, device)
    A[0, 2, 3] = float("nan")
    A[1, 0, 0] = float("inf")
    B = torch.randn(2, 6, 1, device=device)
    X = metalcore.solve(A, B)
    assert torch.isnan(X[0]).any()
    # An Inf pivot gives the limit (as LAPACK does); the pattern of finite values matches torch's.
    ref = torch.linalg.solve(A[1].double().cpu(), B[1].double().cpu())
    assert torch.equal(torch.isfinite(X[1].cpu()), torch.isfinite(ref))


@pytest.mark.parametrize("dtype", F)
@pytest.mark.parametrize("shape", [(1, 1), (3, 6, 6), (2, 64, 64), (1, 256, 256), (1, 300, 300)])
def test_lu_factor_and_solve(device, dtype, shape, force_ours):
    A = randmat(shape, dtype, device)
    LU, piv = metalcore.lu_factor(A)
    n = shape[-1]
    P, L, U = torch.lu_unpack(LU.double().cpu(), piv.cpu())
    assert worst(P @ L @ U - A.double().cpu(), A) <= tol(n, dtype)
    if dtype == torch.float64:  # same algorithm as LAPACK: the same row interchanges
        assert torch.equal(piv.cpu(), torch.linalg.lu_factor(A.cpu())[1])
    B = torch.randn(*shape[:-1], 3, dtype=dtype, device=device)
    X = metalcore.lu_solve(LU, piv, B)
    assert solve_residual(A, X, B) <= tol(n, dtype)
    Xt = metalcore.lu_solve(LU, piv, B, adjoint=True)
    assert solve_residual(A.mT, Xt, B) <= tol(n, dtype)


def test_lu_factor_singular_info(device):
    A = torch.zeros(2, 3, 3, device=device)
    A[0] = torch.eye(3)
    LU, piv, info = metalcore.lu_factor_ex(A)
    assert info.tolist() == [0, 1]
    with pytest.raises(torch.linalg.LinAlgError, match="Batch element 1"):
        metalcore.lu_factor_ex(A, check_errors=True)


# ---- trsm -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", F)
@pytest.mark.parametrize("n,k", [(1, 1), (5, 3), (64, 1), (64, 40), (130, 9)])
@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("unit", [False, True])
def test_trsm(device, dtype, n, k, lower, transpose, unit, force_ours):
    T = torch.randn(2, n, n, dtype=torch.float64) / n**0.5
    T.diagonal(dim1=-2, dim2=-1).copy_(1 + torch.rand(2, n, dtype=torch.float64))
    T = T.tril() if lower else T.triu()
    if unit:
        T.diagonal(dim1=-2, dim2=-1).fill_(1.0)
    # The triangle not read is NaN, and so is the diagonal when unit: unread means unread.
    A = T.clone()
    other = torch.ones(n, n, dtype=torch.bool).triu(1) if lower else torch.ones(n, n, dtype=torch.bool).tril(-1)
    A[:, other] = float("nan")
    if unit:
        A.diagonal(dim1=-2, dim2=-1).fill_(float("nan"))
    A = A.to(dtype=dtype, device=device)
    B = torch.randn(2, n, k, dtype=dtype, device=device)
    X = metalcore.trsm(A, B, lower=lower, transpose=transpose, unit_diagonal=unit)
    assert X.shape == B.shape and torch.isfinite(X).all()
    op = T.mT if transpose else T
    assert solve_residual(op, X, B) <= tol(n, dtype)


def test_trsm_nan(device):
    A = torch.eye(4, device=device) * 2
    A[2, 1] = float("nan")
    X = metalcore.trsm(A, torch.ones(4, 3, device=device))
    assert torch.isnan(X[2:]).all() and torch.isfinite(X[:2]).all()


def test_compile_fullgraph():
    A = torch.randn(4, 6, 5, dtype=torch.float64)
    Q, R = torch.compile(lambda A: metalcore.qr(A), fullgraph=True)(A)
    assert (Q @ R - A).abs().max() <= tol(6, torch.float64) * A.abs().max()
    S = A[..., :5, :] @ A[..., :5, :].mT + torch.eye(5, dtype=torch.float64)
    L = torch.compile(lambda S: metalcore.cholesky_ex(S)[0], fullgraph=True)(S)
    assert worst(L @ L.mT - S, S) <= tol(5, torch.float64)
    B = torch.randn(4, 5, 2, dtype=torch.float64)
    X = torch.compile(lambda S, B: metalcore.trsm(S, B), fullgraph=True)(L, B)
    assert solve_residual(L, X, B) <= tol(5, torch.float64)


def test_trsm_broadcast_and_routing(device):
    A = torch.randn(5, 5, dtype=torch.float64, device=device).tril() + 3 * torch.eye(5, dtype=torch.float64, device=device)
    B = torch.randn(3, 5, 2, dtype=torch.float64, device=device)
    X = metalcore.trsm(A, B)
    ref = torch.linalg.solve_triangular(A, B, upper=False)
    assert torch.allclose(X, ref, rtol=1e-12, atol=1e-12)
    X2 = metalcore.trsm(A, B, transpose=True)
    assert torch.allclose(X2, torch.linalg.solve_triangular(A.mT, B, upper=True), rtol=1e-12, atol=1e-12)


# ---- QR -------------------------------------------------------------------------------------

QR_SHAPES = [(1, 1), (2, 2), (5, 3), (3, 5), (4, 8, 8), (3, 16, 16), (3, 32, 32), (2, 33, 20),
             (2, 20, 33), (2, 64, 64), (1, 130, 70), (1, 256, 256), (0, 4, 3), (2, 0, 3), (2, 3, 0)]


def check_qr(A, Q, R, mode):
    m, n = A.shape[-2], A.shape[-1]
    k = min(m, n)
    kq, kr = (m, m) if mode == "complete" else (k, k)
    assert R.shape == (*A.shape[:-2], kr, n)
    assert torch.equal(R.triu(), R)
    if Q is None:
        return
    assert Q.shape == (*A.shape[:-2], m, kq)
    Qd, Rd, Ad = Q.double().cpu(), R.double().cpu(), A.double().cpu()
    t = tol(max(m, n), A.dtype)
    assert worst(Qd @ Rd - Ad, Ad) <= t
    I = torch.eye(kq, dtype=torch.float64).expand_as(Qd.mT @ Qd)
    assert (fro(Qd.mT @ Qd - I).max().item() if Qd.numel() else 0.0) <= t


@pytest.mark.parametrize("dtype", F)
@pytest.mark.parametrize("shape", QR_SHAPES)
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr(device, dtype, shape, mode, force_ours):
    A = randmat(shape, dtype, device)
    out = metalcore.qr(A, mode=mode)
    if mode == "r":
        check_qr(A, None, out, mode)
        Rref = torch.linalg.qr(A.double().cpu(), mode="r")[1]
        # R is unique up to the sign of each row: compare magnitudes (well-conditioned A).
        scale = Rref.abs().max().item() if Rref.numel() else 1.0
        assert torch.allclose(out.double().cpu().abs(), Rref.abs(), rtol=0, atol=1e3 * tol(max(shape[-2:]), dtype) * scale)
    else:
        check_qr(A, *out, mode)


@pytest.mark.parametrize("dtype", F)
@pytest.mark.parametrize("kind", ["illcond", "graded", "rankdef", "identity", "diagonal"])
@pytest.mark.parametrize("shape", [(3, 12, 12), (2, 40, 24), (2, 24, 40)])
def test_qr_hard(device, dtype, kind, shape):
    A = randmat(shape, dtype, device, kind)
    check_qr(A, *metalcore.qr(A), "reduced")


def test_qr_noncontiguous_and_nan(device):
    A = randmat((3, 10, 7), torch.float32, device).mT
    check_qr(A, *metalcore.qr(A), "reduced")
    A = randmat((2, 6, 6), torch.float32, device)
    A[1, 4, 2] = float("nan")
    Q, R = metalcore.qr(A)
    assert torch.isnan(R[1]).any() and torch.isfinite(R[0]).all()


# ---- poisoned outputs, through the extension directly ---------------------------------------

def test_outputs_fully_written(device):
    from metalcore import _C
    nan = float("nan")
    A = spd((3, 9, 9), torch.float32, device)
    L = torch.full_like(A, nan)
    info = torch.full((3,), -7, dtype=torch.int32, device=device)
    _C.cholesky(A, False, L, info)
    assert torch.isfinite(L).all() and info.tolist() == [0, 0, 0]
    G = randmat((3, 9, 9), torch.float32, device)
    B = torch.randn(3, 9, 4, device=device)
    X = torch.full_like(B, nan)
    _C.solve(G, B, X, info, None if not _C.solve_workspace_size(G, B) else
             torch.empty(_C.solve_workspace_size(G, B), dtype=torch.uint8, device=device))
    assert torch.isfinite(X).all()
    LU = torch.full_like(G, nan)
    piv = torch.full((3, 9), -1, dtype=torch.int32, device=device)
    _C.lu_factor(G, LU, piv, info)
    assert torch.isfinite(LU).all() and (piv >= 1).all() and (piv <= 9).all()
    X = torch.full_like(B, nan)
    _C.trsm(L, B, True, False, False, X)
    assert torch.isfinite(X).all()
    for mode, (qs, rs) in {0: ((9, 9), (9, 9)), 1: ((12, 12), (12, 9))}.items():
        M = randmat((3, 12 if mode else 9, 9), torch.float32, device)
        Q = torch.full((3, *qs), nan, device=device)
        R = torch.full((3, *rs), nan, device=device)
        nb = _C.qr_workspace_size(M, mode)
        _C.qr(M, mode, Q, R, torch.empty(nb, dtype=torch.uint8, device=device) if nb else None)
        assert torch.isfinite(Q).all() and torch.isfinite(R).all()


# ---- routing: big matrices go to torch.linalg and give the same answers ---------------------

def test_routed_large(device):
    n = ld.ROUTE_MIN_N[device]
    A = spd((n, n), torch.float32, device)
    L = metalcore.cholesky(A)
    assert worst(L.double() @ L.double().mT - A.double(), A) <= tol(n, torch.float32)
    B = torch.randn(n, 2, device=device)
    assert solve_residual(A, metalcore.solve(A, B), B) <= tol(n, torch.float32)
    Xh = metalcore.solve(A.half(), B.half())
    assert Xh.dtype == torch.float16
    check_qr(A, *metalcore.qr(A), "reduced")


# ---- gradients (CPU, float64) ---------------------------------------------------------------

def test_gradcheck_cholesky():
    X = torch.randn(2, 4, 4, dtype=torch.float64, requires_grad=True)

    def f(X):
        A = X @ X.mT + 4 * torch.eye(4, dtype=torch.float64)
        return metalcore.cholesky(A), metalcore.cholesky(A, upper=True)

    assert torch.autograd.gradcheck(f, (X,))


def test_gradcheck_solve():
    A = (torch.randn(2, 4, 4, dtype=torch.float64) + 4 * torch.eye(4, dtype=torch.float64)).requires_grad_()
    B = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)  # broadcast over A's batch
    b = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda A, B: metalcore.solve(A, B), (A, B))
    assert torch.autograd.gradcheck(lambda A, b: metalcore.solve(A, b), (A, b))


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("unit", [False, True])
def test_gradcheck_trsm(lower, transpose, unit):
    A = (torch.randn(2, 4, 4, dtype=torch.float64) + 4 * torch.eye(4, dtype=torch.float64)).requires_grad_()
    B = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    f = lambda A, B: metalcore.trsm(A, B, lower=lower, transpose=transpose, unit_diagonal=unit)
    assert torch.autograd.gradcheck(f, (A, B))


@pytest.mark.parametrize("shape,mode", [((2, 5, 3), "reduced"), ((4, 4), "complete"), ((3, 5), "reduced"),
                                        ((2, 3, 5), "complete")])
def test_gradcheck_qr(shape, mode):
    A = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda A: metalcore.qr(A, mode=mode), (A,))


def test_qr_not_differentiable_modes():
    A = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="complete"):
        sum(t.sum() for t in metalcore.qr(A, mode="complete")).backward()
    with pytest.raises(RuntimeError, match="mode='r'"):
        metalcore.qr(A, mode="r").sum().backward()


def test_gradcheck_lu():
    A = (torch.randn(2, 4, 4, dtype=torch.float64) + 2 * torch.eye(4, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda A: metalcore.lu_factor(A)[0], (A,))
    LU, piv = metalcore.lu_factor(A.detach())
    B = torch.randn(2, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda B: metalcore.lu_solve(LU, piv, B), (B,))
    assert torch.autograd.gradcheck(lambda B: metalcore.lu_solve(LU, piv, B, adjoint=True), (B,))


# ---- bad input, torch.library checks --------------------------------------------------------

def test_bad_input(device):
    A = torch.randn(3, 3, device=device)
    with pytest.raises(TypeError):
        metalcore.cholesky(A.int())
    with pytest.raises(TypeError):
        metalcore.qr(A.half())
    with pytest.raises(ValueError):
        metalcore.cholesky(torch.randn(3, 4, device=device))
    with pytest.raises(ValueError):
        metalcore.solve(torch.randn(3, device=device), torch.randn(3, device=device))
    with pytest.raises(ValueError):
        metalcore.solve(A, torch.randn(4, 2, device=device))
    with pytest.raises(TypeError):
        metalcore.solve(A, torch.randn(3, 2, dtype=torch.float64, device=device))
    with pytest.raises(ValueError):
        metalcore.qr(A, mode="full")
    with pytest.raises(ValueError):
        metalcore.trsm(A, torch.randn(4, 1, device=device))
    with pytest.raises(TypeError):
        metalcore.lu_solve(A, torch.ones(3, dtype=torch.int64, device=device), torch.randn(3, 1, device=device))
    if device == "cuda":
        with pytest.raises(ValueError):
            metalcore.solve(A, torch.randn(3, 1))


def test_opcheck():
    A = torch.randn(2, 4, 4, dtype=torch.float64)
    S = A @ A.mT + 4 * torch.eye(4, dtype=torch.float64)
    B = torch.randn(2, 4, 2, dtype=torch.float64)
    torch.library.opcheck(ld._cholesky_op.op, (S, False))
    torch.library.opcheck(ld._solve_op.op, (S, B))
    torch.library.opcheck(ld._trsm_op.op, (S.tril(), B, True, False, False))
    torch.library.opcheck(ld._qr_op.op, (A, "reduced"))
    torch.library.opcheck(ld._lu_factor_op.op, (S,))
