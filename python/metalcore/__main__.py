"""`python -m metalcore`: version, backends and devices, a self-check of every op on every
device present against a float64 reference, and a short benchmark table (CPU by default; add
--device cuda, or --device all). Exits non-zero if a self-check fails."""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import metalcore
from metalcore import _C


def _time_ms(fn, device, iters=20):
    for _ in range(3):
        fn()
    times = []
    for _ in range(iters):
        if device == "cuda":
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            e.synchronize()
            times.append(s.elapsed_time(e))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _rel(a, b):
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-300)).item()


def _check(results, name, err, limit):
    results.append((name, err <= limit, f"max rel err {err:.1e} (limit {limit:.0e})"))


def self_check(device):
    """(name, ok, detail) for each op family on `device`, each against a float64 reference of the
    definition (fp32 inputs: limits are a few hundred units of fp32 roundoff)."""
    g = torch.Generator().manual_seed(0)

    def rnd(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    res = []
    # RMSNorm forward and backward
    x64, w64 = rnd(64, 1024), rnd(1024).abs() + 0.5
    x, w = x64.float().to(device).requires_grad_(), w64.float().to(device).requires_grad_()
    y = metalcore.rms_norm(x, (1024,), w, 1e-6)
    y.sum().backward()
    xr, wr = x64.clone().requires_grad_(), w64.clone().requires_grad_()
    yr = F.rms_norm(xr, (1024,), wr, 1e-6)
    yr.sum().backward()
    _check(res, "rms_norm fwd+bwd", max(_rel(y, yr), _rel(x.grad, xr.grad), _rel(w.grad, wr.grad)), 1e-4)
    # activations and softmax
    a64 = rnd(33, 257)
    a = a64.float().to(device)
    _check(res, "silu / gelu / swiglu", max(_rel(metalcore.metal_silu(a), F.silu(a64)),
                                            _rel(metalcore.metal_gelu(a), F.gelu(a64)),
                                            _rel(metalcore.swiglu(a, a), F.silu(a64) * a64)), 1e-5)
    _check(res, "softmax", max(_rel(metalcore.fused_softmax(a, -1), torch.softmax(a64, -1)),
                               _rel(metalcore.fused_softmax(a, 0), torch.softmax(a64, 0))), 1e-5)
    # RoPE (split half) against the Hugging Face formula
    q64, k64 = rnd(2, 4, 16, 64), rnd(2, 2, 16, 64)
    ang = rnd(16, 32)
    cos64, sin64 = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)

    def rot(t):
        return torch.cat([-t[..., 32:], t[..., :32]], -1)

    qo, ko = metalcore.apply_rotary_pos_emb(q64.float().to(device), k64.float().to(device),
                                            cos64.float().to(device), sin64.float().to(device))
    _check(res, "apply_rotary_pos_emb", max(_rel(qo, q64 * cos64 + rot(q64) * sin64),
                                            _rel(ko, k64 * cos64 + rot(k64) * sin64)), 1e-5)
    # EmbeddingBag (sum)
    wt64 = rnd(100, 16)
    idx = torch.randint(0, 100, (40,), generator=g)
    off = torch.tensor([0, 5, 5, 17, 30])
    eb = metalcore.embedding_bag(idx.to(device), wt64.float().to(device), off.to(device), mode="sum")
    _check(res, "embedding_bag", _rel(eb, F.embedding_bag(idx, wt64, off, mode="sum")), 1e-5)
    # linear algebra, batched
    A64 = rnd(6, 24, 24)
    S64 = A64 @ A64.mT + 24 * torch.eye(24, dtype=torch.float64)
    A, S = A64.float().to(device), S64.float().to(device)
    L, Qe = metalcore.eigh(S)
    _check(res, "eigh", _rel(Qe.double().cpu() @ torch.diag_embed(L.double().cpu()) @ Qe.double().cpu().mT, S64), 1e-5)
    U, Sv, V = metalcore.svd(A)
    _check(res, "svd", _rel(U.double().cpu() @ torch.diag_embed(Sv.double().cpu()) @ V.double().cpu().mT, A64), 1e-5)
    Qq, R = metalcore.qr(A)
    _check(res, "qr", _rel(Qq.double().cpu() @ R.double().cpu(), A64), 1e-5)
    Lc = metalcore.cholesky(S)
    _check(res, "cholesky", _rel(Lc.double().cpu() @ Lc.double().cpu().mT, S64), 1e-5)
    B64 = rnd(6, 24, 3)
    X = metalcore.solve(S, B64.float().to(device))
    _check(res, "solve", _rel(S64 @ X.double().cpu(), B64), 1e-4)
    # optimiser: one step against torch's AdamW in float64
    p64, g64 = rnd(1000), rnd(1000)
    p = p64.float().to(device).requires_grad_()
    p.grad = g64.float().to(device)
    metalcore.MetalAdamW([p], lr=1e-2).step()
    pr = p64.clone().requires_grad_()
    pr.grad = g64.clone()
    torch.optim.AdamW([pr], lr=1e-2, foreach=False).step()
    _check(res, "MetalAdamW step", _rel(p, pr), 1e-5)
    return res


