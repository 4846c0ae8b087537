"""MetalAdamW against torch.optim.AdamW: float64 references, every option combination, AMP skip,
state_dict round trips, many/misaligned tensors, DTensor shards, CUDA graph capture."""
import copy
import itertools
import os
import socket
import tempfile

import pytest
import torch
from helpers import EPS

import metalcore
from metalcore import MetalAdamW

SHAPES = [(1,), (7,), (1031,), (3, 5, 7), (40961,)]  # odd sizes; 40961 spans 3 chunks of 16384


def make_params(device, dtype, shapes=SHAPES):
    return [torch.nn.Parameter(torch.randn(s, dtype=torch.float64).to(device=device, dtype=dtype)) for s in shapes]


def two_groups(params, lr, **kw):
    h = len(params) // 2
    return [{"params": params[:h], "lr": lr, "weight_decay": kw.get("weight_decay", 1e-2)},
            {"params": params[h:], "lr": lr * 0.5,
             "betas": (0.8, 0.99), "eps": 1e-6}]


def rel(a, b):
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


@pytest.mark.parametrize("amsgrad,maximize,wd,capturable,lr_tensor",
                         list(itertools.product([False, True], [False, True], [0.0, 0.1], [False, True], [False, True])))
def test_fp32_matches_float64_reference(device, amsgrad, maximize, wd, capturable, lr_tensor):
    """100 steps: our fp32 params and state match torch.optim.AdamW(foreach=False) run in float64
    within fp32 rounding: error at most twice that of torch's own fp32 run, plus a few ulps."""
    base = make_params("cpu", torch.float64)
    runs = {}
    for name, dt, cls in [("ours", torch.float32, MetalAdamW), ("t32", torch.float32, torch.optim.AdamW),
                          ("t64", torch.float64, torch.optim.AdamW)]:
        dev = device if name == "ours" else "cpu"
        ps = [torch.nn.Parameter(b.detach().to(dev, dt).clone()) for b in base]
        lr = torch.tensor(2e-3, device=dev if capturable else "cpu") if lr_tensor else 2e-3
        kw = dict(amsgrad=amsgrad, maximize=maximize, weight_decay=wd)
        if cls is torch.optim.AdamW:
            kw["foreach"] = False
            if lr_tensor:
                lr = 2e-3  # torch's single-tensor path wants a float; the value is identical
        else:
            kw["capturable"] = capturable
        opt = cls(two_groups(ps, lr, weight_decay=wd), lr=lr, **kw)
        runs[name] = (ps, opt)
    gen = torch.Generator().manual_seed(7)
    for step in range(100):
        grads = [torch.randn(b.shape, generator=gen, dtype=torch.float64) * (1 + step % 3) for b in base]
        for ps, opt in runs.values():
            for p, g in zip(ps, grads):
                p.grad = g.to(p.device, p.dtype)
            opt.step()
    ours, t32, t64 = (runs[k][0] for k in ("ours", "t32", "t64"))
    for po, p32, p64 in zip(ours, t32, t64):
        e_ours, e_t32 = rel(po, p64), rel(p32, p64)
        assert e_ours <= 2 * e_t32 + 8 * EPS[torch.float32], (e_ours, e_t32)
        so, s64 = runs["ours"][1].state[po], runs["t64"][1].state[p64]
        assert float(so["step"]) == float(s64["step"]) == 100.0
        keys = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if amsgrad else [])
        for k in keys:
            assert so[k].dtype == torch.float32
            assert rel(so[k], s64[k]) <= 64 * EPS[torch.float32], k


def _ref_step(p64, st, group, grad64):
    """One float64 torch.optim.AdamW step from the given state (copied)."""
    p = torch.nn.Parameter(p64.clone())
    opt = torch.optim.AdamW([p], lr=group["lr"], betas=group["betas"], eps=group["eps"],
                            weight_decay=group["weight_decay"], amsgrad=group["amsgrad"],
                            maximize=group["maximize"], foreach=False)
    opt.state[p] = {"step": torch.tensor(float(st["step"])),
                    **{k: st[k].detach().double().cpu().clone() for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if k in st}}
    p.grad = grad64
    opt.step()
    return p.detach(), opt.state[p]


