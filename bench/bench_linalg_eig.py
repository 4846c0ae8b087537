"""Benchmark of metalcore eigh / svd / pinv / lstsq against torch.linalg, JAX and CuPy in the same
run (issue 6's target rows), single large matrices (n = 1024, 4096) against torch, and a speedup
grid (batch x n, n in 8..512) written as a markdown table and a heatmap PNG.

  python bench/bench_linalg_eig.py [--device cuda|cpu] [--quick] [--no-grid]

Ours and torch are timed with CUDA events (medians after warm-up; host clock on the CPU); JAX and
CuPy with a host clock around a synchronised call (their own streams), noted in the JSON."""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import metalcore  # noqa: E402

try:
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", False)
except Exception:  # not installed here
    jax = None
try:
    import cupy
except Exception:
    cupy = None


def sym(b, n, device, dtype=torch.float32):
    A = torch.randn(b, n, n, device=device, dtype=dtype)
    return A + A.mT


def timed(device, fn, slow_ms=200.0):
    """Median ms; one probe call decides how many iterations a slow op gets."""
    t0 = time.perf_counter()
    fn(0)
    if device == "cuda":
        torch.cuda.synchronize()
    probe = (time.perf_counter() - t0) * 1e3
    if probe > slow_ms:
        return common.time_fn(device, fn, warmup=0, iters=3)
    return common.time_fn(device, fn, warmup=3, iters=15 if probe > 10 else 30)


def host_timed(fn, sync, iters=10):
    fn()
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    if (time.perf_counter() - t0) > 0.5:
        iters = 2
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def peer_jax(op, A):
    if jax is None:
        return None
    try:
        x = jnp.asarray(A.cpu().numpy())
        f = {"eigh": jax.jit(jnp.linalg.eigh), "svd": jax.jit(lambda a: jnp.linalg.svd(a, full_matrices=False))}[op]
        return host_timed(lambda: jax.block_until_ready(f(x)), lambda: None)
    except Exception as e:  # a peer failing must not stop the bench
        print(f"jax {op} failed: {e}")
        return None


def peer_cupy(op, A):
    if cupy is None:
        return None
    try:
        x = cupy.asarray(A.cpu().numpy())
        f = {"eigh": cupy.linalg.eigh, "svd": lambda a: cupy.linalg.svd(a, full_matrices=False)}[op]
        return host_timed(lambda: f(x), cupy.cuda.runtime.deviceSynchronize)
    except Exception as e:
        print(f"cupy {op} failed: {e}")
        return None


def ours_and_torch(op, device, b, n, m=None, rhs=4):
    m = m or n
    if op == "eigh":
        A = sym(b, n, device)
        ours = lambda i: metalcore.eigh(A)
        ref = lambda i: torch.linalg.eigh(A)
    elif op == "svd":
        A = torch.randn(b, m, n, device=device)
        ours = lambda i: metalcore.svd(A)
        ref = lambda i: torch.linalg.svd(A, full_matrices=False)
    elif op == "pinv":
        A = torch.randn(b, m, n, device=device)
        ours = lambda i: metalcore.pinv(A)
        ref = lambda i: torch.linalg.pinv(A)
    elif op == "lstsq":
        A = torch.randn(b, m, n, device=device)
        B = torch.randn(b, m, rhs, device=device)
        ours = lambda i: metalcore.lstsq(A, B)
        ref = lambda i: torch.linalg.lstsq(A, B)
    return A, timed(device, ours), timed(device, ref)


def row(op, b, n, m, t_ours, t_torch, t_jax=None, t_cupy=None, target=None):
    r = {"op": op, "batch": b, "shape": f"{m}x{n}", "ours_ms": t_ours, "torch_ms": t_torch,
         "x_vs_torch": t_torch / t_ours}
    if t_jax is not None:
        r["jax_ms"], r["x_vs_jax"] = t_jax, t_jax / t_ours
    if t_cupy is not None:
        r["cupy_ms"], r["x_vs_cupy"] = t_cupy, t_cupy / t_ours
    if target:
        r["target"] = target
    print(r, flush=True)
    return r


TARGETS = [  # op, batch, n, m, target
    ("eigh", 1000, 64, 64, ">= 2x JAX"), ("eigh", 100, 128, 128, ">= 1.5x JAX"),
    ("eigh", 100, 256, 256, ">= 1.5x JAX"), ("eigh", 10000, 32, 32, ">= 2x CuPy"),
    ("eigh", 10, 512, 512, ">= 1.5x JAX"), ("svd", 1000, 64, 64, ">= 100x torch"),
    ("svd", 100, 128, 128, ">= 30x torch"), ("svd", 100, 256, 256, ">= 30x torch"),
    ("svd", 10000, 32, 32, ">= 3x CuPy"), ("pinv", 1000, 64, 64, ">= 100x torch"),
    ("lstsq", 1000, 32, 64, "within 2x of torch"),
]
CPU_TARGETS = [("eigh", 10000, 8, 8, ">= 3x torch"), ("svd", 10000, 8, 8, ">= 3x torch"),
               ("eigh", 1000, 32, 32, None), ("svd", 1000, 32, 32, None), ("pinv", 1000, 16, 16, None),
               ("lstsq", 1000, 16, 32, None)]


