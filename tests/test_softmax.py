"""fused_softmax: forward and gradient against float64 references along every dimension, shapes that
hit each CUDA path (rows: short rows several per block, long rows one block or a thread-block
cluster per row; generic, split-row, column), non-finite rows, bad input."""
import sys
import warnings

import pytest
import torch

import metalcore
from metalcore import _C
from helpers import assert_close_lp

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]

# (shape, dim): CUDA path in the comment (see src/cuda/softmax.cu).
CASES = [
    ((1, 1), -1),        # generic (n below one 16-byte vector)
    ((3, 7), -1),        # generic (odd width)
    ((300, 1024), -1),   # rows, several rows per block
    ((8, 4096), -1),     # rows: one block per row (fp32), short rows (16-bit)
    ((2, 1, 5003), 2),   # split, odd width (scalar loads)
    ((33, 1001), 1),     # generic
    ((40, 33), 0),       # column (softmax over a leading dim)
    ((3, 50, 6), 1),     # column
    ((5,), 0),
    ((), 0),             # rank 0
]


def _check(x, dim, device, dtype):
    xs = x.to(device=device, dtype=dtype).requires_grad_()
    x64 = xs.detach().double().cpu().requires_grad_()
    xlp = xs.detach().cpu().requires_grad_()
    y = metalcore.fused_softmax(xs, dim)
    ref = torch.softmax(x64, dim)
    lp = torch.softmax(xlp, dim)
    assert y.dtype == dtype and y.shape == ref.shape
    assert_close_lp(y, ref, lp, f"softmax {tuple(x.shape)} dim {dim} forward")
    dy = torch.randn(ref.shape, dtype=torch.float64)
    y.backward(dy.to(device=device, dtype=dtype))
    ref.backward(dy)
    lp.backward(dy.to(dtype))
    assert_close_lp(xs.grad, x64.grad, xlp.grad, f"softmax {tuple(x.shape)} dim {dim} grad")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", CASES)
def test_softmax(device, dtype, shape, dim):
    if device == "cuda" and dtype == torch.float64:
        pytest.skip("float64 is CPU-only")
    _check(torch.randn(shape) * 4, dim, device, dtype)


@pytest.mark.parametrize("n", [262144, 131072, 32768, 16384, 8192, 65536 + 4, 1 << 20])
def test_softmax_long_rows(device, n):
    """Long rows, forward and gradient: on CUDA one block or a thread-block cluster per row (sm_90;
    the split path elsewhere), 65540 in 16-bit is generic/split (not a multiple of 8), 2^20 is
    beyond the cluster limits (split) but for the 16-bit forward (a cluster of 16 x 1024 threads)."""
    rows = 3 if n <= 131072 else 1
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        if n == 1 << 20 and dtype == torch.float16:
            continue
        _check(torch.randn(rows, n) * 4, -1, device, dtype)


@pytest.mark.parametrize("rows,n", [(64, 8192), (20, 65536), (5, 262144)])
def test_softmax_long_rows_many(device, rows, n):
    """Enough rows that the clusters are not spread (the sweep's layouts), fp32 and bf16."""
    for dtype in (torch.float32, torch.bfloat16):
        _check(torch.randn(rows, n) * 4, -1, device, dtype)


# The long-row forward's layouts on CUDA (sm_90; H100 plans in the comments): 16-bit rows held as
# raw values, 64 per thread, fp32 as floats, 32 per thread; one block or a pair of up to 512
# threads, more blocks of up to 256 beyond; few rows spread over more blocks. Ragged widths leave
# the end of a cluster's span past the row's end: part of the last block, or whole blocks. (3 x
# 131072 above: bf16/fp16 C8 x 256, fp32 C16 x 256; 2^20: bf16 C16 x 1024.)
@pytest.mark.parametrize("rows,n", [
    (5, 65536),    # bf16/fp16 C8 x 128 (spread from C2 x 512), fp32 C8 x 256
    (2, 40000),    # bf16/fp16 C4 x 160, fp32 C8 x 160: the last block partly past the end
    (7, 65544),    # bf16/fp16 C8 x 160, fp32 C16 x 160: whole blocks past the end
    (140, 16384),  # one block per row: bf16/fp16 256 threads, fp32 512
])
def test_softmax_long_rows_layouts(device, rows, n):
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        _check(torch.randn(rows, n) * 4, -1, device, dtype)


