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


def self_check(device):
    """(name, ok, detail) for each op on `device`."""
    results = []
    x = torch.randn(64, 1024, device=device, requires_grad=True)
    w = (torch.rand(1024, device=device) + 0.5).requires_grad_()
    y = metalcore.rms_norm(x, (1024,), w, 1e-6)
    y.sum().backward()
    xr, wr = x.detach().double().requires_grad_(), w.detach().double().requires_grad_()
    yr = F.rms_norm(xr, (1024,), wr, 1e-6)
    yr.sum().backward()
    err = max(_rel(y, yr), _rel(x.grad, xr.grad), _rel(w.grad, wr.grad))
    results.append(("rms_norm fwd+bwd fp32", err < 1e-4, f"max rel err {err:.1e}"))
    return results


def bench_table(device):
    """A few representative ops, ours against torch, on `device`."""
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
