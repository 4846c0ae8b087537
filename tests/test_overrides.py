"""enable_pytorch_overrides / disable_pytorch_overrides / get_active_overrides: identity restored,
class replacement, torch's contract kept (values, gradients, keywords, return types), routing by
measured tables, calls not accelerated going to the original unchanged."""
import pytest
import torch
import torch.nn.functional as F

import metalcore
from metalcore import overrides as ov
from helpers import TOL_FLOOR, rel_err

NAMES = {
    "torch.nn.RMSNorm": (torch.nn, "RMSNorm"),
    "torch.optim.AdamW": (torch.optim, "AdamW"),
    "torch.nn.functional.silu": (torch.nn.functional, "silu"),
    "torch.nn.functional.softmax": (torch.nn.functional, "softmax"),
    "torch.nn.functional.embedding_bag": (torch.nn.functional, "embedding_bag"),
    "torch.linalg.svd": (torch.linalg, "svd"),
    "torch.linalg.qr": (torch.linalg, "qr"),
}


@pytest.fixture
def overrides():
    metalcore.enable_pytorch_overrides()
    yield
    metalcore.disable_pytorch_overrides()


def _tol(dtype):
    return 1e-6 if dtype == torch.float32 else 2 * TOL_FLOOR[dtype]


def test_enable_disable_restores_identity():
    before = {n: getattr(o, a) for n, (o, a) in NAMES.items()}
    active = metalcore.enable_pytorch_overrides()
    try:
        assert sorted(active) == sorted(NAMES) == sorted(metalcore.get_active_overrides())
        for n, (o, a) in NAMES.items():
            assert getattr(o, a) is not before[n], n
        # enabling twice keeps one level of patching
        metalcore.enable_pytorch_overrides(linalg=False, optimizers=False)
        assert "torch.linalg.svd" not in metalcore.get_active_overrides()
        assert torch.linalg.svd is before["torch.linalg.svd"] and torch.optim.AdamW is before["torch.optim.AdamW"]
    finally:
        metalcore.disable_pytorch_overrides()
    for n, (o, a) in NAMES.items():
        assert getattr(o, a) is before[n], n
    assert metalcore.get_active_overrides() == []
    metalcore.disable_pytorch_overrides()  # harmless when nothing is active


def test_groups_and_all():
    try:
        got = metalcore.enable_pytorch_overrides(activations=False, embedding_bag=False, normalization=False,
                                                 softmax=False, linalg=False, optimizers=True)
        assert got == ["torch.optim.AdamW"]
        got = metalcore.enable_pytorch_overrides(activations=False, softmax=False, all=True)
        assert sorted(got) == sorted(NAMES)
        with pytest.raises(TypeError):
            metalcore.enable_pytorch_overrides(linalg="yes")
    finally:
        metalcore.disable_pytorch_overrides()


def test_signatures_kept(overrides):
    import inspect
    for n, (o, a) in NAMES.items():
        if n.startswith("torch.nn.functional."):
            assert inspect.signature(getattr(o, a)) == inspect.signature(ov._ORIG[n]), n
    sig = inspect.signature(torch.linalg.svd).parameters
    assert [(p.name, p.kind, p.default) for p in sig.values()] == [
        ("A", inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.empty),
        ("full_matrices", inspect.Parameter.POSITIONAL_OR_KEYWORD, True),
        ("driver", inspect.Parameter.KEYWORD_ONLY, None), ("out", inspect.Parameter.KEYWORD_ONLY, None)]
    assert list(inspect.signature(torch.linalg.qr).parameters) == ["A", "mode", "out"]


# ---- class replacements ----------------------------------------------------------------------

