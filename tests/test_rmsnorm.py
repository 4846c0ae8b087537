"""Fused RMSNorm: forward and gradients against float64 autograd, on every device and dtype."""
import pytest
import torch
import torch.nn.functional as F

import metalcore
from metalcore import _C
from helpers import EPS, rel_err

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]

# Shapes: one element, one row, prime widths (scalar CUDA path), widths that are multiples of
# the 16-byte vector (register CUDA path at 1, 2, 4 and 8 vectors per thread), several leading
# dimensions, and a row too wide for registers (generic CUDA path).
SHAPES = [(1, 1), (7,), (3, 5, 17), (2, 3, 64), (4, 1031), (33, 256), (5, 4096), (3, 12288), (2, 70000)]


def _tol(dtype, torch_err):
    """Our error may be at most about twice that of torch computing in the same precision,
    with a floor of a few units of roundoff of the dtype (fp32: sums of n squares; 16-bit:
    the output rounding dominates)."""
    floor = {torch.float64: 1e-12, torch.float32: 2e-5, torch.float16: 4 * EPS[torch.float16],
             torch.bfloat16: 4 * EPS[torch.bfloat16]}[dtype]
    return max(2 * torch_err, floor)


def _reference(x, w, eps):
    xd = x.double()
    y = xd * torch.rsqrt(xd.pow(2).mean(-1, keepdim=True) + eps)
    return y * w.double() if w is not None else y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_forward_backward(device, dtype, shape, affine):
    n = shape[-1]
    if device == "cuda" and dtype == torch.float64:
        # float64 RMSNorm is CPU-only (include/metalcore/rmsnorm.h): a clear error, not a crash
        with pytest.raises(TypeError, match="float64"):
            metalcore.rms_norm(torch.randn(shape, dtype=dtype, device=device), (n,))
        return
    eps = 1e-6
    x = (torch.randn(shape, dtype=torch.float64) * 3).to(device=device, dtype=dtype).requires_grad_()
    w = (torch.rand(n, dtype=torch.float64) + 0.5).to(device=device, dtype=dtype).requires_grad_() if affine else None
    dy = torch.randn(shape, dtype=torch.float64).to(device=device, dtype=dtype)

    y = metalcore.rms_norm(x, (n,), w, eps)
    assert y.dtype == dtype and y.shape == x.shape and y.device == x.device
    grads = torch.autograd.grad(y, [x, w] if affine else [x], dy)
    gx, gw = grads[0], (grads[1] if affine else None)

    # float64 reference on the CPU
    xr = x.detach().cpu().double().requires_grad_()
    wr = w.detach().cpu().double().requires_grad_() if affine else None
    yr = _reference(xr, wr, eps)
    grads = torch.autograd.grad(yr, [xr, wr] if affine else [xr], dy.cpu().double())
    gxr, gwr = (grads[0], grads[1]) if affine else (grads[0], None)

    # torch's own error in the same precision sets the scale (forward and gradients; for
    # n = 1 the input gradient is a cancellation, ~0, and both are equally far from it)
    xt = x.detach().clone().requires_grad_()
    wt = w.detach().clone().requires_grad_() if affine else None
    yt = F.rms_norm(xt, (n,), wt, eps)
    gt = torch.autograd.grad(yt, [xt, wt] if affine else [xt], dy)
    tol = _tol(dtype, rel_err(yt, yr))
    assert rel_err(y, yr) <= tol, (rel_err(y, yr), tol)
    # dx = r (g - x r^2 mean(g x)) cancels for tiny n: measure against its first term
    rstd = xr.detach().pow(2).mean(-1, keepdim=True).add(eps).rsqrt()
    gscale = (rstd * dy.cpu().double() * (wr.detach() if affine else 1.0)).abs().max().item()
    tol_x = _tol(dtype, rel_err(gt[0], gxr, gscale))
    assert rel_err(gx, gxr, gscale) <= tol_x, (rel_err(gx, gxr, gscale), tol_x)
    if affine:
        tol_w = _tol(dtype, rel_err(gt[1], gwr))
        assert rel_err(gw, gwr) <= tol_w, (rel_err(gw, gwr), tol_w)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_float32_weight_with_low_precision_input(device, dtype):
    """A float32 weight with 16-bit input (autocast-style) gives output in the input dtype,
    as F.rms_norm does, and a float32 weight gradient."""
    x = torch.randn(6, 256, device=device).to(dtype).requires_grad_()
    w = (torch.rand(256, device=device) + 0.5).requires_grad_()
    y = metalcore.rms_norm(x, (256,), w, 1e-5)
    assert y.dtype == dtype
    y.float().sum().backward()
    assert w.grad.dtype == torch.float32
    xr = x.detach().double().cpu().requires_grad_()
    wr = w.detach().double().cpu().requires_grad_()
    _reference(xr, wr, 1e-5).sum().backward()
    assert rel_err(y, _reference(xr, wr, 1e-5)) <= 4 * EPS[dtype]
    assert rel_err(w.grad, wr.grad) <= 4 * EPS[dtype]


