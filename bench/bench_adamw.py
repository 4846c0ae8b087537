"""MetalAdamW vs torch.optim.AdamW (fused=True where the device has it, else foreach) in the same run.

Cases: 200 fp32 tensors of 1M; 10,000 tensors of mixed sizes 1k..100k; bf16 params with
master_weights=True. Reports the median step time (CUDA events around optimizer.step(), so the
host bookkeeping is included), the host-only time of a step, effective bandwidth (each buffer read
or written once), the ratio to torch and the percentage of the measured copy bandwidth.

  python bench/bench_adamw.py [--device cuda|cpu] [--quick]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import copy_bandwidth_gbs, time_fn, write_results  # noqa: E402

import metalcore  # noqa: E402


def make(sizes, dtype, device, seed=0):
    g = torch.Generator(device=device).manual_seed(seed)
    ps = [torch.nn.Parameter(torch.randn(n, device=device, generator=g).to(dtype)) for n in sizes]
    for p in ps:
        p.grad = torch.randn(p.shape, device=device, generator=g).to(dtype)
    return ps


def bytes_per_elem(dtype, master):
    e = torch.tensor([], dtype=dtype).element_size()
    # ours: param + grad read, param written; m, v read and written in fp32 (+ master r/w)
    return 3 * e + 16 + (8 if master else 0)


def host_ms(opt, device, iters=5):
    """Host time of step(): the CPU cost of issuing it (GPU work runs asynchronously)."""
    opt.step()
    ts = []
    for _ in range(iters):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.step()
        ts.append((time.perf_counter() - t0) * 1e3)
    return sorted(ts)[len(ts) // 2]


def run_case(name, sizes, dtype, device, master, iters):
    rows = []
    n = sum(sizes)
    ours = make(sizes, dtype, device)
    oo = metalcore.MetalAdamW(ours, lr=1e-3, master_weights=master)
    fused_ok = device == "cuda" or dtype == torch.float32
    theirs = make(sizes, dtype, device)
    kind = "fused" if fused_ok else "foreach"
    ot = torch.optim.AdamW(theirs, lr=1e-3, **({"fused": True} if fused_ok else {"foreach": True}))
    t_ours = time_fn(device, lambda i: oo.step(), iters=iters)
    t_torch = time_fn(device, lambda i: ot.step(), iters=iters)
    h_ours, h_torch = host_ms(oo, device), host_ms(ot, device)
    eb = torch.tensor([], dtype=dtype).element_size()
    gb_ours = n * bytes_per_elem(dtype, master) / 1e9
    gb_torch = n * (7 * eb) / 1e9
    rows.append({"case": name, "impl": "metalcore", "tensors": len(sizes), "elems(M)": n / 1e6, "ms": t_ours,
                 "host_ms": h_ours, "GB/s": gb_ours / (t_ours * 1e-3), "speedup": t_torch / t_ours})
    rows.append({"case": name, "impl": f"torch {kind}", "tensors": len(sizes), "elems(M)": n / 1e6, "ms": t_torch,
                 "host_ms": h_torch, "GB/s": gb_torch / (t_torch * 1e-3), "speedup": 1.0})
    del ours, theirs, oo, ot
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if metalcore.cuda_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="small sizes (CPU smoke run)")
    a = ap.parse_args()
    dev = a.device
    g = torch.Generator().manual_seed(0)
    if a.quick:
        big = [1 << 16] * 20
        mixed = torch.randint(1000, 10_001, (500,), generator=g).tolist()
        iters = 5
    else:
        big = [1 << 20] * 200
        mixed = torch.randint(1000, 100_001, (10_000,), generator=g).tolist()
        iters = 20
    rows = []
    rows += run_case("fp32 200x1M" if not a.quick else "fp32 20x64k", big, torch.float32, dev, False, iters)
    rows += run_case("fp32 mixed 1k-100k" if not a.quick else "fp32 mixed 1k-10k", mixed, torch.float32, dev, False, iters)
    rows += run_case("bf16 master", big, torch.bfloat16, dev, True, iters)
    extra = {}
    if dev == "cuda":
        bw = copy_bandwidth_gbs("cuda")
        extra["copy_GBs"] = bw
        for r in rows:
            r["%copy"] = 100.0 * r["GB/s"] / bw
    write_results("adamw", dev, rows, extra)


if __name__ == "__main__":
    main()
