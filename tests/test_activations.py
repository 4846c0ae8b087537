"""SiLU, GELU and SwiGLU: forward and gradients against float64 references on every device and
dtype, the CUDA vector / scalar-tail / unaligned paths, packed SwiGLU, and bad input."""
import pytest
import torch
import torch.nn.functional as F

import metalcore
from metalcore import _C
from helpers import assert_close_lp

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]
# Shapes: one element, prime widths (CUDA scalar tail), 16-byte multiples (vector path), several
# blocks' worth (vector path with more than one block), 3-D.
SHAPES = [(1,), (3, 7), (17, 131), (4, 1024), (3, 4097), (2, 3, 64)]

ACTS = {
    "silu": (metalcore.metal_silu, F.silu),
    "gelu": (metalcore.metal_gelu, F.gelu),
    "gelu_tanh": (lambda x: metalcore.metal_gelu(x, approximate="tanh"), lambda x: F.gelu(x, approximate="tanh")),
}


def _skip_f64_cuda(device, dtype):
    if device == "cuda" and dtype == torch.float64:
        pytest.skip("float64 is CPU-only (checked in test_cuda_float64_rejected)")


def _grad_check(ours_fn, ref_fn, inputs, device, dtype, what):
    """Forward and input gradients of ours vs float64 reference vs torch at the same precision."""
    xs = [t.to(device=device, dtype=dtype).requires_grad_() for t in inputs]
    x64 = [t.detach().double().cpu().requires_grad_() for t in xs]
    xlp = [t.detach().cpu().requires_grad_() for t in xs]
    out = ours_fn(*xs)
    ref = ref_fn(*x64)
    lp = ref_fn(*xlp)
    assert out.dtype == dtype and out.shape == ref.shape and out.device.type == device
    assert_close_lp(out, ref, lp, f"{what} forward")
    dy = torch.randn(ref.shape, dtype=torch.float64)
    out.backward(dy.to(device=device, dtype=dtype))
    ref.backward(dy)
    lp.backward(dy.to(dtype))
    for i, (a, r, p) in enumerate(zip(xs, x64, xlp)):
        assert_close_lp(a.grad, r.grad, p.grad, f"{what} grad {i}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("act", list(ACTS))
def test_activation(device, dtype, shape, act):
    _skip_f64_cuda(device, dtype)
    ours, ref = ACTS[act]
    x = torch.randn(shape) * 3
    _grad_check(ours, ref, [x], device, dtype, act)


@pytest.mark.parametrize("act", list(ACTS))
def test_activation_views_and_extremes(device, act):
    ours, ref = ACTS[act]
    base = torch.randn(9, 66, device=device) * 4
    for x in (base.t(), base[:, 1:], base[::2, ::3], base.reshape(-1)[1:]):  # non-contiguous, unaligned
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-6)
    big = torch.tensor([-1e4, -100.0, -20.0, 0.0, 20.0, 100.0, 1e4, float("inf"), float("nan")], device=device)
    torch.testing.assert_close(ours(big[:-2]), ref(big[:-2]), rtol=1e-5, atol=1e-6)
    assert torch.isnan(ours(big)[-1])
    e = torch.empty(0, 5, device=device)
    assert ours(e).shape == (0, 5)


