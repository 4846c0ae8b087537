"""fused_swiglu_mlp: values and gradients of every argument against float64 autograd of the unfused
formula, on every device; what backward keeps; tracing; bad input."""
import pytest
import torch
import torch.nn.functional as F

import metalcore
from helpers import TOL_FLOOR, rel_err

ARGS = ["x", "gate", "up", "down", "gA", "gB", "uA", "uB", "dA", "dB", "rms_w", "residual"]


def unfused(x, wg, wu, wd, gA=None, gB=None, uA=None, uB=None, dA=None, dB=None, rms_w=None, eps=1e-6,
            residual=None, scale=1.0):
    """The formula of API.md, written out in plain torch ops."""
    if rms_w is not None:
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        xn = (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * rms_w).to(x.dtype)
    else:
        xn = x

    def proj(inp, w, a, b):
        y = inp @ w.t()
        if a is not None:
            y = y + scale * ((inp @ a.t()) @ b.t())
        return y

    h = F.silu(proj(xn, wg, gA, gB)) * proj(xn, wu, uA, uB)
    return (residual if residual is not None else x) + proj(h, wd, dA, dB)


def make(shape_x, d, i, r, lora, rms, resid, dtype, device):
    def t(*s, scale=1.0):
        return (torch.randn(*s, dtype=torch.float64) * scale).to(device=device, dtype=dtype)

    vals = {"x": t(*shape_x, d), "gate": t(i, d, scale=d ** -0.5), "up": t(i, d, scale=d ** -0.5),
            "down": t(d, i, scale=i ** -0.5)}
    for p, (fin, fout) in (("g", (d, i)), ("u", (d, i)), ("d", (i, d))):
        on = p in lora
        vals[p + "A"] = t(r, fin, scale=fin ** -0.5) if on else None
        vals[p + "B"] = t(fout, r, scale=0.5) if on else None
    vals["rms_w"] = (1 + 0.3 * torch.randn(d, dtype=torch.float64)).to(device=device, dtype=dtype) if rms else None
    vals["residual"] = t(*shape_x, d) if resid else None
    return vals


def call_ours(v, scale):
    return metalcore.fused_swiglu_mlp(v["x"], v["gate"], v["up"], v["down"], v["gA"], v["gB"], v["uA"], v["uB"],
                                      v["dA"], v["dB"], rms_weight=v["rms_w"], rms_eps=1e-5, residual=v["residual"],
                                      lora_scale=scale)


def call_ref(v, scale):
    return unfused(v["x"], v["gate"], v["up"], v["down"], v["gA"], v["gB"], v["uA"], v["uB"], v["dA"], v["dB"],
                   v["rms_w"], 1e-5, v["residual"], scale)


def run(v, fn, gout, scale):
    leaves = {k: (t.detach().clone().requires_grad_() if t is not None else None) for k, t in v.items()}
    out = fn(leaves, scale)
    out.backward(gout)
    return out.detach(), {k: t.grad for k, t in leaves.items() if t is not None}


CASES = [
    # shape of x without the feature dim, D, I, r, LoRA on, RMSNorm prologue, explicit residual, lora_scale
    ((7,), 16, 24, 4, "", False, False, 1.0),
    ((2, 5), 12, 40, 3, "gud", True, False, 0.5),
    ((3, 1), 16, 37, 2, "gd", False, True, 2.0),
    ((1,), 8, 8, 1, "u", True, True, 1.0),
    ((4, 3), 24, 30, 8, "gud", True, True, 0.25),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}x{c[2]}-lora{c[4] or 'none'}-rms{int(c[5])}-res{int(c[6])}")
def test_values_and_gradients(device, dtype, case):
    shape, d, i, r, lora, rms, resid, scale = case
    v = make(shape, d, i, r, lora, rms, resid, dtype, device)
    gout = torch.randn(*shape, d, dtype=torch.float64).to(device=device, dtype=dtype)
    out, grads = run(v, call_ours, gout, scale)
    v64 = {k: (t.double().cpu() if t is not None else None) for k, t in v.items()}
    ref, rgrads = run(v64, call_ref, gout.double().cpu(), scale)
    assert out.dtype == dtype and out.shape == ref.shape
    assert set(grads) == set(rgrads) and len(grads) == sum(t is not None for t in v.values())
    if dtype == torch.float32:
        assert rel_err(out, ref) < 2e-5
        for k in rgrads:
            assert rel_err(grads[k], rgrads[k]) < 5e-5, k
    else:
        # our error against fp64 at most twice that of the unfused formula run by torch in bf16
        same, sgrads = run(v, call_ref, gout, scale)
        tol = lambda e: max(2 * e, 2 * TOL_FLOOR[dtype])  # noqa: E731
        assert rel_err(out, ref) <= tol(rel_err(same, ref))
        for k in rgrads:
            assert rel_err(grads[k], rgrads[k]) <= tol(rel_err(sgrads[k], rgrads[k])), k