def test_softmax_views_and_large_values(device):
    base = torch.randn(64, 48, device=device) * 50  # large logits: exp must be shifted by the max
    for x, d in ((base.t(), 0), (base.t(), 1), (base[:, ::3], -1), (base.reshape(-1)[1:].reshape(37, 83), 1)):
        torch.testing.assert_close(metalcore.softmax(x, d), torch.softmax(x, d), rtol=1e-5, atol=1e-7)
    e = torch.empty(0, 7, device=device)
    assert metalcore.fused_softmax(e).shape == (0, 7)
    assert metalcore.fused_softmax(torch.empty(4, 0, device=device), 1).shape == (4, 0)
    x16 = torch.randn(4, 10, device=device)
    torch.testing.assert_close(metalcore.fused_softmax(x16, 1, dtype=torch.float64),
                               torch.softmax(x16, 1, dtype=torch.float64))


# Widths that put a row on each CUDA path: short rows (64), generic (63), long rows spread over a
# cluster (8192 and 65536 with few rows), a cluster of 16 blocks (262144), split (8193).
@pytest.mark.parametrize("n", [64, 63, 8192, 65536, 262144, 8193])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_softmax_non_finite(device, n, dtype):
    """Rows of all -inf, with one +inf, with NaN, with some -inf, with whole blocks of -inf (next to
    values near -1000), one finite value: as torch (NaN where torch is)."""
    x = torch.randn(10, n) * 3
    x[0] = float("-inf")
    x[1, n // 3] = float("inf")
    x[2, n // 2] = float("nan")
    x[3, ::2] = float("-inf")
    x[4, 0] = float("-inf")  # -inf first: the online max starts from it
    x[5, n - 1] = float("inf")
    x[5, 0] = float("-inf")
    x[6, : n // 2] = float("-inf")  # whole blocks / warps of -inf
    x[7, : n // 2] = float("-inf")
    x[7, n // 2:] -= 1000.0  # ... and a row max near -1000: exp(warp max - row max) must not overflow
    x[8] = float("-inf")
    x[8, n - 1] = 2.0  # one finite value
    x[9, 0] = float("nan")
    x[9, 1:] = float("-inf")  # NaN among -inf
    x = x.to(dtype)
    for xx, d in ((x, 1), (x.t().contiguous(), 0)):  # row paths and the column path
        y = metalcore.fused_softmax(xx.to(device), d).cpu()
        ref = torch.softmax(xx.double(), d)
        assert torch.equal(torch.isnan(y), torch.isnan(ref)), "NaN pattern differs from torch"
        ok = ~torch.isnan(ref)
        assert (y.double()[ok] - ref[ok]).abs().max() <= 2e-2


@pytest.mark.parametrize("shape,dim", [((37, 64), 1), ((3, 63), 1), ((2, 8192), 1), ((3, 131072), 1),
                                       ((1, 1 << 20), 1), ((9, 5, 3), 1)])
def test_outputs_fully_written(device, shape, dim):
    for dt in (torch.float32, torch.float16):
        x = torch.randn(shape, device=device, dtype=dt)
        ws_bytes = _C.softmax_workspace_size(x, dim)
        ws = torch.empty(ws_bytes, dtype=torch.uint8, device=device) if ws_bytes else None
        y = torch.full_like(x, float("nan"))
        _C.softmax_forward(x, dim, y, ws)
        dx = torch.full_like(x, float("nan"))
        _C.softmax_backward(torch.randn_like(x), y, dim, dx, ws)
        assert not torch.isnan(y).any() and not torch.isnan(dx).any()


def test_no_workspace_below_split_min_cols(device):
    """softmax.py skips the workspace lookup for rows shorter than _SPLIT_MIN_COLS: the C side must
    agree that no such call needs one, whatever the row count, dtype or dim."""
    S = sys.modules["metalcore.softmax"]
    for dt in (torch.float32, torch.float16, torch.bfloat16):
        for shape, dim in (((1, 1), 1), ((1, 4095), 1), ((3, 4088), 1), ((1, 2048), 1), ((100000, 1024), 1),
                           ((2, 4095, 3), 1), ((4095,), 0), ((7, 4000), 0), ((5, 3, 4095), 2)):
            if shape[dim] >= S._SPLIT_MIN_COLS:
                continue
            x = torch.empty(shape, device=device, dtype=dt)
            assert _C.softmax_workspace_size(x, dim) == 0, (shape, dim, dt)
            assert S._workspace(x, dim) is None


def test_eager_path(device):
    """_C.softmax_eager (fused_softmax's one-call path) gives the general path's bytes where it
    runs, and steps aside (None) wherever the general path has work to do."""
    S = sys.modules["metalcore.softmax"]
    for dt in (torch.float32, torch.float16, torch.bfloat16):
        for shape, dim in (((4, 64), 1), ((4, 64), -2), ((3, 5, 7), 1), ((5,), 0), ((), -1), ((2, 4095), 1)):
            x = torch.randn(shape, device=device, dtype=dt)
            y = _C.softmax_eager(x, dim)
            assert y is not None and y.shape == x.shape and y.dtype == x.dtype and y.is_contiguous()
            assert torch.equal(y, S._forward(x, dim % max(x.dim(), 1)))
    x = torch.randn(4, 64, device=device)
    assert _C.softmax_eager(x.t(), 1) is None  # not contiguous
    assert _C.softmax_eager(x[:0], 1) is None  # empty
    assert _C.softmax_eager(x, 2) is None and _C.softmax_eager(x, -3) is None  # the general path raises
    assert _C.softmax_eager(x.long(), 1) is None
    xr = x.clone().requires_grad_()
    assert _C.softmax_eager(xr, 1) is None  # autograd records the op
    with torch.no_grad():
        assert _C.softmax_eager(xr, 1) is not None
    if device == "cuda":
        assert _C.softmax_eager(x.double(), 1) is None  # torch's own softmax
        assert _C.softmax_eager(torch.randn(2, S._SPLIT_MIN_COLS, device=device), 1) is None  # may need a workspace
    # under a functorch transform the call goes through the op, which vmap batches (torch warns that
    # it has no batching rule for it)
    xb = torch.randn(3, 4, 8, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yb = torch.func.vmap(lambda t: metalcore.fused_softmax(t, -1))(xb)
    torch.testing.assert_close(yb, torch.softmax(xb, -1))


def test_softmax_bad_input(device):
    x = torch.randn(3, 4, device=device)
    with pytest.raises(IndexError):
        metalcore.fused_softmax(x, 2)
    with pytest.raises(ValueError):  # also a ValueError
        metalcore.fused_softmax(x, -3)
    with pytest.raises(TypeError):
        metalcore.fused_softmax(x, 1.0)
    with pytest.raises(TypeError):
        metalcore.fused_softmax(torch.arange(5, device=device))
    with pytest.raises(TypeError):
        metalcore.fused_softmax("x")
    with pytest.raises(ValueError):  # C boundary: shape mismatch, dim out of range
        _C.softmax_forward(x, 1, torch.empty(4, 3, device=device), None)
    with pytest.raises(ValueError):
        _C.softmax_forward(x, 5, torch.empty_like(x), None)
    with pytest.raises(ValueError):  # dx aliasing y
        y = torch.softmax(x, 1)
        _C.softmax_backward(torch.ones_like(y), y, 1, y, None)
    if device == "cuda":
        # float64 on CUDA is torch's own softmax (our CUDA kernels are fp32/16-bit); the C API
        # itself refuses it with a TypeError
        x64 = torch.randn(3, device=device, dtype=torch.float64)
        torch.testing.assert_close(metalcore.fused_softmax(x64), torch.softmax(x64, -1))
        with pytest.raises(TypeError):
            _C.softmax_forward(x64, 0, torch.empty_like(x64), None)
        z = torch.randn(1, 1 << 20, device=device)  # beyond the cluster path: split, with a workspace
        assert _C.softmax_workspace_size(z, 1) > 0
        with pytest.raises(ValueError):  # split path without its workspace
            _C.softmax_forward(z, 1, torch.empty_like(z), None)


def test_opcheck_and_compile():
    S = sys.modules["metalcore.softmax"]  # the module; metalcore.softmax is the alias of fused_softmax

    x = torch.randn(3, 8, requires_grad=True)
    torch.library.opcheck(S._softmax_op.op, (x, 1))
    torch.library.opcheck(S._softmax_op.op, (x, 0))

    def f(a):
        return (metalcore.fused_softmax(a, 0) * torch.arange(8.0)).sum()

    a = torch.randn(5, 8, requires_grad=True)
    out = torch.compile(f, fullgraph=True, backend="aot_eager")(a)
    out.backward()
    a2 = a.detach().requires_grad_()
    ref = (torch.softmax(a2, 0) * torch.arange(8.0)).sum()
    ref.backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(a.grad, a2.grad)
