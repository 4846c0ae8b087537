"""Measures every op enable_pytorch_overrides can route (ours through the override, against the
torch original, forward, same inputs) over a grid of sizes and dtypes on one device, and writes the
routing table python/metalcore/routing/<device-kind>.json that the overrides load.

    python bench/bench_routing.py --device cuda            # full grid (H100: a few minutes)
    python bench/bench_routing.py --device cpu --quick     # small grid, for CI and a CPU table

A call is later routed to metalcore only inside grid cells whose every corner was measured at
least 5% faster (routing.DEFAULT_MARGIN); sizes outside the grid, and points skipped here, go to
torch. svd/qr are measured when this build has metalcore.svd / metalcore.qr.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import env_info, time_fn, write_results  # noqa: E402

import metalcore  # noqa: E402
from metalcore import overrides as ov, routing  # noqa: E402

L2_BYTES = 64 << 20


def n_inputs(nbytes: int) -> int:
    return max(1, min(8, math.ceil(L2_BYTES / max(nbytes, 1))))


SLOW_MS = 50.0


def one_call_ms(device, f) -> float:
    t0 = time.perf_counter()
    f(0)
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1e3


def measure(device, f, n, kw) -> float:
    """Median of many calls, except for calls that take over SLOW_MS twice in a row (torch's
    looped batched linalg takes seconds per call at 4096 matrices; 35 repeats of each grid cell
    made the full grid run for tens of minutes): then the second call's host-clock time, which at
    that length is within a fraction of a percent of the event-timed one."""
    if one_call_ms(device, f) > SLOW_MS:
        second = one_call_ms(device, f)
        if second > SLOW_MS:
            return second
    return time_fn(device, f, n, **kw)


def timed(device, make, fn, nbytes, quick):
    sets = [make() for _ in range(n_inputs(nbytes))]
    kw = dict(warmup=2, iters=5) if quick else {}
    f = lambda i: fn(*sets[i])  # noqa: E731
    with torch.no_grad():
        with ov.force_routing("ours"):
            ours = measure(device, f, len(sets), kw)
        with ov.force_routing("torch"):
            theirs = measure(device, f, len(sets), kw)
    return ours, theirs


def cases(quick: bool, device: str, dtypes_nn, have_linalg: bool):
    """(op, dtype, key, nbytes, make, fn) for every grid point."""
    cap = (1 << 21) if quick else (1 << 27)
    out = []
    for dt in dtypes_nn:
        es = torch.tensor([], dtype=dt).element_size()
        for n in ([1 << 10, 1 << 14, 1 << 18, 1 << 21] if quick else [1 << 10, 1 << 14, 1 << 18, 1 << 22, 1 << 25]):
            out.append(("silu", dt, (n,), 2 * n * es, lambda n=n, dt=dt: (torch.randn(n, device=device, dtype=dt),),
                        lambda x: F.silu(x)))
        rows_g = [1, 64, 1024] if quick else [1, 64, 1024, 16384]
        cols_g = [32, 1024, 4096] if quick else [32, 128, 1024, 4096, 32768]
        for r in rows_g:
            for c in cols_g:
                if r * c > cap:
                    continue
                out.append(("softmax", dt, (r, c), 2 * r * c * es,
                            lambda r=r, c=c, dt=dt: (torch.randn(r, c, device=device, dtype=dt),),
                            lambda x: F.softmax(x, dim=-1)))
                m = torch.nn.RMSNorm(c, device=device, dtype=dt)
                out.append(("rms_norm", dt, (r, c), 2 * r * c * es,
                            lambda r=r, c=c, dt=dt: (torch.randn(r, c, device=device, dtype=dt),),
                            lambda x, m=m: m(x)))
        num = 10000 if quick else 200000
        for nidx in ([64, 4096, 65536] if quick else [64, 4096, 262144, 1 << 21]):
            for d in ([32, 128] if quick else [32, 128, 512]):
                if nidx * d > cap * 4:
                    continue
                w = torch.randn(num, d, device=device, dtype=dt)
                nb = max(1, nidx // 20)
                out.append(("embedding_bag", dt, (nidx, d), nidx * d * es,
                            lambda nidx=nidx, nb=nb, w=w: (torch.randint(0, w.shape[0], (nidx,), device=device),
                                                           torch.arange(nb, device=device) * (nidx // nb), w),
                            lambda i, o, w: F.embedding_bag(i, w, o, mode="sum")))
    if have_linalg:
        for dt in (torch.float32, torch.float64):
            batches = [1, 16, 256] if quick else [1, 16, 256, 4096]
            dims = [8, 32, 128] if quick else [8, 32, 128, 512]
            for b in batches:
                for mm in dims:
                    for nn_ in dims:
                        work = b * mm * nn_ * min(mm, nn_)
                        if work > (1 << 24 if quick else 1 << 31):
                            continue
                        mk = (lambda b=b, mm=mm, nn_=nn_, dt=dt: (torch.randn(b, mm, nn_, device=device, dtype=dt),))
                        nbytes = b * mm * nn_ * 8
                        out.append(("svd", dt, (b, mm, nn_), nbytes, mk,
                                    lambda A: torch.linalg.svd(A, full_matrices=False)))
                        out.append(("qr", dt, (b, mm, nn_), nbytes, mk, lambda A: torch.linalg.qr(A)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--quick", action="store_true", help="small grid, few iterations")
    ap.add_argument("--out", default=None, help="table path (default: python/metalcore/routing/<kind>.json "
                    "in this checkout, to be committed; reinstall to use it)")
    args = ap.parse_args()
    dev = torch.device(args.device)
    if args.device == "cuda" and not metalcore.cuda_available():
        sys.exit("bench_routing: no CUDA device (or the CUDA backend is not built)")
    have_linalg = hasattr(metalcore, "svd") and hasattr(metalcore, "qr")
    kind = routing.device_kind(dev)
    metalcore.enable_pytorch_overrides()
    ops: dict = {}
    rows = []
    try:
        for op, dt, key, nbytes, make, fn in cases(args.quick, args.device,
                                                   (torch.float32, torch.bfloat16, torch.float16), have_linalg):
            ours, theirs = timed(args.device, make, fn, nbytes, args.quick)
            dn = routing.dtype_name(dt)
            ops.setdefault(op, {}).setdefault(dn, []).append([*key, round(ours, 6), round(theirs, 6)])
            rows.append({"op": op, "dtype": dn, "key": "x".join(map(str, key)), "ours_ms": ours, "torch_ms": theirs,
                         "speedup": theirs / ours if ours else None,
                         "routed": ours <= routing.DEFAULT_MARGIN * theirs})
            print(f"{op:14s} {dn:9s} {str(key):22s} ours {ours:9.4f} ms  torch {theirs:9.4f} ms", flush=True)
    finally:
        metalcore.disable_pytorch_overrides()
    table = {"kind": kind, **env_info(args.device), "margin": routing.DEFAULT_MARGIN, "quick": args.quick,
             "generated_by": "bench/bench_routing.py" + (" --quick" if args.quick else ""),
             "keys": {"silu": ["numel"], "softmax": ["rows", "cols"], "rms_norm": ["rows", "cols"],
                      "embedding_bag": ["n_indices", "embedding_dim"], "svd": ["batch", "m", "n"],
                      "qr": ["batch", "m", "n"]},
             "ops": ops}
    # default: the table in this checkout (the one to commit), not the installed package's copy
    repo_table = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python", "metalcore",
                              "routing", os.path.basename(routing.table_path(kind)))
    path = args.out or os.path.normpath(repo_table)
    with open(path, "w") as f:
        json.dump(table, f, indent=1)
    write_results("routing", args.device, rows)
    print(f"routing table -> {path}")


if __name__ == "__main__":
    main()