def test_multi_dim_normalized_shape(device):
    x = torch.randn(4, 3, 5, 8, device=device, dtype=torch.float32)
    w = torch.rand(5, 8, device=device) + 0.5
    y = metalcore.rms_norm(x, (5, 8), w, 1e-6)
    yr = F.rms_norm(x.double(), (5, 8), w.double(), 1e-6)
    assert rel_err(y, yr) <= 2e-5


def test_eps_none_uses_torch_default(device):
    x = torch.randn(3, 16, device=device) * 1e-4  # small values make eps matter
    y = metalcore.rms_norm(x, (16,), None, None)
    yr = F.rms_norm(x.double(), (16,), None, torch.finfo(torch.float32).eps)
    assert rel_err(y, yr) <= 2e-5
    m = metalcore.MetalRMSNorm(16, eps=None, device=device)
    assert rel_err(m(x), yr) <= 2e-5


def test_non_contiguous_input(device):
    base = torch.randn(64, 40, device=device)
    x = base.t()  # (40, 64), not contiguous
    assert not x.is_contiguous()
    w = torch.rand(64, device=device) + 0.5
    y = metalcore.rms_norm(x, (64,), w, 1e-6)
    assert rel_err(y, _reference(x.cpu(), w.cpu(), 1e-6)) <= 2e-5
    xs = torch.randn(10, 130, device=device)[:, 1:129]  # row-strided slice, misaligned start
    y = metalcore.rms_norm(xs, (128,), None, 1e-6)
    assert rel_err(y, _reference(xs.cpu(), None, 1e-6)) <= 2e-5


def test_misaligned_contiguous_views_use_generic_path(device):
    """A contiguous view whose data pointer is not 16-byte aligned must still be right (the
    CUDA register path requires alignment and falls back)."""
    buf = torch.randn(8 * 512 + 1, device=device, dtype=torch.bfloat16)
    x = buf[1:].view(8, 512)
    assert x.data_ptr() % 16 != 0
    y = metalcore.rms_norm(x, (512,), None, 1e-6)
    assert rel_err(y, _reference(x.cpu(), None, 1e-6)) <= 4 * EPS[torch.bfloat16]


def test_empty_inputs(device):
    x = torch.randn(0, 32, device=device, requires_grad=True)
    w = torch.ones(32, device=device, requires_grad=True)
    y = metalcore.rms_norm(x, (32,), w)
    assert y.shape == (0, 32)
    y.sum().backward()
    assert x.grad.shape == (0, 32)
    assert torch.equal(w.grad, torch.zeros_like(w))  # a sum over no rows
    x0 = torch.randn(3, 0, device=device)
    assert metalcore.rms_norm(x0, (0,)).shape == (3, 0)


def test_outputs_fully_written(device):
    """Poison the outputs, call the extension directly, check every element was written."""
    for n in (1, 100, 512, 4096, 70000):
        x = torch.randn(5, n, device=device)
        w = torch.rand(n, device=device)
        y = torch.full_like(x, float("nan"))
        rstd = torch.full((5,), float("nan"), device=device)
        _C.rmsnorm_forward(x, w, 1e-6, y, rstd)
        assert not torch.isnan(y).any() and not torch.isnan(rstd).any(), n
        dx = torch.full_like(x, float("nan"))
        dw = torch.full_like(w, float("nan"))
        ws_bytes = _C.rmsnorm_backward_workspace_size(x, w, True)
        ws = torch.full((ws_bytes,), 255, dtype=torch.uint8, device=device)  # NaN pattern
        _C.rmsnorm_backward(torch.randn_like(x), x, w, rstd, dx, dw, ws)
        assert not torch.isnan(dx).any() and not torch.isnan(dw).any(), n