@pytest.mark.parametrize("dtype,master", [(torch.float32, False), (torch.bfloat16, False), (torch.float16, False),
                                          (torch.bfloat16, True), (torch.float16, True)])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_each_step_within_dtype_rounding(device, dtype, master, amsgrad):
    """Every one of 100 steps lands within one rounding of the dtype of the float64 update of our own
    previous state (fp32: 2 ulps for the fp32 arithmetic); with master weights the fp32 master
    follows the float64 update within fp32 rounding and the param is exactly the master rounded."""
    ps = make_params(device, dtype, [(7,), (1031,), (40961,)])
    opt = MetalAdamW(ps, lr=1e-2, weight_decay=0.1, amsgrad=amsgrad, master_weights=master)
    gen = torch.Generator().manual_seed(3)
    grads = [torch.randn(p.shape, generator=gen, dtype=torch.float64) for p in ps]
    for p, g in zip(ps, grads):
        p.grad = g.to(device, dtype)
    opt.step()  # initialises the state
    ulp = EPS[dtype] if not master else EPS[torch.float32]
    for step in range(100):
        grads = [torch.randn(p.shape, generator=gen, dtype=torch.float64) for p in ps]
        before = []
        for p, g in zip(ps, grads):
            p.grad = g.to(device, dtype)
            st = opt.state[p]
            src = st["master_param"] if master else p
            before.append((src.detach().double().cpu(), {k: (v.clone() if torch.is_tensor(v) else v) for k, v in st.items()},
                           p.grad.detach().double().cpu()))
        opt.step()
        for p, (p64, st, g64) in zip(ps, before):
            ref, rst = _ref_step(p64, st, opt.param_groups[0], g64)
            got = opt.state[p]["master_param"] if master else p
            err = (got.detach().double().cpu() - ref).abs()
            # one rounding of the result (half an ulp) plus the fp32 arithmetic of the update; near
            # zero the spacing of the subnormals (fp16: 2^-24) is the rounding unit
            tdt = torch.float32 if master else dtype
            tol = 2 * ulp * ref.abs() + torch.finfo(tdt).tiny * EPS[tdt]
            assert bool((err <= tol).all()), (step, (err / tol).max().item())
            if master:
                assert torch.equal(p.detach(), opt.state[p]["master_param"].to(dtype))
            for k in ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ()):
                assert rel(opt.state[p][k], rst[k]) <= 16 * EPS[torch.float32], k
            assert float(opt.state[p]["step"]) == step + 2