def test_silu_inplace(device):
    x = torch.randn(5, 33, device=device)
    ref = F.silu(x)
    y = metalcore.metal_silu(x, inplace=True)
    assert y is x
    torch.testing.assert_close(x, ref, rtol=1e-5, atol=1e-6)
    z = torch.randn(8, 6, device=device)
    v = z.t()  # non-contiguous in-place
    r = F.silu(v)
    assert metalcore.silu(v, inplace=True) is v
    torch.testing.assert_close(v, r, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("code", [0, 1, 2])
def test_outputs_fully_written(device, code):
    """The kernels write every element: poison the output, call the extension directly."""
    for n in (1, 7, 4096, 4099):
        for dt in (torch.float32, torch.bfloat16):
            x = torch.randn(n, device=device, dtype=dt)
            y = torch.full_like(x, float("nan"))
            _C.activation_forward(code, x, y)
            dx = torch.full_like(x, float("nan"))
            _C.activation_backward(code, torch.ones_like(x), x, dx)
            assert not torch.isnan(y).any() and not torch.isnan(dx).any()


def test_activation_bad_input(device):
    with pytest.raises(TypeError):
        metalcore.metal_silu(torch.arange(4, device=device))
    with pytest.raises(TypeError):
        metalcore.metal_gelu([1.0, 2.0])
    with pytest.raises(ValueError):
        metalcore.metal_gelu(torch.randn(3, device=device), approximate="fast")
    x = torch.randn(4, 4, device=device)
    with pytest.raises(ValueError):  # shape mismatch at the C boundary
        _C.activation_forward(0, x, torch.empty(4, 5, device=device))
    with pytest.raises(TypeError):  # dtype mismatch at the C boundary
        _C.activation_forward(0, x, torch.empty(4, 4, device=device, dtype=torch.float16))
    with pytest.raises(ValueError):  # unknown activation code
        _C.activation_forward(7, x, torch.empty_like(x))


def test_cuda_float64_rejected(device):
    if device != "cuda":
        pytest.skip("CUDA only")
    with pytest.raises(TypeError):
        metalcore.metal_silu(torch.randn(3, device=device, dtype=torch.float64))
    with pytest.raises(TypeError):
        metalcore.swiglu(torch.randn(3, 4, device=device, dtype=torch.float64))


# ---- SwiGLU ----------------------------------------------------------------------------------

def _swiglu_ref(g, u):
    return F.silu(g) * u


def _swiglu_packed_ref(x):
    i = x.shape[-1] // 2
    return F.silu(x[..., :i]) * x[..., i:]


# widths: odd (scalar), 8-multiples (vector path, packed halves aligned), odd multiple of 4
SWIGLU_SHAPES = [(1, 1), (3, 7), (5, 64), (2, 3, 344), (33, 12), (4, 1000)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SWIGLU_SHAPES)
def test_swiglu(device, dtype, shape):
    _skip_f64_cuda(device, dtype)
    g, u = torch.randn(shape) * 3, torch.randn(shape)
    _grad_check(metalcore.swiglu, _swiglu_ref, [g, u], device, dtype, "swiglu")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SWIGLU_SHAPES)
def test_swiglu_packed(device, dtype, shape):
    _skip_f64_cuda(device, dtype)
    x = torch.randn(*shape[:-1], 2 * shape[-1]) * 3
    _grad_check(metalcore.swiglu, _swiglu_packed_ref, [x], device, dtype, "swiglu packed")


def test_swiglu_views(device):
    x = torch.randn(6, 5, 16, device=device)
    g, u = x[..., :8], x[..., 8:]  # strided halves given separately
    torch.testing.assert_close(metalcore.swiglu(g, u), _swiglu_ref(g, u), rtol=1e-5, atol=1e-6)
    xt = torch.randn(32, 6, device=device).t()  # non-contiguous packed input
    torch.testing.assert_close(metalcore.swiglu(xt), _swiglu_packed_ref(xt), rtol=1e-5, atol=1e-6)
    assert metalcore.swiglu(torch.randn(0, 8, device=device)).shape == (0, 4)
    # poisoned outputs through the extension, packed gradient halves
    for dt in (torch.float32, torch.bfloat16):
        p = torch.randn(7, 2 * 24, device=device, dtype=dt)
        gg, uu = p[:, :24], p[:, 24:]
        y = torch.full((7, 24), float("nan"), device=device, dtype=dt)
        _C.swiglu_forward(gg, uu, y)
        d = torch.full_like(p, float("nan"))
        _C.swiglu_backward(torch.ones_like(y), gg, uu, d[:, :24], d[:, 24:])
        assert not torch.isnan(y).any() and not torch.isnan(d).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows,n,stride", [(1, 1, 1), (3, 7, 7), (7, 13, 32), (5, 24, 48), (4, 1000, 2000),
                                           (300, 344, 688)])