def bench_table(device):
    """A few representative ops, ours against torch, on `device` (the bench/ scripts are the full
    measurements)."""
    rows = []
    shapes = [(4096, 4096)] if device == "cuda" else [(512, 4096)]
    dtypes = [torch.bfloat16, torch.float32] if device == "cuda" else [torch.float32]
    for (r, n) in shapes:
        for dt in dtypes:
            x = torch.randn(r, n, device=device, dtype=dt)
            w = torch.rand(n, device=device, dtype=dt)
            with torch.no_grad():
                ours = _time_ms(lambda: metalcore.rms_norm(x, (n,), w, 1e-6), device)
                ref = _time_ms(lambda: F.rms_norm(x, (n,), w, 1e-6), device)
            rows.append((f"rms_norm fwd {r}x{n} {str(dt).replace('torch.', '')}", ours, ref))
    # batched small matrices: where torch loops per matrix on CUDA, or runs LAPACK per matrix on CPU
    b, n = (100, 64) if device == "cuda" else (10000, 8)
    A = torch.randn(b, n, n, device=device)
    S = A @ A.mT
    for name, ours, ref in (("eigh", lambda: metalcore.eigh(S), lambda: torch.linalg.eigh(S)),
                            ("svd", lambda: metalcore.svd(A), lambda: torch.linalg.svd(A)),
                            ("qr", lambda: metalcore.qr(A), lambda: torch.linalg.qr(A))):
        rows.append((f"{name} {b} x {n}x{n} float32", _time_ms(ours, device, 5), _time_ms(ref, device, 5)))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m metalcore", description=__doc__)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "all"],
                    help="devices for the benchmark table (self-check runs on every device present)")
    ap.add_argument("--no-bench", action="store_true", help="skip the benchmark table")
    args = ap.parse_args(argv)

    print(f"metalcore {metalcore.__version__} (torch {torch.__version__})")
    print(f"backends: {', '.join(metalcore.backends())}")
    if _C.has_cuda():
        print(f"CUDA backend: architectures {_C.cuda_architectures()}, devices: {_C.cuda_device_count()}")
        for i in range(_C.cuda_device_count() if torch.cuda.is_available() else 0):
            print(f"  cuda:{i} {torch.cuda.get_device_name(i)}")
    else:
        print("CUDA backend: not compiled in")
    devices = ["cpu"] + (["cuda"] if metalcore.cuda_available() else [])

    ok = True
    print("\nself-check:")
    for dev in devices:
        for name, passed, detail in self_check(dev):
            ok &= passed
            print(f"  [{'ok' if passed else 'FAIL'}] {dev:4s} {name}: {detail}")

    if not args.no_bench:
        bench_devs = devices if args.device == "all" else [args.device]
        for dev in bench_devs:
            if dev not in devices:
                print(f"\n(no {dev} device here: benchmark skipped)")
                continue
            print(f"\nbenchmark on {dev} ({torch.cuda.get_device_name() if dev == 'cuda' else 'CPU, %d threads' % torch.get_num_threads()}), median ms:")
            print(f"  {'op':40s} {'metalcore':>10s} {'torch':>10s} {'speedup':>8s}")
            for name, ours, ref in bench_table(dev):
                print(f"  {name:40s} {ours:10.4f} {ref:10.4f} {ref / ours:7.2f}x")
    print("\nself-check " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