def test_rmsnorm_class_replacement(overrides, device):
    orig_cls = ov._ORIG["torch.nn.RMSNorm"]
    old = orig_cls(16).to(device)  # built before: keeps its class, still an instance
    m = torch.nn.RMSNorm(16, device=device)
    assert isinstance(m, metalcore.MetalRMSNorm) and isinstance(m, orig_cls)
    assert isinstance(old, torch.nn.RMSNorm) and not isinstance(old, metalcore.MetalRMSNorm)
    assert m.eps is None  # torch's default, unlike MetalRMSNorm's 1e-6
    assert metalcore.MetalRMSNorm(16).eps == 1e-6
    with torch.no_grad():
        m.weight.normal_()
        old.weight.copy_(m.weight)
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.randn(3, 5, 16, device=device, dtype=dtype)
        mm, oo = m.to(dtype), old.to(dtype)
        xa = x.clone().requires_grad_()
        xb = x.clone().requires_grad_()
        with ov.force_routing("ours"):
            ya = mm(xa)
        yb = oo(xb)
        g = torch.randn_like(ya)
        ya.backward(g)
        yb.backward(g)
        assert ya.dtype == yb.dtype == dtype
        assert rel_err(ya, yb) <= _tol(dtype) and rel_err(xa.grad, xb.grad) <= 4 * _tol(dtype)
        mm.zero_grad(), oo.zero_grad()
    # multi-dim normalized_shape and elementwise_affine=False
    m2 = torch.nn.RMSNorm([4, 6], eps=1e-5, elementwise_affine=False, device=device)
    x = torch.randn(2, 4, 6, device=device)
    with ov.force_routing("ours"):
        assert rel_err(m2(x), F.rms_norm(x, [4, 6], None, 1e-5)) < 1e-6


def test_adamw_class_replacement(overrides, device):
    torch_adamw = ov._ORIG["torch.optim.AdamW"]
    p = torch.nn.Parameter(torch.randn(10, device=device))
    opt = torch.optim.AdamW([p], lr=0.01)
    assert isinstance(opt, metalcore.MetalAdamW) and isinstance(opt, torch.optim.AdamW)
    # options MetalAdamW does not take build torch's optimizer, unchanged
    for kw in ({"foreach": True}, {"fused": False}, {"differentiable": True}):
        o = torch.optim.AdamW([p], **kw)
        assert type(o) is torch_adamw, kw
    o = torch.optim.AdamW([torch.nn.Parameter(torch.randn(3, dtype=torch.float64, device=device))])
    assert type(o) is torch_adamw
    # a generator of params works either way, and training matches torch's AdamW
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 4).to(device)
    ref = torch.nn.Linear(8, 4).to(device)
    ref.load_state_dict(model.state_dict())
    o1 = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.1, amsgrad=True)
    o2 = torch_adamw(ref.parameters(), lr=0.05, weight_decay=0.1, amsgrad=True)
    assert isinstance(o1, metalcore.MetalAdamW) and len(o1.param_groups[0]["params"]) == 2
    for _ in range(5):
        x = torch.randn(16, 8, device=device)
        for mdl, o in ((model, o1), (ref, o2)):
            o.zero_grad()
            mdl(x).square().mean().backward()
            o.step()
    for a, b in zip(model.parameters(), ref.parameters()):
        assert rel_err(a, b) < 1e-5