def test_grad_scaler_skips_inf_steps(device):
    """GradScaler hands grad_scale/found_inf to the optimizer; a step with an inf gradient leaves
    params, moments and the step count untouched; otherwise we track torch.optim.AdamW under the
    same scaler (which unscales and skips on the host)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(13, 31), torch.nn.Tanh(), torch.nn.Linear(31, 5)).to(device)
    ref = copy.deepcopy(model)
    opt = MetalAdamW(model.parameters(), lr=1e-2)
    ropt = torch.optim.AdamW(ref.parameters(), lr=1e-2, foreach=False)
    assert opt._step_supports_amp_scaling
    scalers = [torch.amp.GradScaler(device, init_scale=2.0**12, growth_interval=3) for _ in range(2)]
    planted = {4, 9, 10}
    for step in range(16):
        x = torch.randn(8, 13, device=device)
        for m, o, sc in ((model, opt, scalers[0]), (ref, ropt, scalers[1])):
            o.zero_grad()
            sc.scale(m(x).square().mean()).backward()
            if step in planted:
                m[0].weight.grad[1, 2] = float("inf")
            snap = [p.detach().clone() for p in m.parameters()]
            st_snap = copy.deepcopy(o.state_dict()["state"]) if o is opt else None
            sc.step(o)
            sc.update()
            if step in planted:
                assert all(torch.equal(a, p) for a, p in zip(snap, m.parameters()))
                if o is opt and st_snap:
                    for i, s in o.state_dict()["state"].items():
                        for k in s:
                            assert torch.equal(s[k], st_snap[i][k]), k
        for p, r in zip(model.parameters(), ref.parameters()):
            assert rel(p, r) <= 1e-5, step
    n_ok = 16 - len(planted)
    assert all(float(s["step"]) == n_ok for s in opt.state.values())


@pytest.mark.parametrize("amsgrad", [False, True])
def test_state_dict_round_trips(device, amsgrad):
    """ours -> torch.optim.AdamW -> ours: each continues training identically (within fp32
    rounding) to an uninterrupted run."""
    torch.manual_seed(1)
    ps = make_params(device, torch.float32, [(5, 3), (1031,)])
    gens = [torch.randn((30,) + p.shape, device=device) for p in ps]

    def train(opt, params, steps):
        for s in steps:
            for p, g in zip(params, gens):
                p.grad = g[s].clone()
            opt.step()

    base = [torch.nn.Parameter(p.detach().clone()) for p in ps]
    ref_opt = MetalAdamW(base, lr=3e-3, amsgrad=amsgrad, weight_decay=0.05)
    train(ref_opt, base, range(30))

    a = [torch.nn.Parameter(p.detach().clone()) for p in ps]
    oa = MetalAdamW(a, lr=3e-3, amsgrad=amsgrad, weight_decay=0.05)
    train(oa, a, range(10))
    ot = torch.optim.AdamW(a, lr=1.0, amsgrad=not amsgrad)  # options come from the state dict
    ot.load_state_dict(copy.deepcopy(oa.state_dict()))
    assert ot.param_groups[0]["amsgrad"] == amsgrad and ot.param_groups[0]["lr"] == 3e-3
    assert set(ot.state[a[0]].keys()) == {"step", "exp_avg", "exp_avg_sq"} | ({"max_exp_avg_sq"} if amsgrad else set())
    train(ot, a, range(10, 20))
    ob = MetalAdamW(a, lr=1.0)
    ob.load_state_dict(copy.deepcopy(ot.state_dict()))
    train(ob, a, range(20, 30))
    for p, r in zip(a, base):
        assert rel(p, r) <= 1e-5
    assert all(float(s["step"]) == 30 for s in ob.state.values())


def test_options_and_bad_input(device):
    p = torch.nn.Parameter(torch.randn(4, device=device))
    for kw in (dict(differentiable=True), dict(fused=False), dict(foreach=True), dict(lr=-1.0),
               dict(betas=(1.0, 0.9)), dict(eps=-1.0), dict(weight_decay=-0.1)):
        with pytest.raises((RuntimeError, ValueError)):
            MetalAdamW([p], **kw)
    MetalAdamW([p], fused=True, foreach=False)  # accepted: we are always fused
    with pytest.raises(TypeError):
        MetalAdamW([torch.nn.Parameter(torch.randn(3, dtype=torch.float64, device=device))])
    with pytest.raises(ValueError, match="contiguous"):
        MetalAdamW([torch.nn.Parameter(torch.randn(3, 4, device=device).t())])
    # sparse gradient
    e = torch.nn.Embedding(10, 3, sparse=True).to(device)
    opt = MetalAdamW(e.parameters())
    e(torch.tensor([1, 2], device=device)).sum().backward()
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()
    # non-contiguous gradient
    q = torch.nn.Parameter(torch.randn(3, 3, device=device))
    opt = MetalAdamW([q])
    q.grad = torch.randn(3, 3, device=device).t()
    with pytest.raises(ValueError, match="contiguous"):
        opt.step()


def test_params_without_grad_are_skipped_and_set_changes(device):
    ps = make_params(device, torch.float32, [(3,), (4,), (5,)])
    opt = MetalAdamW(ps, lr=0.1)
    ps[0].grad = torch.ones(3, device=device)
    ps[2].grad = torch.ones(5, device=device)
    keep = ps[1].detach().clone()
    opt.step()
    assert torch.equal(ps[1], keep) and len(opt.state[ps[1]]) == 0
    ps[1].grad = torch.ones(4, device=device)
    ps[0].grad = None
    keep0 = ps[0].detach().clone()
    opt.step()  # plan rebuilt: a different set of params has grads
    assert torch.equal(ps[0], keep0) and not torch.equal(ps[1], keep)
    assert [float(opt.state[p]["step"]) for p in ps] == [1.0, 1.0, 2.0]
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2, device=device))], "lr": 1.0})
    opt.param_groups[1]["params"][0].grad = torch.ones(2, device=device)
    opt.step()
    # sign(grad) step of lr after bias correction on the first step (weight decay of zeros is 0)
    assert torch.allclose(opt.param_groups[1]["params"][0], torch.full((2,), -1.0, device=device), atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_many_misaligned_tensors(device, dtype):
    """300 tensors of awkward sizes, half of them views at an odd offset (scalar path) and with
    misaligned gradients, across 3 groups: each matches a torch.optim.AdamW on its own."""
    torch.manual_seed(5)
    sizes = [1 + (i * 97) % 700 for i in range(300)]
    base = torch.randn(sum(sizes) + 300, device=device).to(dtype)
    ps, off = [], 0
    for i, n in enumerate(sizes):
        t = base[off + 1: off + 1 + n] if i % 2 else torch.randn(n, device=device).to(dtype)
        ps.append(torch.nn.Parameter(t))
        off += n + 1
    ref = [torch.nn.Parameter(p.detach().float().cpu().double().clone()) for p in ps]
    mk = lambda params, cls, **kw: cls([{"params": params[0::3]}, {"params": params[1::3], "lr": 2e-3},
                                        {"params": params[2::3], "weight_decay": 0.0}], lr=1e-3, **kw)
    opt, ropt = mk(ps, MetalAdamW, master_weights=True), mk(ref, torch.optim.AdamW, foreach=False)
    for _ in range(3):
        gbase = torch.randn(sum(sizes) + 300, dtype=torch.float64)
        off = 0
        for i, (p, r) in enumerate(zip(ps, ref)):
            g = gbase[off + 1: off + 1 + p.numel()]
            p.grad = g.to(device, dtype)
            if i % 2:  # a misaligned contiguous view as the gradient
                gb = torch.empty(p.numel() + 1, device=device, dtype=dtype)
                gb[1:] = p.grad
                p.grad = gb[1:]
            r.grad = p.grad.detach().double().cpu()
            off += p.numel() + 1
        opt.step()
        ropt.step()
    for p, r in zip(ps, ref):
        assert (opt.state[p]["master_param"].double().cpu() - r).abs().max() <= 1e-5 * max(1.0, r.abs().max()) \
            if dtype != torch.float32 else rel(p, r) <= 1e-5


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_dtensor_params_on_local_shards():
    """FSDP2-style DTensor params (single-process gloo mesh on the CPU) are stepped on their local
    shards, with DTensor state, and match plain tensors."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Shard, distribute_tensor

    if not dist.is_initialized():
        dist.init_process_group("gloo", world_size=1, rank=0, init_method=f"tcp://127.0.0.1:{_free_port()}")
    try:
        mesh = init_device_mesh("cpu", (1,))
        plain = make_params("cpu", torch.float32, [(6, 4), (9,)])
        dps = [torch.nn.Parameter(distribute_tensor(p.detach().clone(), mesh, [Shard(0)])) for p in plain]
        o1, o2 = MetalAdamW(dps, lr=1e-2), MetalAdamW(plain, lr=1e-2)
        for _ in range(5):
            for d, p in zip(dps, plain):
                g = torch.randn(p.shape)
                p.grad = g.clone()
                d.grad = distribute_tensor(g, mesh, [Shard(0)])
            o1.step()
            o2.step()
        for d, p in zip(dps, plain):
            assert isinstance(d.data, DTensor) or isinstance(d, DTensor)
            assert torch.equal(d.full_tensor(), p.detach())
            assert isinstance(o1.state[d]["exp_avg"], DTensor)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not metalcore.cuda_available(), reason="CUDA graph capture needs a GPU")