def test_swiglu_backward_h(device, dtype, rows, n, stride):
    """The backward's optional h = silu(gate) * up output (the fused MLP's): into a fresh buffer and
    in place over dy with dgate, dup over gate, up; row views with n not a multiple of the vector
    width (vector path plus scalar tail on every row)."""
    _skip_f64_cuda(device, dtype)
    p = (torch.randn(rows, 2 * stride) * 3).to(device=device, dtype=dtype)
    g, u = p[:, :n], p[:, stride:stride + n]
    dy = torch.randn(rows, n, device=device, dtype=dtype)
    y = torch.full_like(dy, float("nan"))
    _C.swiglu_forward(g, u, y)
    dg, du = torch.full_like(dy, float("nan")), torch.full_like(dy, float("nan"))
    _C.swiglu_backward(dy, g, u, dg, du)
    # separate outputs
    dg2, du2, h = (torch.full_like(dy, float("nan")) for _ in range(3))
    _C.swiglu_backward(dy, g, u, dg2, du2, h)
    for a, b in ((dg2, dg), (du2, du), (h, y)):
        torch.testing.assert_close(a, b)
    # in place, as the MLP calls it
    p2, dh = p.clone(), dy.clone()
    g2, u2 = p2[:, :n], p2[:, stride:stride + n]
    _C.swiglu_backward(dh, g2, u2, g2, u2, dh)
    for a, b in ((g2, dg), (u2, du), (dh, y)):
        torch.testing.assert_close(a, b)
    # untouched: the columns between and after the views
    torch.testing.assert_close(p2[:, n:stride], p[:, n:stride], rtol=0, atol=0)
    with pytest.raises(ValueError):
        _C.swiglu_backward(dy, g, u, dg, du, dg)  # h aliases dgate


def test_swiglu_bad_input(device):
    with pytest.raises(ValueError):
        metalcore.swiglu(torch.randn(3, 5, device=device))  # odd packed width
    with pytest.raises(ValueError):
        metalcore.swiglu(torch.randn(3, 4, device=device), torch.randn(3, 5, device=device))
    with pytest.raises(TypeError):
        metalcore.swiglu(torch.randn(3, 4, device=device), torch.randn(3, 4, device=device, dtype=torch.float16))
    with pytest.raises(TypeError):
        metalcore.swiglu(torch.ones(3, 4, dtype=torch.int32, device=device))
    if device == "cuda":
        with pytest.raises(ValueError):
            metalcore.swiglu(torch.randn(3, 4, device=device), torch.randn(3, 4))
    x = torch.randn(4, 8, device=device)
    with pytest.raises(ValueError):  # overlapping output rows rejected at the C boundary
        _C.swiglu_forward(x[:, :4], x[:, 4:], torch.empty(4, 8, device=device)[:, :4].as_strided((4, 4), (2, 1)))


def test_opcheck_and_compile():
    """Fake impls and autograd registrations (torch.library.opcheck), and one fullgraph compile of
    all the ops of this family with the aot_eager backend (no codegen, small shapes)."""
    from metalcore import activations as A

    x = torch.randn(3, 8, requires_grad=True)
    torch.library.opcheck(A._act_op.op, (x, 0))
    torch.library.opcheck(A._swiglu_op.op, (x, None))
    torch.library.opcheck(A._swiglu_op.op, (x, torch.randn(3, 8)))

    def f(a, b):
        return metalcore.swiglu(a).sum() + metalcore.metal_gelu(b, approximate="tanh").sum() + metalcore.silu(b).sum()

    a = torch.randn(4, 16, requires_grad=True)
    b = torch.randn(4, 8, requires_grad=True)
    out = torch.compile(f, fullgraph=True, backend="aot_eager")(a, b)
    out.backward()
    a2, b2 = a.detach().requires_grad_(), b.detach().requires_grad_()
    ref = _swiglu_packed_ref(a2).sum() + F.gelu(b2, approximate="tanh").sum() + F.silu(b2).sum()
    ref.backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(a.grad, a2.grad)
    torch.testing.assert_close(b.grad, b2.grad)
