"""eigh, svd, lstsq, pinv against float64 LAPACK (torch / numpy on the CPU).

Tolerances: the issue's bounds, 30 * n * eps(dtype) with n = max(M, N), on
||A Q - Q diag(L)||_F / ||A||_F, ||Q^T Q - I||_F, ||A - U S V^T||_F / ||A||_F, ||U^T U - I||_F,
||V^T V - I||_F, and on eigen/singular value errors relative to ||A||_2. Jacobi is backward
stable with errors of a few n eps (one rounding per rotation, O(n) rotations touch each entry
per sweep, ~10 sweeps), so 30 n eps leaves room for the sweep count without hiding a wrong
rotation (which gives O(1) errors)."""
import sys

import numpy as np
import pytest
import torch

import metalcore
from helpers import EPS

DTYPES = [torch.float32, torch.float64]
SYM_KINDS = ["random", "clustered", "repeated", "rankdef", "zero", "identity", "diagonal", "cond1e7", "graded"]


def _orth(b, n, g):
    q, _ = torch.linalg.qr(torch.randn(b, n, n, dtype=torch.float64, generator=g))
    return q


def make_sym(kind, b, n, g):
    """(b, n, n) float64 symmetric test matrices of the given kind."""
    Q = _orth(b, n, g)
    if kind == "random":
        A = torch.randn(b, n, n, dtype=torch.float64, generator=g)
        return A + A.mT
    if kind == "clustered":
        lam = 1 + 1e-6 * torch.rand(b, n, dtype=torch.float64, generator=g)
        lam[:, : n // 2] *= -1
    elif kind == "repeated":
        lam = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)[torch.arange(n) % 3].expand(b, n)
    elif kind == "rankdef":
        lam = torch.randn(b, n, dtype=torch.float64, generator=g)
        lam[:, : (n + 1) // 2] = 0
    elif kind == "zero":
        return torch.zeros(b, n, n, dtype=torch.float64)
    elif kind == "identity":
        return torch.eye(n, dtype=torch.float64).expand(b, n, n).clone()
    elif kind == "diagonal":
        return torch.diag_embed(torch.randn(b, n, dtype=torch.float64, generator=g))
    elif kind == "cond1e7":
        lam = torch.logspace(0, -7, n, dtype=torch.float64).expand(b, n).clone()
        lam[:, ::2] *= -1
    elif kind == "graded":
        A = torch.randn(b, n, n, dtype=torch.float64, generator=g)
        d = torch.logspace(0, -6, n, dtype=torch.float64)
        return d[:, None] * (A + A.mT) * d[None, :]
    return (Q * lam.unsqueeze(-2)) @ Q.mT


def make_gen(kind, b, m, n, g):
    """(b, m, n) float64 matrices with the given singular-value structure."""
    k = min(m, n)
    if kind in ("random",):
        return torch.randn(b, m, n, dtype=torch.float64, generator=g)
    if kind == "zero":
        return torch.zeros(b, m, n, dtype=torch.float64)
    if kind == "identity":
        return torch.eye(m, n, dtype=torch.float64).expand(b, m, n).clone()
    if kind == "diagonal":
        return torch.diag_embed(torch.randn(b, k, dtype=torch.float64, generator=g), 0, -2, -1)[..., :m, :n] if m == n else \
            torch.eye(m, n, dtype=torch.float64) * torch.randn(b, 1, n, dtype=torch.float64, generator=g)
    if kind == "graded":
        A = torch.randn(b, m, n, dtype=torch.float64, generator=g)
        return A * torch.logspace(0, -6, n, dtype=torch.float64)
    U = _orth(b, m, g)[..., :k]
    V = _orth(b, n, g)[..., :k]
    if kind == "clustered":
        s = 1 + 1e-6 * torch.rand(b, k, dtype=torch.float64, generator=g)
    elif kind == "repeated":
        s = torch.tensor([3.0, 1.0], dtype=torch.float64)[torch.arange(k) % 2].expand(b, k)
    elif kind == "rankdef":
        s = torch.rand(b, k, dtype=torch.float64, generator=g) + 1
        s[:, : (k + 1) // 2] = 0
    elif kind == "cond1e7":
        s = torch.logspace(0, -7, k, dtype=torch.float64).expand(b, k)
    else:
        raise ValueError(kind)
    return (U * s.unsqueeze(-2)) @ V.mT


def fro(x):
    return torch.linalg.matrix_norm(x.double()).cpu()


def check_eigh(A64, L, Q, dtype):
    n = A64.shape[-1]
    tol = 30 * max(n, 1) * EPS[dtype]
    L, Q = L.double().cpu(), Q.double().cpu()
    assert torch.isfinite(L).all() and torch.isfinite(Q).all()
    Aa = A64.double()
    nA = fro(Aa).clamp_min(1e-300)
    assert (fro(Aa @ Q - Q * L.unsqueeze(-2)) / nA).max() <= tol
    assert fro(Q.mT @ Q - torch.eye(n, dtype=torch.float64)).max() <= tol
    ref = torch.linalg.eigvalsh(Aa)
    assert (L[..., 1:] >= L[..., :-1]).all(), "eigenvalues must be ascending"
    n2 = torch.linalg.matrix_norm(Aa, 2).clamp_min(1e-300)
    assert ((L - ref).abs().amax(-1) / n2).max() <= tol


def check_svd(A64, U, S, V, dtype, full=False):
    m, n = A64.shape[-2:]
    k = min(m, n)
    tol = 30 * max(m, n, 1) * EPS[dtype]
    U, S, V = U.double().cpu(), S.double().cpu(), V.double().cpu()
    assert U.shape[-2:] == (m, m if full else k) and V.shape[-2:] == (n, n if full else k)
    assert torch.isfinite(U).all() and torch.isfinite(S).all() and torch.isfinite(V).all()
    nA = fro(A64).clamp_min(1e-300)
    assert (fro(A64 - (U[..., :k] * S.unsqueeze(-2)) @ V[..., :k].mT) / nA).max() <= tol
    assert fro(U.mT @ U - torch.eye(U.shape[-1], dtype=torch.float64)).max() <= tol
    assert fro(V.mT @ V - torch.eye(V.shape[-1], dtype=torch.float64)).max() <= tol
    assert (S[..., 1:] <= S[..., :-1]).all() and (S >= 0).all()
    ref = torch.linalg.svdvals(A64)
    n2 = torch.linalg.matrix_norm(A64, 2).clamp_min(1e-300) if k else torch.ones(())
    assert ((S - ref).abs().amax(-1) / n2).max() <= tol if k else True


# ---- eigh ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [3, 40, 72, 130])
def test_subnormal_matrix(device, dtype, n):
    """Largest entry 2^-3 below the smallest normal number: the exact power-of-two scale the
    Jacobi kernels apply would be 2^(max_exp) and overflow; it is capped instead
    (mc_pow2_scale, also behind the CUDA kernels' pow2_scale). At this magnitude the dtype still
    carries ~20 (fp32) / ~50 bits, so the usual tolerances hold. The sizes reach every CUDA
    kernel Python uses: eigh n = 3 eigh_warp, 40, 72 and 130 eigh_tridiag (130: past the shared
    memory tile in fp64); svd n = 3 svd_warp, 40 and 72 svd_jacobi, 130 svd_bidiag."""
    g = torch.Generator().manual_seed(7)
    A = torch.randn(2, n, n, generator=g, dtype=torch.float64)
    A = A + A.mT
    A = (A / A.abs().amax((-2, -1), keepdim=True) * torch.finfo(dtype).tiny / 8).to(dtype)
    L, Q = metalcore.eigh(A.to(device))
    check_eigh(A.double(), L, Q, dtype)
    U, S, V = metalcore.svd(A.to(device))
    check_svd(A.double(), U, S, V, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", SYM_KINDS)
@pytest.mark.parametrize("n", [1, 2, 3, 8, 33, 65])
def test_eigh_kinds(device, dtype, kind, n):
    g = torch.Generator().manual_seed(n * 31 + SYM_KINDS.index(kind))
    A64 = make_sym(kind, 3, n, g)
    A = A64.to(dtype)
    L, Q = metalcore.eigh(A.to(device))
    check_eigh(A.double(), L, Q, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("b,n", [(17, 32), (9, 64), (3, 100), (2, 128), (2, 160), (2, 256), (1, 512)])
def test_eigh_sizes(device, dtype, b, n):
    """Hits every CUDA path: eigh_warp (n <= 32), eigh_tridiag with its K1 in a shared-memory tile
    from the start (fp32 n <= 224, fp64 <= 160), from part way (256, fp64 160..) and with blocks
    of 256, 512 and 1024 threads; on the CPU n > 40 checks the routing to LAPACK."""
    if device == "cpu" and n > 128:
        b = 1
    g = torch.Generator().manual_seed(n)
    A = make_sym("random", b, n, g).to(dtype)
    L, Q = metalcore.eigh(A.to(device))
    check_eigh(A.double(), L, Q, dtype)


@pytest.mark.parametrize("n", [9, 40])
def test_eigh_uplo_reads_one_triangle(device, n):
    g = torch.Generator().manual_seed(5)
    S = make_sym("random", 4, n, g)
    junk = torch.randn(4, n, n, dtype=torch.float64, generator=g) * 1e3
    lower = torch.tril(S) + torch.triu(junk, 1)
    upper = torch.triu(S) + torch.tril(junk, -1)
    L1, Q1 = metalcore.eigh(lower.to(device), UPLO="L")
    L2, Q2 = metalcore.eigh(upper.to(device), UPLO="U")
    check_eigh(S, L1, Q1, torch.float64)
    check_eigh(S, L2, Q2, torch.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_eigh_noncontiguous_and_batch_shapes(device, dtype):
    g = torch.Generator().manual_seed(7)
    big = make_sym("random", 6, 20, g).to(dtype).to(device)
    A = big[::2, 2:13, 2:13].transpose(-1, -2)  # strided, transposed view
    L, Q = metalcore.eigh(A)
    check_eigh(A.double().cpu(), L, Q, dtype)
    big = make_sym("random", 4, 50, g).to(dtype).to(device)
    A = big[::2, 3:43, 3:43].transpose(-1, -2)  # the same at n = 40 (CUDA: eigh_tridiag)
    L, Q = metalcore.eigh(A)
    check_eigh(A.double().cpu(), L, Q, dtype)
    A4 = make_sym("random", 6, 5, g).to(dtype).reshape(2, 3, 5, 5).to(device)
    L, Q = metalcore.eigh(A4)
    assert L.shape == (2, 3, 5) and Q.shape == (2, 3, 5, 5)
    check_eigh(A4.double().cpu().reshape(6, 5, 5), L.reshape(6, 5), Q.reshape(6, 5, 5), dtype)
    L, Q = metalcore.eigh(torch.empty(0, 4, 4, dtype=dtype, device=device))
    assert L.shape == (0, 4) and Q.shape == (0, 4, 4)
    L, Q = metalcore.eigh(torch.empty(3, 0, 0, dtype=dtype, device=device))
    assert L.shape == (3, 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [6, 40, 72])
def test_eigh_nonfinite(device, dtype, n):
    """NaN / Inf in a matrix: NaN eigenvalues and vectors for that matrix alone, info 0. On CUDA
    n = 40 and 72 reach eigh_tridiag."""
    if device == "cpu" and n > sys.modules["metalcore.eigh"].ROUTE_N["cpu"]:
        pytest.skip("routed to LAPACK (torch.linalg.eigh) on the CPU")
    A = make_sym("random", 3, n, torch.Generator().manual_seed(1)).to(dtype)
    A[1, 3, 2] = float("nan")
    A[2, 0, 0] = float("inf")
    L, Q, info = metalcore.eigh_ex(A.to(device))
    assert torch.isnan(L[1:]).all() and torch.isnan(Q[1:]).all()
    assert (info == 0).all()
    check_eigh(A[:1].double(), L[:1], Q[:1], dtype)


def test_eigh_ex_info(device):
    A = make_sym("random", 5, 12, torch.Generator().manual_seed(2)).to(device)
    L, Q, info = metalcore.eigh_ex(A)
    assert info.dtype == torch.int32 and info.shape == (5,) and (info == 0).all()


def test_eigh_errors():
    with pytest.raises(TypeError):
        metalcore.eigh(torch.zeros(3, 3, dtype=torch.int32))
    with pytest.raises(ValueError):
        metalcore.eigh(torch.zeros(3, 4))
    with pytest.raises(ValueError):
        metalcore.eigh(torch.zeros(3, 3), UPLO="X")


def test_eigh_grad():
    g = torch.Generator().manual_seed(3)
    A = make_sym("random", 2, 5, g).requires_grad_()

    def f(X):
        L, Q = metalcore.eigh(X + X.mT)
        return L, Q * Q  # sign-invariant function of the eigenvectors

    assert torch.autograd.gradcheck(f, (A,))
    L, Q = metalcore.eigh(A)
    (L.sum() + (Q * Q)[..., 0].sum()).backward()
    B = A.detach().clone().requires_grad_()
    L2, Q2 = torch.linalg.eigh(B)
    (L2.sum() + (Q2 * Q2)[..., 0].sum()).backward()
    torch.testing.assert_close(A.grad, B.grad)


# ---- svd -----------------------------------------------------------------------------------

GEN_KINDS = ["random", "clustered", "repeated", "rankdef", "zero", "identity", "diagonal", "cond1e7", "graded"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", GEN_KINDS)
@pytest.mark.parametrize("m,n", [(1, 1), (2, 2), (3, 3), (8, 8), (17, 5), (5, 17), (33, 33)])
def test_svd_kinds(device, dtype, kind, m, n):
    g = torch.Generator().manual_seed(m * 100 + n + GEN_KINDS.index(kind))
    A = make_gen(kind, 3, m, n, g).to(dtype)
    U, S, V = metalcore.svd(A.to(device))
    check_svd(A.double(), U, S, V, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("b,m,n", [(17, 32, 32), (5, 64, 64), (2, 64, 32), (2, 128, 128), (2, 400, 128),
                                   (2, 129, 129), (2, 256, 256), (1, 512, 512), (1, 576, 512), (2, 300, 20),
                                   (2, 20, 300), (1, 1, 40), (1, 40, 1)])
def test_svd_sizes(device, dtype, b, m, n):
    """Every CUDA path: svd_warp (32), svd_jacobi with A and V in shared memory or in the global
    workspace (f64 128, 400 x 128), svd_bidiag (129 .. 512, up to its largest n, tall), tall, wide,
    1xN."""
    if device == "cpu" and min(m, n) > 128:
        b = 1
    A = make_gen("random", b, m, n, torch.Generator().manual_seed(m + n)).to(dtype)
    U, S, V = metalcore.svd(A.to(device))
    check_svd(A.double(), U, S, V, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["random", "rankdef", "zero"])
@pytest.mark.parametrize("m,n", [(7, 3), (3, 7), (5, 5), (1, 4)])
def test_svd_full_matrices(device, dtype, kind, m, n):
    A = make_gen(kind, 2, m, n, torch.Generator().manual_seed(m * n)).to(dtype)
    U, S, V = metalcore.svd(A.to(device), full_matrices=True)
    check_svd(A.double(), U, S, V, dtype, full=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_svd_noncontiguous_and_shapes(device, dtype):
    g = torch.Generator().manual_seed(9)
    big = torch.randn(4, 30, 30, dtype=torch.float64, generator=g).to(dtype).to(device)
    A = big[1:, 3:20:2, 1:12]
    U, S, V = metalcore.svd(A)
    check_svd(A.double().cpu(), U, S, V, dtype)
    A = big.mT[:, :7]  # transposed view
    check_svd(A.double().cpu(), *metalcore.svd(A), dtype)
    U, S, V = metalcore.svd(torch.empty(0, 5, 3, dtype=dtype, device=device))
    assert U.shape == (0, 5, 3) and S.shape == (0, 3) and V.shape == (0, 3, 3)
    U, S, V = metalcore.svd(torch.empty(2, 4, 0, dtype=dtype, device=device), full_matrices=True)
    assert S.shape == (2, 0)
    torch.testing.assert_close(U.cpu(), torch.eye(4, dtype=dtype).expand(2, 4, 4))


@pytest.mark.parametrize("m,n", [(9, 4), (150, 130)])
def test_svd_poisoned_outputs(device, m, n):
    """The kernel writes every output element (outputs start as NaN); CUDA: svd_jacobi at 9 x 4,
    svd_bidiag at 150 x 130 (through the C API, which the Python routing to LAPACK bypasses)."""
    from metalcore import _C
    A = torch.randn(3, m, n, dtype=torch.float64, device=device)
    for full in (False, True):
        U = torch.full((3, m, m if full else n), float("nan"), dtype=torch.float64, device=device)
        S = torch.full((3, n), float("nan"), dtype=torch.float64, device=device)
        V = torch.full((3, n, n), float("nan"), dtype=torch.float64, device=device)
        info = torch.full((3,), -7, dtype=torch.int32, device=device)
        nb = _C.svd_workspace_size(A, full)
        ws = torch.empty(nb, dtype=torch.uint8, device=device) if nb else None
        _C.svd_forward(A, full, U, S, V, info, ws)
        assert torch.isfinite(U).all() and torch.isfinite(S).all() and torch.isfinite(V).all()
        assert (info == 0).all()
        check_svd(A.cpu(), U, S, V, torch.float64, full=full)
    L = torch.full((3, 4), float("nan"), dtype=torch.float64, device=device)
    Q = torch.full((3, 4, 4), float("nan"), dtype=torch.float64, device=device)
    As = A[:, :4, :4] + A[:, :4, :4].mT
    nb = _C.eigh_workspace_size(As)
    _C.eigh_forward(As, L, Q, info, torch.empty(nb, dtype=torch.uint8, device=device) if nb else None)
    check_eigh(As.cpu(), L, Q, torch.float64)


def test_svd_nonfinite(device):
    A = torch.randn(3, 6, 4, dtype=torch.float64)
    A[0, 2, 1] = float("nan")
    A[2, 5, 3] = float("-inf")
    U, S, V, info = metalcore.svd_ex(A.to(device))
    assert torch.isnan(S[0]).all() and torch.isnan(U[2]).all() and torch.isnan(V[0]).all()
    check_svd(A[1:2], U[1:2], S[1:2], V[1:2], torch.float64)


def test_svd_errors():
    with pytest.raises(TypeError):
        metalcore.svd(torch.zeros(3, 3, dtype=torch.int64))
    with pytest.raises(ValueError):
        metalcore.svd(torch.zeros(3))


# ---- svd on CUDA for 129 <= min(M, N) <= 512: svd_bidiag (bidiagonalization); the CPU sends these
# sizes to LAPACK, so there the tests check the routing.

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", GEN_KINDS)
@pytest.mark.parametrize("m,n", [(129, 129), (256, 200), (200, 256), (300, 256)])
def test_svd_bidiag_kinds(device, dtype, kind, m, n):
    """The hard cases (repeated, clustered, zero and tiny singular values, 1e7-conditioned, graded),
    square, tall and wide; svd raises if info != 0."""
    g = torch.Generator().manual_seed(m * 7 + n + GEN_KINDS.index(kind))
    A = make_gen(kind, 2, m, n, g).to(dtype)
    U, S, V = metalcore.svd(A.to(device))
    check_svd(A.double(), U, S, V, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["random", "rankdef", "zero", "identity"])
@pytest.mark.parametrize("m,n", [(300, 129), (129, 300), (256, 256), (260, 200)])
def test_svd_bidiag_full_matrices(device, dtype, kind, m, n):
    """full_matrices: the last M - N columns of U (tall; of V when wide) complete the basis."""
    g = torch.Generator().manual_seed(m * n + 3)
    A = make_gen(kind, 2, m, n, g).to(dtype)
    U, S, V = metalcore.svd(A.to(device), full_matrices=True)
    check_svd(A.double(), U, S, V, dtype, full=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("m,n", [(200, 140), (140, 200)])
def test_svd_bidiag_nonfinite(device, dtype, full, m, n):
    """NaN / Inf in a matrix of the batch: NaN U, S, V for that matrix alone, info 0."""
    if device == "cpu":
        pytest.skip("routed to LAPACK (torch.linalg.svd) on the CPU")
    A = make_gen("random", 3, m, n, torch.Generator().manual_seed(11)).to(dtype)
    A[1, 7, 5] = float("nan")
    A[2, m - 1, n - 1] = float("inf")
    U, S, V, info = metalcore.svd_ex(A.to(device), full_matrices=full)
    assert (info == 0).all()
    assert torch.isnan(U[1:]).all() and torch.isnan(S[1:]).all() and torch.isnan(V[1:]).all()
    check_svd(A[:1].double(), U[:1], S[:1], V[:1], dtype, full=full)


@pytest.mark.parametrize("dtype", DTYPES)
def test_svd_bidiag_noncontiguous(device, dtype):
    g = torch.Generator().manual_seed(13)
    big = torch.randn(3, 300, 300, dtype=torch.float64, generator=g).to(dtype).to(device)
    for A in (big[::2, 7:290:2, 3:280],    # strided rows, wide (2, 142, 277)
              big.mT[:, 10:260, 20:170],   # transposed view, tall (3, 250, 150)
              big[1:, 5:205, 5:205].mT):   # transposed square (2, 200, 200)
        check_svd(A.double().cpu(), *metalcore.svd(A), dtype)


@pytest.mark.parametrize("m,n", [(150, 130), (130, 150)])
def test_svd_bidiag_grad(device, m, n):
    """Backward from svd_bidiag's outputs matches torch.linalg.svd's (gradcheck at this size would
    take ~10^4 evaluations)."""
    g = torch.Generator().manual_seed(17)
    A = torch.randn(2, m, n, dtype=torch.float64, generator=g).to(device)
    W = torch.randn(2, m, n, dtype=torch.float64, generator=g).to(device)
    w = torch.randn(2, min(m, n), dtype=torch.float64, generator=g).to(device)

    def loss(U, S, V):  # gauge-invariant: U V^T, and u_1 v_1^T
        return (S * w).sum() + (W * (U @ V.mT)).sum() + (W * (U[..., :1] @ V[..., :1].mT)).sum()

    A1 = A.clone().requires_grad_()
    loss(*metalcore.svd(A1)).backward()
    A2 = A.clone().requires_grad_()
    U2, S2, Vh2 = torch.linalg.svd(A2, full_matrices=False)
    loss(U2, S2, Vh2.mT).backward()
    torch.testing.assert_close(A1.grad, A2.grad, rtol=1e-7, atol=1e-9 * A2.grad.abs().max().item())


@pytest.mark.parametrize("m,n", [(4, 4), (6, 3), (3, 6)])
def test_svd_grad(m, n):
    A = torch.randn(2, m, n, dtype=torch.float64, requires_grad=True)

    def f(X):
        U, S, V = metalcore.svd(X)
        return S, U @ V.mT, U[..., :1] * V[..., :1].sum(-2, keepdim=True)  # gauge-invariant

    assert torch.autograd.gradcheck(f, (A,))


# ---- lstsq and pinv ----------------------------------------------------------------------

def _rank_def(b, m, n, r, g):
    return torch.randn(b, m, r, dtype=torch.float64, generator=g) @ torch.randn(b, r, n, dtype=torch.float64, generator=g)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,r", [(10, 6, 6), (10, 6, 3), (6, 10, 4), (6, 10, 6), (8, 8, 5)])
def test_lstsq_vs_numpy(device, dtype, m, n, r):
    g = torch.Generator().manual_seed(m * n + r)
    A = _rank_def(3, m, n, r, g)
    B = torch.randn(3, m, 4, dtype=torch.float64, generator=g)
    res = metalcore.lstsq(A.to(dtype).to(device), B.to(dtype).to(device))
    Ad, Bd = A.to(dtype).double().numpy(), B.to(dtype).double().numpy()
    tol = 1e-9 if dtype == torch.float64 else 2e-3  # solution condition ~ s_max/s_r <= 1e2
    for i in range(3):
        x, resid, rank, sv = np.linalg.lstsq(Ad[i], Bd[i], rcond=torch.finfo(dtype).eps * max(m, n))
        np.testing.assert_allclose(res.solution[i].double().cpu().numpy(), x, atol=tol * np.abs(x).max(), rtol=0)
        assert int(res.rank[i]) == rank == r
        np.testing.assert_allclose(res.singular_values[i].double().cpu().numpy(), sv, atol=tol * sv.max(), rtol=0)
        if m > n and r == n:
            np.testing.assert_allclose(res.residuals[i].double().cpu().numpy(), resid, rtol=tol * 10, atol=0)
    if not (m > n and r == n):
        assert res.residuals.numel() == 0
    assert res.rank.dtype == torch.int64


def test_lstsq_vector_and_broadcast(device):
    g = torch.Generator().manual_seed(4)
    A = torch.randn(2, 1, 7, 3, dtype=torch.float64, generator=g)
    b = torch.randn(2, 5, 7, dtype=torch.float64, generator=g)
    res = metalcore.lstsq(A.to(device), b.to(device))
    ref = torch.linalg.lstsq(A.expand(2, 5, 7, 3), b.unsqueeze(-1), driver="gelsd")
    torch.testing.assert_close(res.solution.cpu(), ref.solution.squeeze(-1))
    torch.testing.assert_close(res.residuals.cpu(), ref.residuals.squeeze(-1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,r", [(7, 5, 3), (5, 7, 5), (6, 6, 2), (6, 6, 6)])
def test_pinv_vs_numpy(device, dtype, m, n, r):
    g = torch.Generator().manual_seed(m + n * r)
    A = _rank_def(2, m, n, r, g).to(dtype)
    P = metalcore.pinv(A.to(device)).double().cpu().numpy()
    ref = np.linalg.pinv(A.double().numpy(), rcond=torch.finfo(dtype).eps * max(m, n))
    tol = 1e-9 if dtype == torch.float64 else 1e-3
    np.testing.assert_allclose(P, ref, atol=tol * np.abs(ref).max(), rtol=0)
    S = _rank_def(2, n, n, r, g)
    S = (S + S.mT).to(dtype)
    Ph = metalcore.pinv(S.to(device), hermitian=True).double().cpu().numpy()
    refh = np.linalg.pinv(S.double().numpy(), rcond=torch.finfo(dtype).eps * n, hermitian=True)
    np.testing.assert_allclose(Ph, refh, atol=tol * np.abs(refh).max(), rtol=0)
    P2 = metalcore.pinv(A.to(device), rcond=0.5).double().cpu().numpy()
    np.testing.assert_allclose(P2, np.linalg.pinv(A.double().numpy(), rcond=0.5), atol=tol * 10, rtol=0)


def test_lstsq_pinv_grad():
    A = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    B = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: metalcore.lstsq(a, b).solution, (A, B))
    assert torch.autograd.gradcheck(lambda a: metalcore.pinv(a), (A,))
    S = torch.randn(4, 4, dtype=torch.float64)
    S = (S @ S.mT + torch.eye(4, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a: metalcore.pinv(a + a.mT, hermitian=True), (S,))