@pytest.mark.parametrize("dtype,master,amsgrad", [(torch.float32, False, True), (torch.bfloat16, True, False)])
def test_cuda_graph_capture_matches_eager(dtype, master, amsgrad):
    ps = make_params("cuda", dtype)
    qs = [torch.nn.Parameter(p.detach().clone()) for p in ps]
    lr = torch.tensor(1e-2, device="cuda")
    kw = dict(capturable=True, amsgrad=amsgrad, master_weights=master)
    og, oe = MetalAdamW(ps, lr=lr, **kw), MetalAdamW(qs, lr=lr.clone(), **kw)
    static = [torch.zeros_like(p) for p in ps]
    for p, g in zip(ps, static):
        p.grad = g
    scale = torch.tensor(4.0, device="cuda")
    found = torch.zeros((), device="cuda")
    og.grad_scale, og.found_inf = scale, found
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for g in static:
            g.copy_(torch.randn_like(g))
        og.step()  # warm-up builds and uploads the plan outside the capture
    torch.cuda.current_stream().wait_stream(s)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        og.step()
    for q, g in zip(qs, static):
        q.grad = g.clone()
    oe.grad_scale, oe.found_inf = scale, found
    oe.step()
    for it in range(6):
        for g in static:
            g.copy_(torch.randn_like(g))
        found.fill_(1.0 if it == 3 else 0.0)
        lr.fill_(1e-2 / (it + 1))
        oe.param_groups[0]["lr"].fill_(1e-2 / (it + 1))
        graph.replay()
        for q, g in zip(qs, static):
            q.grad = g.clone()
        oe.step()
    torch.cuda.synchronize()
    for p, q in zip(ps, qs):
        assert torch.equal(p, q)
        assert float(og.state[p]["step"]) == float(oe.state[q]["step"]) == 6.0
