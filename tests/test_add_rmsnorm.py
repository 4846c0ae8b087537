"""fused_add_rmsnorm: (y, h) and gradients to x, residual and weight through both outputs, against
float64 references; reg and generic CUDA paths; bad input."""
import pytest
import torch
import torch.nn.functional as F

import metalcore
from metalcore import _C
from helpers import assert_close_lp

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]
# (rows..., n): n=1, prime widths (generic path on CUDA), 16-byte multiples (registers), 3-D
SHAPES = [(1, 1), (3, 7), (5, 1031), (16, 4096), (2, 3, 64), (7, 16384)]


def _ref(x, r, w, eps):
    h = x + r
    return F.rms_norm(h, (h.shape[-1],), w, eps), h


# weight: of the input dtype, none, or float32 with a 16-bit input; wide rows with one mode only
CASES = [(shape, dtype, wmode) for shape in SHAPES for dtype in DTYPES for wmode in ("same", "none", "f32")
         if not (wmode == "f32" and dtype in (torch.float32, torch.float64))
         and not (shape[-1] >= 4096 and (wmode != "same" or dtype == torch.float64))]


@pytest.mark.parametrize("shape,dtype,wmode", CASES)
def test_add_rmsnorm(device, dtype, shape, wmode):
    if device == "cuda" and dtype == torch.float64:
        pytest.skip("float64 is CPU-only (the TypeError is checked in test_activations/test_softmax)")
    eps = 1e-6
    n = shape[-1]
    wdt = torch.float32 if wmode == "f32" else dtype
    x = torch.randn(shape).to(device=device, dtype=dtype).requires_grad_()
    r = torch.randn(shape).to(device=device, dtype=dtype).requires_grad_()
    w = None if wmode == "none" else (1 + 0.5 * torch.randn(n)).to(device=device, dtype=wdt).requires_grad_()
    leaves = [t for t in (x, r, w) if t is not None]
    l64 = [t.detach().double().cpu().requires_grad_() for t in leaves]
    llp = [t.detach().cpu().requires_grad_() for t in leaves]
    if w is None:
        l64.append(None)
        llp.append(None)

    y, h = metalcore.fused_add_rmsnorm(x, r, w, eps)
    y64, h64 = _ref(*l64[:3], eps)
    # torch in the input precision (weight cast to the input dtype as F.rms_norm needs)
    wl = llp[2]
    ylp, hlp = _ref(llp[0], llp[1], None if wl is None else wl.to(dtype), eps)
    assert y.dtype == dtype and h.dtype == dtype and y.shape == x.shape and h.shape == x.shape
    assert_close_lp(h, h64, hlp, "h")
    assert_close_lp(y, y64, ylp, "y")

    gy, gh = torch.randn(shape, dtype=torch.float64), torch.randn(shape, dtype=torch.float64)
    (y * gy.to(device, dtype)).sum().add((h * gh.to(device, dtype)).sum()).backward()
    ((y64 * gy).sum() + (h64 * gh).sum()).backward()
    ((ylp * gy.to(dtype)).sum() + (hlp * gh.to(dtype)).sum()).backward()
    names = ["dx", "dresidual", "dweight"]
    for i, t in enumerate(leaves):
        assert t.grad is not None and t.grad.dtype == t.dtype
        assert_close_lp(t.grad, l64[i].grad, llp[i].grad, names[i])


def test_add_rmsnorm_grads_accumulate(device):
    """x and residual receive equal but separate gradient tensors; a second backward adds."""
    x = torch.randn(4, 32, device=device, requires_grad=True)
    r = torch.randn(4, 32, device=device, requires_grad=True)
    w = torch.randn(32, device=device, requires_grad=True)
    for _ in range(2):
        y, h = metalcore.fused_add_rmsnorm(x, r, w)
        (y.sum() + 2 * h.sum()).backward()
    x2, r2, w2 = (t.detach().clone().requires_grad_() for t in (x, r, w))
    for _ in range(2):
        y2, h2 = _ref(x2, r2, w2, 1e-6)
        (y2.sum() + 2 * h2.sum()).backward()
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(r.grad, r2.grad)
    torch.testing.assert_close(w.grad, w2.grad)
    assert x.grad.data_ptr() != r.grad.data_ptr()
    # only one output used: the other gradient is zero
    xa = x.detach().requires_grad_()
    _, hh = metalcore.fused_add_rmsnorm(xa, r.detach(), w.detach())
    hh.sum().backward()
    torch.testing.assert_close(xa.grad, torch.ones_like(xa))


