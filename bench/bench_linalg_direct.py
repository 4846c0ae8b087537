"""Benchmark: metalcore's batched Cholesky, solve, trsm and QR against torch.linalg and (when
importable) JAX, in the same run. CUDA events for ours and torch (medians after warm-up);
JAX is timed on the host around block_until_ready (its dispatch is asynchronous). Inputs rotate
over several sets so the working set exceeds L2 where it can.

  python bench/bench_linalg_direct.py                 # cuda if available, else cpu
  python bench/bench_linalg_direct.py --device cpu --quick

Rows report ms and the speed-up over each peer (peer_ms / ours_ms; > 1 means we are faster),
and the issue's target where it names one. For single large matrices (n >= ROUTE_MIN_N)
(or few matrices of n >= ROUTE_FEW_MIN_N) metalcore routes to torch.linalg; those rows also show
our own kernel, forced ("kernel_ms", n <= 1024, with --forced: slow on CUDA, seconds per call).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

import metalcore  # noqa: E402
from metalcore import linalg_direct as ld  # noqa: E402

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # leave GPU memory to torch
try:  # JAX is a peer where installed (the GPU machine has it); never required.
    import jax
    import jax.numpy as jnp
    import jax.scipy.linalg as jsl
    import numpy as np
except Exception:  # pragma: no cover - optional
    jax = None


def make_inputs(op, b, n, dtype, device, sets):
    out = []
    for _ in range(sets):
        A = torch.randn(b, n, n, device=device, dtype=torch.float32)
        if op == "cholesky":
            A = A @ A.mT / n + torch.eye(n, device=device)
        elif op in ("solve", "solve16"):
            A = A / math.sqrt(n) + 2 * torch.eye(n, device=device)
        elif op == "trsm":
            A = (A / math.sqrt(n)).tril() + 2 * torch.eye(n, device=device)
        rhs = torch.randn(b, n, 1, device=device)
        out.append((A.to(dtype), rhs.to(dtype)))
    return out


def ours_fn(op, mode):
    return {
        "qr": lambda A, B: metalcore.qr(A, mode=mode),
        "cholesky": lambda A, B: metalcore.cholesky_ex(A),  # no sync, like torch's kernel time
        "solve": lambda A, B: metalcore.solve(A, B),
        "solve16": lambda A, B: metalcore.solve(A, B),
        "trsm": lambda A, B: metalcore.trsm(A, B, lower=True),
    }[op]


def torch_fn(op, mode):
    return {
        "qr": lambda A, B: torch.linalg.qr(A, mode=mode),
        "cholesky": lambda A, B: torch.linalg.cholesky_ex(A),
        "solve": lambda A, B: torch.linalg.solve(A, B),
        "solve16": None,  # torch has no 16-bit solve
        "trsm": lambda A, B: torch.linalg.solve_triangular(A, B, upper=False),
    }[op]


def jax_time(op, inputs, iters):
    if jax is None or op == "solve16":
        return None
    try:
        f = {
            "qr": jax.jit(lambda A, B: jnp.linalg.qr(A)),
            "cholesky": jax.jit(lambda A, B: jnp.linalg.cholesky(A)),
            "solve": jax.jit(lambda A, B: jnp.linalg.solve(A, B)),
            "trsm": jax.jit(lambda A, B: jsl.solve_triangular(A, B, lower=True)),
        }[op]
        xs = [(jnp.asarray(np.asarray(A.float().cpu())), jnp.asarray(np.asarray(B.float().cpu()))) for A, B in inputs]
        jax.block_until_ready(f(*xs[0]))
        ts = []
        for i in range(iters):
            t0 = time.perf_counter()
            jax.block_until_ready(f(*xs[i % len(xs)]))
            ts.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(ts)
    except Exception as e:  # a peer failing must not stop the bench
        print(f"  jax {op}: {type(e).__name__}: {e}")
        return None


def residual(op, A, B, out):
    A64, B64 = A.double(), B.double()
    if op == "qr":
        Q, R = out
        return (torch.linalg.matrix_norm(Q.double() @ R.double() - A64) / torch.linalg.matrix_norm(A64)).max().item()
    if op == "cholesky":
        L = out[0].double()
        return (torch.linalg.matrix_norm(L @ L.mT - A64) / torch.linalg.matrix_norm(A64)).max().item()
    X = out.double()
    return (torch.linalg.matrix_norm(A64 @ X - B64) / (torch.linalg.matrix_norm(A64) * torch.linalg.matrix_norm(X))).max().item()


TARGETS = {  # device -> (op, b, n) -> (peer, factor), from issue 5
    "cuda": {("qr", 10000, 32): ("jax", 2.0), ("qr", 10000, 16): ("torch", 100.0), ("qr", 1000, 64): ("jax", 2.0),
             ("qr", 100, 256): ("torch", 5.0), ("cholesky", 10000, 64): ("torch", 1.5),
             ("cholesky", 1000, 256): ("torch", 1.5), ("solve", 10000, 64): ("torch", 1.5),
             ("solve", 1000, 256): ("torch", 1.5), ("trsm", 10000, 64): ("torch", 1.2),
             ("trsm", 1000, 256): ("torch", 1.2)},
    "cpu": {("qr", 10000, 8): ("torch", 3.0), ("cholesky", 10000, 8): ("torch", 3.0)},
}


def cases(device, quick):
    if device == "cuda":
        c = [("qr", 10000, 16), ("qr", 10000, 32), ("qr", 1000, 64), ("qr", 100, 128), ("qr", 100, 256),
             ("cholesky", 10000, 16), ("cholesky", 10000, 64), ("cholesky", 1000, 256),
             ("solve", 10000, 16), ("solve", 10000, 64), ("solve", 1000, 256),
             ("trsm", 10000, 64), ("trsm", 1000, 256),
             ("solve16", 10000, 64),
             ("qr", 1, 1024), ("cholesky", 1, 1024), ("solve", 1, 1024), ("trsm", 1, 1024),
             ("qr", 1, 4096), ("cholesky", 1, 4096), ("solve", 1, 4096), ("trsm", 1, 4096)]
        return c[:6] + c[13:14] if quick else c
    c = [("qr", 10000, 8), ("cholesky", 10000, 8), ("solve", 10000, 8), ("trsm", 10000, 8),
         ("qr", 10000, 32), ("cholesky", 10000, 32), ("solve", 10000, 32), ("trsm", 10000, 32),
         ("qr", 100, 128), ("solve", 100, 128), ("qr", 1, 1024), ("solve", 1, 1024)]
    return c[:4] if quick else c


def solve16_rows(dev, b, n, iters, rounds=5):
    """16-bit solve against our fp32 solve on the same matrices. The three dtypes are timed in
    alternating rounds (median over rounds of each round's median): back-to-back timings of one
    op drift by a few percent on the H100 (thermal/clock), as much as the difference asked about."""
    dtypes = [torch.bfloat16, torch.float16, torch.float32]
    nbytes = b * n * n * 4
    sets = max(1, min(4, math.ceil(200e6 / max(nbytes, 1)))) if dev == "cuda" else 1
    base = make_inputs("solve16", b, n, torch.float32, dev, sets)
    inputs = {dt: [(A.to(dt), B.to(dt)) for A, B in base] for dt in dtypes}
    o = ours_fn("solve16", "reduced")
    samples = {dt: [] for dt in dtypes}
    for _ in range(rounds):
        for dt in dtypes:
            xs = inputs[dt]
            samples[dt].append(common.time_fn(dev, lambda i: o(*xs[i % sets]), sets, warmup=2, iters=iters))
    rows = []
    for dt in dtypes:
        ms = statistics.median(samples[dt])
        rows.append({"op": "solve16", "dtype": str(dt).replace("torch.", ""), "batch": b, "n": n, "ours_ms": ms,
                     "torch_ms": None, "jax_ms": None, "kernel_ms": None, "x_torch": None, "x_jax": None,
                     "residual": residual("solve", *inputs[dt][0], o(*inputs[dt][0])),
                     "target": "no slower than fp32" if dt != torch.float32 else None,
                     "x_fp32": statistics.median(samples[torch.float32]) / ms})
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rows[-1].items()}, flush=True)
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda" if metalcore.cuda_available() else "cpu")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--forced", action="store_true",
                   help="also time our own kernel on the routed n = 1024 rows (slow: one block per matrix)")
    args = p.parse_args()
    dev = args.device
    iters = 5 if args.quick else (20 if dev == "cuda" else 7)
    rows = []
    for op, b, n in cases(dev, args.quick):
        if op == "solve16":
            rows += solve16_rows(dev, b, n, iters)
            continue
        for dtype in [torch.float32]:
            nbytes = b * n * n * 4
            sets = max(1, min(4, math.ceil(200e6 / max(nbytes, 1)))) if dev == "cuda" else 1
            inputs = make_inputs(op, b, n, dtype, dev, sets)
            big = n >= 2048
            it = 3 if big else iters
            o = ours_fn(op, "reduced")
            ours_ms = common.time_fn(dev, lambda i: o(*inputs[i % sets]), sets, warmup=1 if big else 3, iters=it)
            res = residual("solve" if op == "solve16" else op, *inputs[0], o(*inputs[0]))
            tf = torch_fn(op, "reduced")
            torch_ms = common.time_fn(dev, lambda i: tf(*inputs[i % sets]), sets, warmup=1 if big else 3, iters=it) if tf else None
            kernel_ms = None
            if args.forced and ld._routed(n, torch.device(dev), (b,)) and n <= 1024:
                saved = ld.ROUTE_MIN_N, ld.ROUTE_FEW_MIN_N
                ld.ROUTE_MIN_N, ld.ROUTE_FEW_MIN_N = {}, {}
                try:
                    kernel_ms = common.time_fn(dev, lambda i: o(*inputs[i % sets]), sets, warmup=1, iters=2)
                finally:
                    ld.ROUTE_MIN_N, ld.ROUTE_FEW_MIN_N = saved
            jax_ms = jax_time(op, inputs, it) if (dev == "cuda" and dtype == torch.float32) else None
            tgt = TARGETS[dev].get((op, b, n)) if dtype == torch.float32 else None
            row = {"op": op, "dtype": str(dtype).replace("torch.", ""), "batch": b, "n": n, "ours_ms": ours_ms,
                   "torch_ms": torch_ms, "jax_ms": jax_ms, "kernel_ms": kernel_ms,
                   "x_torch": (torch_ms / ours_ms) if torch_ms else None,
                   "x_jax": (jax_ms / ours_ms) if jax_ms else None, "residual": res,
                   "target": f">= {tgt[1]}x {tgt[0]}" if tgt else None}
            if tgt:
                got = row["x_torch"] if tgt[0] == "torch" else row["x_jax"]
                row["met"] = None if got is None else bool(got >= tgt[1])
            rows.append(row)
            print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
            del inputs
            if dev == "cuda":
                torch.cuda.empty_cache()
    common.write_results("linalg_direct", dev, rows, {"route_min_n": ld.ROUTE_MIN_N,
                                                      "route_few_min_n": ld.ROUTE_FEW_MIN_N,
                                                      "route_few_batch": ld.ROUTE_FEW_BATCH})


if __name__ == "__main__":
    main()
