"""torch.func transforms over the fused ops: grad, vmap of grad (per-sample gradients) and jacrev
against the same transforms of the torch reference in float64, and a clear error, never a silent
zero, for a second derivative (the backward kernels have none)."""
import pytest
import torch
import torch.nn.functional as F

import metalcore

# torch's own notices: functorch's use of torch.jit.script, and no batching rule for our backward
# ops (the fallback loops over the batch)
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated",
                                        "ignore:There is a performance drop")

W = torch.rand(8, dtype=torch.float64) + 0.5


def _ops():
    w = W
    return {
        "softmax": (lambda t: metalcore.fused_softmax(t, -1), lambda t: torch.softmax(t, -1)),
        "silu": (metalcore.metal_silu, F.silu),
        "gelu": (lambda t: metalcore.metal_gelu(t, "tanh"), lambda t: F.gelu(t, approximate="tanh")),
        "swiglu": (metalcore.swiglu, lambda t: F.silu(t[..., :4]) * t[..., 4:]),
        "rms_norm": (lambda t: metalcore.rms_norm(t, 8, w.to(t), 1e-6),
                     lambda t: F.rms_norm(t, (8,), w.to(t), 1e-6)),
        # two outputs (the tuple path of the vmap rule), the residual a function of t too
        "add_rmsnorm": (lambda t: torch.cat(metalcore.fused_add_rmsnorm(t, t.flip(-1), w.to(t), 1e-6), -1),
                        lambda t: torch.cat((F.rms_norm(t + t.flip(-1), (8,), w.to(t), 1e-6), t + t.flip(-1)), -1)),
    }


# CPU: the kernels run in float64, so the results match the float64 reference to rounding; CUDA
# kernels are float32 (inputs rounded to it, fp32 arithmetic): a few fp32 ulps of the O(1) values
TOL = {torch.float64: 1e-10, torch.float32: 2e-5}


@pytest.mark.parametrize("name", list(_ops()))
def test_grad_and_per_sample_grad(device, name):
    ours, ref = _ops()[name]
    dt = torch.float64 if device == "cpu" else torch.float32
    x = torch.randn(4, 8, device=device, dtype=torch.float64)
    xb = torch.randn(3, 4, 8, device=device, dtype=torch.float64)
    loss = lambda f: (lambda t: (f(t) ** 2).sum())  # noqa: E731
    got = torch.func.grad(loss(ours))(x.to(dt)).double()
    got_b = torch.func.vmap(torch.func.grad(loss(ours)))(xb.to(dt)).double()
    got_j = torch.func.jacrev(ours)(x.to(dt)).double()
    want = torch.func.grad(loss(ref))(x)
    want_b = torch.func.vmap(torch.func.grad(loss(ref)))(xb)
    want_j = torch.func.jacrev(ref)(x)
    for g, w_ in ((got, want), (got_b, want_b), (got_j, want_j)):
        assert (g - w_).abs().max().item() <= TOL[dt] * max(1.0, w_.abs().max().item())


def test_second_derivative_raises(device):
    x = torch.randn(3, device=device)
    f = lambda t: metalcore.fused_softmax(t, -1).pow(2).sum()  # noqa: E731
    with pytest.raises(NotImplementedError, match="only first derivatives"):
        torch.func.jacrev(torch.func.jacrev(f))(x)
    with pytest.raises(NotImplementedError):  # forward over reverse: no jvp rule
        torch.func.hessian(f)(x)