def test_float64_exact(device):
    v = make((5,), 12, 20, 3, "gud", True, False, torch.float64, device)
    gout = torch.randn(5, 12, dtype=torch.float64, device=device)
    out, grads = run(v, call_ours, gout, 0.7)
    ref, rgrads = run(v, call_ref, gout, 0.7)
    assert rel_err(out, ref) < 1e-12
    for k in rgrads:
        assert rel_err(grads[k], rgrads[k]) < 1e-11, k


def test_packed_gate_up_and_partial_grads(device):
    """gate/up as the halves of one [2I, D] weight (one GEMM), only some arguments needing grads,
    a non-contiguous input, and LoRA A/B kept in float32 beside float32 activations."""
    d, i = 16, 20
    gu = torch.randn(2 * i, d, device=device, dtype=torch.float64).mul_(0.25)
    wd = torch.randn(d, i, device=device, dtype=torch.float64).mul_(0.25)
    x = torch.randn(d, 6, device=device, dtype=torch.float64).t()  # non-contiguous
    gu_ = gu.clone().requires_grad_()
    x_ = x.clone().requires_grad_()
    out = metalcore.fused_swiglu_mlp(x_.t().contiguous().t(), gu_[:i], gu_[i:], wd)
    g = torch.randn_like(out)
    out.backward(g)
    gu2 = gu.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    ref = unfused(x2, gu2[:i], gu2[i:], wd)
    ref.backward(g)
    assert rel_err(out, ref) < 1e-12
    assert rel_err(gu_.grad, gu2.grad) < 1e-11 and rel_err(x_.grad, x2.grad) < 1e-11


def test_saves_little_for_backward():
    """Backward keeps x, the packed gate/up pre-activations and the (T, r) LoRA terms; never h,
    silu(g) or a normed copy of x."""
    t, d, i, r = 64, 32, 96, 4
    v = make((t,), d, i, r, "gud", True, False, torch.float32, "cpu")
    leaves = {k: (x.requires_grad_() if x is not None else None) for k, x in v.items()}
    saved = {}

    def pack(x):
        if x.numel() >= t:  # activations (weights are parameters the caller holds anyway)
            saved[x.untyped_storage().data_ptr()] = x.untyped_storage().nbytes()
        return x

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda x: x):
        call_ours(leaves, 1.0)
    params = {leaves[k].untyped_storage().data_ptr() for k in leaves if leaves[k] is not None and k != "x"}
    act = sum(n for p, n in saved.items() if p not in params)
    budget = 4 * (t * d + 2 * t * i + t + 3 * t * r)
    assert act <= budget, (act, budget)


def test_second_backward_raises():
    v = make((4,), 8, 12, 2, "", False, False, torch.float32, "cpu")
    x = v["x"].requires_grad_()
    out = metalcore.fused_swiglu_mlp(x, v["gate"], v["up"], v["down"])
    out.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_compile_fullgraph(device):
    v = make((2, 3), 16, 24, 4, "gud", True, False, torch.float32, device)
    gout = torch.randn(2, 3, 16, device=device)
    eager, eg = run(v, call_ours, gout, 0.5)
    f = torch.compile(lambda vv, s: call_ours(vv, s), fullgraph=True, backend="aot_eager")
    comp, cg = run(v, f, gout, 0.5)
    assert rel_err(comp, eager) < 1e-6
    for k in eg:
        assert rel_err(cg[k], eg[k]) < 1e-6, k


def test_no_grad_and_empty(device):
    v = make((0,), 8, 12, 2, "g", True, False, torch.float32, device)
    assert call_ours(v, 1.0).shape == (0, 8)
    v = make((3,), 8, 12, 2, "g", True, False, torch.float32, device)
    with torch.no_grad():
        out = call_ours(v, 1.0)
    assert rel_err(out, call_ref(v, 1.0)) < 2e-5


def test_bad_input():
    v = make((3,), 8, 12, 2, "", False, False, torch.float32, "cpu")
    x, g, u, dn = v["x"], v["gate"], v["up"], v["down"]
    with pytest.raises(ValueError, match="gate_proj"):
        metalcore.fused_swiglu_mlp(x, g[:, :4], u, dn)
    with pytest.raises(ValueError, match="down_proj"):
        metalcore.fused_swiglu_mlp(x, g, u, dn[:, :5])
    with pytest.raises(TypeError, match="dtype"):
        metalcore.fused_swiglu_mlp(x, g.double(), u, dn)
    with pytest.raises(ValueError, match="together"):
        metalcore.fused_swiglu_mlp(x, g, u, dn, lora_gate_A=torch.randn(2, 8))
    with pytest.raises(ValueError, match="lora_up_A"):
        metalcore.fused_swiglu_mlp(x, g, u, dn, lora_up_A=torch.randn(2, 7), lora_up_B=torch.randn(12, 2))
    with pytest.raises(ValueError, match="rms_weight"):
        metalcore.fused_swiglu_mlp(x, g, u, dn, rms_weight=torch.ones(7))
    with pytest.raises(ValueError, match="residual"):
        metalcore.fused_swiglu_mlp(x, g, u, dn, residual=torch.randn(3, 7))
    with pytest.raises(TypeError, match="Tensor"):
        metalcore.fused_swiglu_mlp([1.0], g, u, dn)