def grid(device, quick):
    ns = [8, 16, 32, 64] if quick else [8, 16, 32, 64, 128, 256, 512]
    batches = [10, 100] if quick else [1, 10, 100, 1000]
    out = {}
    for op in ("eigh", "svd"):
        for n in ns:
            for b in batches:
                if b * n * n > (2e6 if quick else 3e7) or (device == "cuda" and op == "svd" and b * n > 50000):
                    continue  # torch's per-matrix loop would take minutes
                _, to, tt = ours_and_torch(op, device, b, n)
                out[(op, b, n)] = tt / to
                print(f"grid {op} b={b} n={n}: {tt / to:.2f}x", flush=True)
    return out, ns, batches


def write_grid(g, ns, batches, device):
    lines = []
    for op in ("eigh", "svd"):
        lines.append(f"\n{op} speedup over torch.linalg ({device}), rows batch, columns n\n")
        lines.append("| batch | " + " | ".join(str(n) for n in ns) + " |")
        lines.append("|---|" + "---|" * len(ns))
        for b in batches:
            lines.append(f"| {b} | " + " | ".join(f"{g[(op, b, n)]:.2f}" if (op, b, n) in g else "" for n in ns) + " |")
    text = "\n".join(lines)
    print(text)
    out_dir = os.environ.get("MC_BENCH_OUT") or os.path.join(common.HERE, "results")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, f"linalg_eig_grid_{device}.md"), "w") as f:
        f.write(text + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for ax, op in zip(axes, ("eigh", "svd")):
            M = np.array([[g.get((op, b, n), np.nan) for n in ns] for b in batches])
            im = ax.imshow(np.log10(M), cmap="RdYlGn", vmin=-1, vmax=3, aspect="auto")
            ax.set_xticks(range(len(ns)), [str(n) for n in ns])
            ax.set_yticks(range(len(batches)), [str(b) for b in batches])
            ax.set_xlabel("n")
            ax.set_ylabel("batch")
            ax.set_title(f"{op}: speedup over torch ({device})")
            for i in range(len(batches)):
                for j in range(len(ns)):
                    if not np.isnan(M[i, j]):
                        ax.text(j, i, f"{M[i, j]:.1f}", ha="center", va="center", fontsize=8)
        fig.colorbar(im, ax=axes, label="log10 speedup")
        path = os.path.join(out_dir, f"linalg_eig_heatmap_{device}.png")
        fig.savefig(path, dpi=120)
        print("heatmap ->", path)
    except Exception as e:
        print("no heatmap:", e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if metalcore.cuda_available() else "cpu")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-grid", action="store_true")
    args = ap.parse_args()
    dev = args.device
    rows = []
    targets = TARGETS if dev == "cuda" else CPU_TARGETS
    if args.quick and dev == "cuda":
        targets = [t for t in targets if not (t[0] == "svd" and t[2] >= 128)]
    for op, b, n, m, target in targets:
        A, to, tt = ours_and_torch(op, dev, b, n, m)
        tj = tc = None
        if dev == "cuda" and op in ("eigh", "svd"):
            tj, tc = peer_jax(op, A), peer_cupy(op, A)
        r = row(op, b, n, m, to, tt, tj, tc, target)
        if dev == "cuda" and op in ("eigh", "svd"):
            # the _ex variant returns info instead of raising, so it never waits for the GPU: the
            # difference to ours_ms is the host's share (its prefix before the first kernel, the
            # convergence check and the wake-up after the sync)
            f = metalcore.eigh_ex if op == "eigh" else metalcore.svd_ex
            r["ours_ex_ms"] = timed(dev, lambda i: f(A))
            print({"op": op, "ours_ex_ms": r["ours_ex_ms"]}, flush=True)
        rows.append(r)
    if dev == "cuda":
        for n in ([1024] if args.quick else [1024, 4096]):
            for op in ("eigh", "svd"):
                _, to, tt = ours_and_torch(op, dev, 1, n)
                rows.append(row(op, 1, n, n, to, tt, target="single large (routed to cuSOLVER)"))
    common.write_results("linalg_eig", dev, rows, {"peer_timing": "jax/cupy: host clock around a synchronised call"})
    if not args.no_grid:
        write_grid(*grid(dev, args.quick), dev)


if __name__ == "__main__":
    main()
