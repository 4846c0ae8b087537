"""Fused residual add + RMSNorm (fwd, fwd+bwd) against torch eager (x + r, F.rms_norm) and
torch.compile, 16384 x 4096 bf16. Effective bandwidth: fwd reads x, residual, writes y, h
(weight ignored); fwd+bwd adds dy, dh, h read and dx written.
Run: python bench/bench_add_rmsnorm.py [--device cuda|cpu] [--quick]"""
import torch
import torch.nn.functional as F

import _prims
import common
import metalcore


def eager(x, r, w):
    h = x + r
    return F.rms_norm(h, (h.shape[-1],), w, 1e-6), h


def main():
    args = _prims.parse(__doc__.splitlines()[0])
    dev, quick = args.device, args.quick
    copy = _prims.copy_bw(dev, quick)
    dt = torch.bfloat16 if dev == "cuda" else torch.float32
    shape = (256, 1024) if quick else (16384, 4096)
    nb = shape[0] * shape[1] * torch.finfo(dt).bits // 8
    k = _prims.n_rotations(dev, 4 * nb)
    xs = [torch.randn(shape, device=dev, dtype=dt) for _ in range(k)]
    rs = [torch.randn(shape, device=dev, dtype=dt) for _ in range(k)]
    w = torch.randn(shape[1], device=dev, dtype=dt)
    comp = _prims.try_compile(eager, not args.no_compile)
    peers = [("metalcore", lambda x, r, w: metalcore.fused_add_rmsnorm(x, r, w, 1e-6)), ("torch", eager),
             ("torch.compile", comp)]
    base = {"shape": "x".join(map(str, shape)), "dtype": str(dt)[6:]}
    impls = [(n, (lambda i, f=f: f(xs[i], rs[i], w)) if f else None) for n, f in peers]
    rows = _prims.time_impls(dev, impls, k, 4 * nb, {"op": "add+rmsnorm fwd", **base}, copy, quick)
    xr = [x.clone().requires_grad_() for x in xs]
    rr = [r.clone().requires_grad_() for r in rs]
    wr = w.clone().requires_grad_()
    dy = torch.randn(shape, device=dev, dtype=dt)
    dh = torch.randn(shape, device=dev, dtype=dt)

    def fb(f):
        def run(i):
            xr[i].grad = rr[i].grad = wr.grad = None
            y, h = f(xr[i], rr[i], wr)
            torch.autograd.backward((y, h), (dy, dh))
        return run

    impls = [(n, fb(f) if f else None) for n, f in peers]
    rows += _prims.time_impls(dev, impls, k, 9 * nb, {"op": "add+rmsnorm fwd+bwd", **base}, copy, quick)
    t, tr, tw = (torch.randn(4, 64, device=dev, dtype=dt), torch.randn(4, 64, device=dev, dtype=dt),
                 torch.randn(64, device=dev, dtype=dt))
    o, p = _prims.host_overhead_us(dev, lambda: metalcore.fused_add_rmsnorm(t, tr, tw), lambda: eager(t, tr, tw))
    rows.append({"op": "add+rmsnorm overhead", "shape": "4x64", "dtype": str(dt)[6:], "impl": "metalcore - torch",
                 "us_ours": o, "us_torch": p, "us_over": o - p})
    common.write_results("add_rmsnorm", dev, rows, {"copy_GBps": copy})


if __name__ == "__main__":
    main()