def test_no_grad_fast_path_matches_dispatched_op(device):
    x = torch.randn(16, 96, device=device)
    w = torch.rand(96, device=device)
    with torch.no_grad():
        y_direct = metalcore.rms_norm(x, (96,), w, 1e-6)
    y_op, _ = torch.ops.metalcore.rms_norm(x, w, 1e-6)
    assert torch.equal(y_direct, y_op)


def test_module_matches_torch(device):
    ref = torch.nn.RMSNorm((48,), eps=1e-6, device=device)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5)
    m = metalcore.MetalRMSNorm(48, eps=1e-6, device=device)
    m.load_state_dict(ref.state_dict())
    assert isinstance(m, torch.nn.RMSNorm)
    x = torch.randn(2, 7, 48, device=device)
    assert rel_err(m(x), ref(x.double().float())) <= 2e-5
    m2 = metalcore.MetalRMSNorm([48], elementwise_affine=False, device=device, dtype=torch.float16)
    assert m2.weight is None
    assert m2(x.half()).dtype == torch.float16
    assert metalcore.RMSNorm is metalcore.MetalRMSNorm


def test_bad_inputs(device):
    x = torch.randn(4, 8, device=device)
    with pytest.raises(TypeError):
        metalcore.rms_norm(torch.ones(4, 8, dtype=torch.int32, device=device), (8,))
    with pytest.raises(ValueError):
        metalcore.rms_norm(x, (8,), torch.ones(7, device=device))
    with pytest.raises(ValueError):
        metalcore.rms_norm(x, (5,))
    with pytest.raises(TypeError):
        metalcore.rms_norm(x, (8,), torch.ones(8, dtype=torch.int64, device=device))
    with pytest.raises(TypeError):
        metalcore.rms_norm([1.0, 2.0], (2,))
    with pytest.raises(ValueError):
        metalcore.rms_norm(x, (8,), None, -1.0)
    if device == "cuda":
        with pytest.raises(ValueError, match="device"):
            metalcore.rms_norm(x, (8,), torch.ones(8))  # weight on the CPU
        with pytest.raises(TypeError, match="float64"):
            metalcore.rms_norm(x.double(), (8,))
    with pytest.raises(TypeError):
        _C.rmsnorm_forward(x, None, 1e-6, "not a tensor", None)


@pytest.mark.skipif(not metalcore.cuda_available(), reason="needs a CUDA device")
def test_runs_on_current_stream():
    """Work is queued on torch's current stream: results are right when read on that stream."""
    s = torch.cuda.Stream()
    x = torch.randn(2048, 4096, device="cuda", dtype=torch.bfloat16)
    w = torch.rand(4096, device="cuda", dtype=torch.bfloat16)
    torch.cuda.synchronize()
    with torch.cuda.stream(s):
        y = metalcore.rms_norm(x, (4096,), w, 1e-6)
        yt = F.rms_norm(x, (4096,), w, 1e-6)
        diff = (y.float() - yt.float()).abs().max()
    s.synchronize()
    assert diff.item() <= 0.05


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile_fullgraph(device, backend):
    """A small module using MetalRMSNorm compiles with fullgraph=True (fake impls and autograd
    registered) and gives the eager result, forward and backward."""
    torch._dynamo.reset()

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(32, 32)
            self.norm = metalcore.MetalRMSNorm(32)

        def forward(self, x):
            return self.norm(self.lin(x)).relu()

    m = Block().to(device)
    x = torch.randn(4, 32, device=device, requires_grad=True)
    compiled = torch.compile(m, fullgraph=True, backend=backend)
    y = compiled(x)
    y.sum().backward()
    g = x.grad.clone()
    x.grad = None
    ye = m(x)
    ye.sum().backward()
    assert torch.allclose(y, ye, atol=1e-5) and torch.allclose(g, x.grad, atol=1e-5)