def test_add_rmsnorm_views_and_poison(device):
    base = torch.randn(10, 24, device=device)
    x, r = base[:, :12], base[:, 12:]  # non-contiguous
    w = torch.randn(12, device=device)
    y, h = metalcore.fused_add_rmsnorm(x, r, w, 1e-5)
    y2, h2 = _ref(x, r, w, 1e-5)
    torch.testing.assert_close(y, y2)
    torch.testing.assert_close(h, h2)
    y0, h0 = metalcore.fused_add_rmsnorm(torch.empty(0, 8, device=device), torch.empty(0, 8, device=device),
                                         torch.ones(8, device=device))
    assert y0.shape == h0.shape == (0, 8)
    for n in (64, 61):  # reg / generic
        for dt in (torch.float32, torch.bfloat16):
            xx = torch.randn(5, n, device=device, dtype=dt)
            rr = torch.randn(5, n, device=device, dtype=dt)
            ww = torch.randn(n, device=device, dtype=dt)
            yy, hh = torch.full_like(xx, float("nan")), torch.full_like(xx, float("nan"))
            rstd = torch.full((5,), float("nan"), device=device)
            _C.add_rmsnorm_forward(xx, rr, ww, 1e-6, yy, hh, rstd)
            assert not torch.isnan(yy).any() and not torch.isnan(hh).any() and not torch.isnan(rstd).any()
            # h may alias the residual (in-place residual update)
            r_copy = rr.clone()
            _C.add_rmsnorm_forward(xx, rr, ww, 1e-6, yy, rr, None)
            torch.testing.assert_close(rr, hh)
            dx = torch.full_like(xx, float("nan"))
            dw = torch.full_like(ww, float("nan"))
            wsb = _C.rmsnorm_backward_workspace_size(hh, ww, True)
            ws = torch.empty(wsb, dtype=torch.uint8, device=device) if wsb else None
            _C.add_rmsnorm_backward(torch.ones_like(xx), torch.ones_like(xx), hh, ww, rstd, dx, dw, ws)
            assert not torch.isnan(dx).any() and not torch.isnan(dw).any()
            del r_copy


def test_add_rmsnorm_bad_input(device):
    x = torch.randn(3, 8, device=device)
    w = torch.randn(8, device=device)
    with pytest.raises(ValueError):
        metalcore.fused_add_rmsnorm(x, torch.randn(3, 7, device=device), w)
    with pytest.raises(TypeError):
        metalcore.fused_add_rmsnorm(x, x.half(), w)
    with pytest.raises(ValueError):
        metalcore.fused_add_rmsnorm(x, x, torch.randn(7, device=device))
    with pytest.raises(TypeError):
        metalcore.fused_add_rmsnorm(x.int(), x.int(), w)
    with pytest.raises(ValueError):
        metalcore.fused_add_rmsnorm(x, x, w, eps=-1.0)
    with pytest.raises(ValueError):  # y aliasing x at the C boundary
        _C.add_rmsnorm_forward(x, x.clone(), w, 1e-6, x, torch.empty_like(x), None)
    if device == "cuda":
        with pytest.raises(ValueError):
            metalcore.fused_add_rmsnorm(x, x.cpu(), w)
        with pytest.raises(ValueError):
            metalcore.fused_add_rmsnorm(x, x, w.cpu())


def test_opcheck_and_compile():
    from metalcore import rmsnorm as R

    x, r = torch.randn(3, 8, requires_grad=True), torch.randn(3, 8, requires_grad=True)
    w = torch.randn(8, requires_grad=True)
    torch.library.opcheck(R._add_rms_norm_op.op, (x, r, w, 1e-6))

    def f(a, b, c):
        y, h = metalcore.fused_add_rmsnorm(a, b, c)
        return y.sum() + (h * h).sum()

    out = torch.compile(f, fullgraph=True, backend="aot_eager")(x, r, w)
    out.backward()
    x2, r2, w2 = (t.detach().requires_grad_() for t in (x, r, w))
    y2, h2 = _ref(x2, r2, w2, 1e-6)
    ref = y2.sum() + (h2 * h2).sum()
    ref.backward()
    torch.testing.assert_close(out, ref)
    for a, b in ((x, x2), (r, r2), (w, w2)):
        torch.testing.assert_close(a.grad, b.grad)