# ---- function overrides: same results and gradients as torch --------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("shape", [(7,), (3, 129), (2, 3, 1000)])
def test_silu(overrides, device, dtype, shape):
    x = torch.randn(shape, device=device, dtype=dtype)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    with ov.force_routing("ours"):
        ya = F.silu(xa)
        ya_mod = torch.nn.SiLU()(x)
    yb = ov._ORIG["torch.nn.functional.silu"](xb)
    g = torch.randn_like(ya)
    ya.backward(g)
    yb.backward(g)
    assert rel_err(ya, yb) <= _tol(dtype) and rel_err(ya_mod, yb) <= _tol(dtype)
    assert rel_err(xa.grad, xb.grad) <= 4 * _tol(dtype)
    # inplace honoured: the same tensor comes back, holding the result
    xi = x.clone()
    with ov.force_routing("ours"):
        r = F.silu(xi, inplace=True)
    assert r is xi and rel_err(xi, yb) <= _tol(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("dim", [-1, 0, 1])
@pytest.mark.parametrize("out_dtype", [None, torch.float32])
def test_softmax(overrides, device, dtype, dim, out_dtype):
    x = torch.randn(5, 33, 4, device=device, dtype=dtype) * 3
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    with ov.force_routing("ours"):
        ya = F.softmax(xa, dim=dim, dtype=out_dtype)
    yb = ov._ORIG["torch.nn.functional.softmax"](xb, dim=dim, dtype=out_dtype)
    assert ya.dtype == yb.dtype
    g = torch.randn_like(ya)
    ya.backward(g)
    yb.backward(g)
    t = _tol(ya.dtype if out_dtype is None else dtype)
    assert rel_err(ya, yb) <= t and rel_err(xa.grad, xb.grad) <= 4 * t


def test_softmax_dim_none_goes_to_torch(overrides):
    x = torch.randn(3, 4)
    with ov.force_routing("ours"), pytest.warns(UserWarning, match="dim"):
        y = F.softmax(x)
    assert torch.equal(y, ov._ORIG["torch.nn.functional.softmax"](x, dim=1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_embedding_bag_sum(overrides, device, dtype):
    w = torch.randn(50, 16, device=device, dtype=dtype)
    idx = torch.randint(0, 50, (40,), device=device)
    off = torch.tensor([0, 3, 3, 10, 25], device=device)
    psw = torch.randn(40, device=device, dtype=dtype)
    # (include_last_offset with a last offset short of the end trips a torch CPU bug: garbage in
    # the weight gradient; ours is right. Compared here with the usual last offset = len(idx).)
    off_last = torch.cat((off, off.new_tensor([40])))
    for kw in ({}, {"per_sample_weights": psw}, {"include_last_offset": True}, {"padding_idx": 7}):
        o = off_last if kw.get("include_last_offset") else off
        wa, wb = w.clone().requires_grad_(), w.clone().requires_grad_()
        with ov.force_routing("ours"):
            ya = F.embedding_bag(idx, wa, o, mode="sum", **kw)
        yb = ov._ORIG["torch.nn.functional.embedding_bag"](idx, wb, o, mode="sum", **kw)
        g = torch.randn_like(ya)
        ya.backward(g)
        yb.backward(g)
        assert rel_err(ya, yb) <= 4 * _tol(dtype) and rel_err(wa.grad, wb.grad) <= 4 * _tol(dtype), kw
    # nn.EmbeddingBag goes through F.embedding_bag
    bag = torch.nn.EmbeddingBag(50, 16, mode="sum", device=device, dtype=dtype)
    with ov.force_routing("ours"):
        assert rel_err(bag(idx, off), ov._ORIG["torch.nn.functional.embedding_bag"](
            idx, bag.weight, off, mode="sum")) <= 4 * _tol(dtype)


def _spy(monkeypatch, name):
    calls = []
    orig = ov._ORIG[name]

    def spy(*a, **k):
        calls.append((a, k))
        return orig(*a, **k)

    monkeypatch.setitem(ov._ORIG, name, spy)
    return calls


def test_not_accelerated_goes_to_original(overrides, monkeypatch):
    calls = _spy(monkeypatch, "torch.nn.functional.embedding_bag")
    w = torch.randn(10, 4)
    idx = torch.tensor([1, 2, 3, 4])
    off = torch.tensor([0, 2])
    with ov.force_routing("ours"):
        F.embedding_bag(idx, w, off, mode="mean")
        F.embedding_bag(idx, w, off, mode="max")
        F.embedding_bag(idx, w, off, mode="sum", max_norm=1.0)
        assert len(calls) == 3
        F.embedding_bag(idx, w, off, mode="sum")
        assert len(calls) == 3
    calls = _spy(monkeypatch, "torch.nn.functional.silu")
    with ov.force_routing("ours"), pytest.raises(NotImplementedError):
        F.silu(torch.arange(4))  # integer: torch's, which raises exactly as torch does
    assert len(calls) == 1
    with ov.force_routing("torch"):
        F.silu(torch.randn(4))
    assert len(calls) == 2


# ---- routing by the measured tables -----------------------------------------------------------

def test_rule_routes_only_inside_faster_cells():
    from metalcore.routing import Rule
    pts = [[r, n, 1.0, 2.0 if (r, n) != (100, 1000) else 0.5] for r in (1, 10, 100) for n in (10, 100, 1000)]
    rule = Rule(pts, 0.95)
    assert rule.routes((5, 50)) and rule.routes((10, 100)) and rule.routes((1, 10))
    assert not rule.routes((50, 500))  # a slower corner
    assert rule.routes((50, 50))
    assert not rule.routes((0, 50)) and not rule.routes((5, 2000))  # outside what was measured
    assert not rule.routes((5,))


def test_routing_table_decides(overrides, monkeypatch):
    kind = metalcore.routing.device_kind(torch.device("cpu"))
    calls = _spy(monkeypatch, "torch.nn.functional.silu")
    try:
        ov.set_routing_table(kind, {"ops": {"silu": {"float32": [[1, 1.0, 2.0], [1 << 20, 1.0, 2.0]]}}})
        F.silu(torch.randn(100))
        assert calls == []  # measured faster: ours
        F.silu(torch.randn(100, dtype=torch.float64))  # dtype not measured: torch
        F.silu(torch.randn(1 << 21))  # beyond the measured sizes: torch
        assert len(calls) == 2
        ov.set_routing_table(kind, {"ops": {"silu": {"float32": [[1, 3.0, 2.0], [1 << 20, 1.0, 2.0]]}}})
        F.silu(torch.randn(100))
        assert len(calls) == 3  # a slower corner: torch
        ov.set_routing_table(kind, {})
        F.silu(torch.randn(100))
        assert len(calls) == 4  # no table: torch
    finally:
        ov.set_routing_table(kind, None)


def test_committed_tables_load():
    import glob
    import json
    import os
    from metalcore import routing
    files = glob.glob(os.path.join(routing.HERE, "*.json"))
    assert files, "no routing table committed"
    for f in files:
        with open(f) as fh:
            data = json.load(fh)
        t = routing.Table(os.path.basename(f)[:-5], data)
        assert data["ops"] and t.rules, f
        for (op, dt), rule in t.rules.items():
            assert op in ("silu", "softmax", "embedding_bag", "rms_norm", "svd", "qr") and rule.grid, (f, op)


# ---- linalg: torch's contract around metalcore.svd / metalcore.qr ------------------------------

def _fake_svd(A, full_matrices=False):
    U, S, Vh = ov._ORIG["torch.linalg.svd"](A, full_matrices=full_matrices)
    return U, S, Vh.mT


def _fake_qr(A, mode="reduced"):
    Q, R = ov._ORIG["torch.linalg.qr"](A, mode=mode)
    return R if mode == "r" else (Q, R)


@pytest.mark.parametrize("with_ours", ["fake", "real"])
def test_linalg_contract(overrides, monkeypatch, device, with_ours):
    if with_ours == "real" and not (hasattr(metalcore, "svd") and hasattr(metalcore, "qr")):
        pytest.skip("metalcore.svd / metalcore.qr are not in this build")
    if with_ours == "fake":  # the wrapper's conversions, independent of the kernels
        monkeypatch.setattr(metalcore, "svd", _fake_svd, raising=False)
        monkeypatch.setattr(metalcore, "qr", _fake_qr, raising=False)
    for shape in ((6, 4), (3, 4, 7), (2, 5, 5)):
        A = torch.randn(shape, device=device, dtype=torch.float64)
        for full in (True, False):
            with ov.force_routing("ours"):
                r = torch.linalg.svd(A, full_matrices=full)
            ref = ov._ORIG["torch.linalg.svd"](A, full_matrices=full)
            assert type(r) is type(ref) and r.U.shape == ref.U.shape and r.Vh.shape == ref.Vh.shape
            k = min(shape[-2:])
            recon = r.U[..., :k] * r.S.unsqueeze(-2) @ r.Vh[..., :k, :]
            assert rel_err(recon, A) < 1e-10 and rel_err(r.S, ref.S) < 1e-10
            eye_u = torch.eye(r.U.shape[-1], device=device, dtype=A.dtype)
            assert rel_err(r.U.mT @ r.U, eye_u) < 1e-10
        for mode in ("reduced", "complete", "r"):
            with ov.force_routing("ours"):
                r = torch.linalg.qr(A, mode=mode)
            ref = ov._ORIG["torch.linalg.qr"](A, mode=mode)
            assert type(r) is type(ref) and r.Q.shape == ref.Q.shape and r.R.shape == ref.R.shape
            if mode != "r":
                assert rel_err(r.Q @ r.R, A) < 1e-10
            assert rel_err(r.R.abs(), ref.R.abs()) < 1e-8


def test_linalg_out_driver_grad_go_to_original(overrides, monkeypatch):
    svd_calls = _spy(monkeypatch, "torch.linalg.svd")
    qr_calls = _spy(monkeypatch, "torch.linalg.qr")
    used = []
    monkeypatch.setattr(metalcore, "svd", lambda *a, **k: used.append(1) or _fake_svd(*a, **k), raising=False)
    monkeypatch.setattr(metalcore, "qr", lambda *a, **k: used.append(1) or _fake_qr(*a, **k), raising=False)
    A = torch.randn(5, 3, dtype=torch.float64)
    with ov.force_routing("ours"):
        out = (torch.empty(0, dtype=A.dtype), torch.empty(0, dtype=A.dtype), torch.empty(0, dtype=A.dtype))
        torch.linalg.svd(A, out=out)
        assert rel_err(out[1], ov._ORIG["torch.linalg.svd"](A).S) < 1e-12
        Ag = A.clone().requires_grad_()
        U, S, Vh = torch.linalg.svd(Ag, full_matrices=False)
        S.sum().backward()  # autograd intact: torch's own
        assert Ag.grad is not None
        torch.linalg.svd(A.to(torch.complex128))
        Qo, Ro = torch.empty(0, dtype=A.dtype), torch.empty(0, dtype=A.dtype)
        torch.linalg.qr(A, out=(Qo, Ro))
        assert rel_err(Qo @ Ro, A) < 1e-12
    n_svd_orig = len(svd_calls)
    assert used == [] and n_svd_orig >= 3 and len(qr_calls) == 1
    with ov.force_routing("ours"):
        torch.linalg.svd(A)
        torch.linalg.qr(A)
    assert used == [1, 1]


def test_routed_linalg_does_not_reenter_the_override(device):
    """metalcore.svd/qr hand large matrices to torch.linalg; with the overrides on, that must be
    torch's original function, not the override (which would recurse)."""
    A = torch.randn(2, 600, 600, device=device, dtype=torch.float64)
    metalcore.enable_pytorch_overrides(all=True)
    try:
        U, S, Vh = torch.linalg.svd(A)
        Q, R = torch.linalg.qr(A)
        U2, S2, V2 = metalcore.svd(A)
    finally:
        metalcore.disable_pytorch_overrides()
    scale = A.abs().max().item()
    assert (U @ torch.diag_embed(S) @ Vh - A).abs().max().item() <= 1e-10 * scale * 600
    assert (Q @ R - A).abs().max().item() <= 1e-10 * scale * 600
    assert (U2 @ torch.diag_embed(S2) @ V2.mT - A).abs().max().item() <= 1e-10 * scale * 600
