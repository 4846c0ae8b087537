"""RMSNorm: metalcore against F.rms_norm, torch.compile of the Hugging Face RMSNorm and (when
importable) Liger-Kernel, forward and forward+backward, in one run; plus host overhead on a tiny
input. Usage: python bench/bench_rmsnorm.py [--device cuda|cpu] [--quick]"""
from __future__ import annotations

import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _prims  # noqa: E402
import common  # noqa: E402

import metalcore  # noqa: E402


class HFRMSNorm(torch.nn.Module):
    """LlamaRMSNorm as Hugging Face writes it (the usual torch.compile target)."""

    def __init__(self, n, eps=1e-6, device=None, dtype=None):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n, device=device, dtype=dtype))
        self.eps = eps

    def forward(self, h):
        dt = h.dtype
        h = h.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dt)


def implementations(n, device, dtype):
    # every implementation computes the weight gradient too (a training step)
    w = (torch.rand(n, device=device, dtype=torch.float32) + 0.5).to(dtype).requires_grad_()
    impls = {
        "metalcore": lambda x, w=w: metalcore.rms_norm(x, (n,), w, 1e-6),
        "torch": lambda x, w=w: F.rms_norm(x, (n,), w, 1e-6),
    }
    hf = HFRMSNorm(n, device=device, dtype=dtype)
    with torch.no_grad():
        hf.weight.copy_(w.detach())
    if device == "cuda":
        impls["torch.compile(HF)"] = torch.compile(hf)
        try:
            from liger_kernel.transformers.rms_norm import LigerRMSNorm

            lg = LigerRMSNorm(n, eps=1e-6).to(device=device, dtype=dtype)
            with torch.no_grad():
                lg.weight.copy_(w.detach())
            impls["liger"] = lg
        except Exception as e:  # not installed here
            print(f"note: Liger-Kernel not available ({type(e).__name__}: {e})")
    return impls, w


def bench_shape(rows, n, device, dtype, copy_gbs):
    es = torch.finfo(dtype).bits // 8
    nbytes = rows * n * es
    n_inputs = max(2, int(2 * 50e6 // nbytes) + 1) if device == "cuda" else 1
    xs = [torch.randn(rows, n, device=device, dtype=dtype) for _ in range(n_inputs)]
    dys = [torch.randn(rows, n, device=device, dtype=dtype) for _ in range(n_inputs)]
    impls, w = implementations(n, device, dtype)
    out = []
    for name, f in impls.items():
        row = {"impl": name, "shape": f"{rows}x{n}", "dtype": str(dtype).replace("torch.", "")}
        with torch.no_grad():
            ms = common.time_fn(device, lambda i: f(xs[i]), n_inputs)
        row["fwd_us"] = ms * 1e3
        row["fwd_TB/s"] = 2 * nbytes / (ms * 1e-3) / 1e12
        xg = [x.clone().requires_grad_() for x in xs]
        params = [p for p in getattr(f, "parameters", lambda: [])()] or [w]

        def fb(i):
            # as in training (zero_grad(set_to_none=True)): no accumulation kernel into old grads
            xg[i].grad = None
            for p in params:
                p.grad = None
            y = f(xg[i])
            y.backward(dys[i])

        ms = common.time_fn(device, fb, n_inputs)
        row["fwd+bwd_us"] = ms * 1e3
        # fwd reads x, writes y; bwd reads x and dy, writes dx (weight traffic is negligible)
        row["fwd+bwd_TB/s"] = 5 * nbytes / (ms * 1e-3) / 1e12
        if copy_gbs:
            row["fwd_%copy"] = 100 * row["fwd_TB/s"] * 1e3 / copy_gbs
        del xg, params
        out.append(row)
    base = {r["impl"]: r for r in out}["metalcore"]
    for r in out:
        r["ours_fwd_speedup"] = r["fwd_us"] / base["fwd_us"]
        r["ours_fwd+bwd_speedup"] = r["fwd+bwd_us"] / base["fwd+bwd_us"]
    return out


def host_overhead(device, dtype):
    """Host time per call for a [4, 4096] input, ours and the torch counterpart timed by
    _prims.host_overhead_us (alternating batches, the median of each)."""
    x = torch.randn(4, 4096, device=device, dtype=dtype)
    w = torch.rand(4096, device=device, dtype=dtype)
    mod = metalcore.MetalRMSNorm(4096, device=device, dtype=dtype)
    ref = torch.nn.RMSNorm(4096, eps=1e-6, device=device, dtype=dtype)
    res = {}
    with torch.no_grad():
        res["metalcore.rms_norm (no grad)"], res["F.rms_norm (no grad)"] = _prims.host_overhead_us(
            device, lambda: metalcore.rms_norm(x, (4096,), w, 1e-6), lambda: F.rms_norm(x, (4096,), w, 1e-6))
    res["MetalRMSNorm module (grad)"], res["torch.nn.RMSNorm module (grad)"] = _prims.host_overhead_us(
        device, lambda: mod(x), lambda: ref(x))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if metalcore.cuda_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="small shapes, for a CPU smoke run")
    args = ap.parse_args()
    dev = args.device
    if args.quick:
        shapes = [(256, 1024, torch.float32)]
    elif dev == "cuda":
        shapes = [(16384, 4096, torch.bfloat16), (16384, 4096, torch.float16), (16384, 4096, torch.float32),
                  (65536, 1024, torch.bfloat16), (4096, 16384, torch.bfloat16), (4096, 8192, torch.bfloat16)]
    else:
        shapes = [(1024, 4096, torch.float32), (1024, 4096, torch.bfloat16)]
    copy_gbs = common.copy_bandwidth_gbs() if dev == "cuda" else None
    if copy_gbs:
        print(f"device-to-device copy: {copy_gbs:.0f} GB/s (read + write)")
    rows = []
    for r, n, dt in shapes:
        rows += bench_shape(r, n, dev, dt, copy_gbs)
    ov = host_overhead(dev, torch.bfloat16 if dev == "cuda" else torch.float32)
    for k, v in ov.items():
        print(f"host overhead, [4, 4096]: {k}: {v:.2f} us/call")
    print(f"metalcore - torch (no grad): {ov['metalcore.rms_norm (no grad)'] - ov['F.rms_norm (no grad)']:+.2f} us/call; "
          f"module with grad: {ov['MetalRMSNorm module (grad)'] - ov['torch.nn.RMSNorm module (grad)']:+.2f} us/call")
    common.write_results("rmsnorm", dev, rows, {"copy_GBs": copy_gbs, "host_overhead_us": ov})


if __name__ == "__main__":
    main()
