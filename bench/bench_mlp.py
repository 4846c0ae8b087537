"""fused_swiglu_mlp against a Hugging Face LlamaMLP-style eager MLP (down(silu(gate(x)) * up(x))),
forward+backward, and with LoRA on all three projections against a PEFT-style eager implementation
(base(x) + B(A(x)) * scale, base weights frozen). Reports time, the ratio, and peak activation
memory (torch.cuda.max_memory_allocated during fwd+bwd minus what was allocated before: params,
inputs; minus the weight gradients produced).

    python bench/bench_mlp.py                 # H100, bf16, Llama-3-8B MLP: T=8192, D=4096, I=14336
    python bench/bench_mlp.py --quick         # CPU, small shapes

Targets (issue 7): plain >= 1.15x with peak activation memory <= 60% of HF's; LoRA r=16 >= 1.3x.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import time_fn, write_results  # noqa: E402

import metalcore  # noqa: E402
from metalcore.mlp import swiglu_mlp_no_residual  # noqa: E402


def hf_mlp(x, wg, wu, wd, lora, scale):
    def lin(inp, w, a, b):
        y = F.linear(inp, w)
        if a is not None:
            y = y + F.linear(F.linear(inp, a), b) * scale
        return y
    return lin(F.silu(lin(x, wg, lora[0], lora[1])) * lin(x, wu, lora[2], lora[3]), wd, lora[4], lora[5])


def ours_mlp(x, wg, wu, wd, lora, scale):
    return swiglu_mlp_no_residual(x, wg, wu, wd, lora=lora, lora_scale=scale)


def setup(t, d, i, r, dtype, device, lora_on):
    g = torch.Generator(device="cpu").manual_seed(0)

    def p(*s, grad, std):
        return (torch.randn(*s, generator=g) * std).to(device=device, dtype=dtype).requires_grad_(grad)

    base_grad = not lora_on
    wg, wu = p(i, d, grad=base_grad, std=d ** -0.5), p(i, d, grad=base_grad, std=d ** -0.5)
    wd = p(d, i, grad=base_grad, std=i ** -0.5)
    lora = (None,) * 6
    if lora_on:
        lora = (p(r, d, grad=True, std=d ** -0.5), p(i, r, grad=True, std=0.02), p(r, d, grad=True, std=d ** -0.5),
                p(i, r, grad=True, std=0.02), p(r, i, grad=True, std=i ** -0.5), p(d, r, grad=True, std=0.02))
    x = p(t, d, grad=True, std=1.0)
    dy = torch.randn(t, d, generator=g).to(device=device, dtype=dtype)
    return x, wg, wu, wd, lora, dy


def step(fn, x, wg, wu, wd, lora, dy, scale):
    for tns in (x, wg, wu, wd, *lora):
        if tns is not None:
            tns.grad = None
    fn(x, wg, wu, wd, lora, scale).backward(dy)


def peak_activation_bytes(fn, args, scale):
    x, wg, wu, wd, lora, dy = args
    step(fn, x, wg, wu, wd, lora, dy, scale)  # warm (allocator, cuBLAS workspaces)
    for tns in (x, wg, wu, wd, *lora):
        if tns is not None:
            tns.grad = None
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    fn(x, wg, wu, wd, lora, scale).backward(dy)
    torch.cuda.synchronize()
    grads = sum(t.grad.numel() * t.grad.element_size() for t in (x, wg, wu, wd, *lora)
                if t is not None and t.grad is not None and t is not x)
    return torch.cuda.max_memory_allocated() - before - grads


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CPU, small shapes")
    ap.add_argument("--device", default=None)
    ap.add_argument("--tokens", type=int, default=None)
    ap.add_argument("--rank", type=int, default=16)
    args = ap.parse_args()
    device = args.device or ("cpu" if args.quick or not metalcore.cuda_available() else "cuda")
    if args.quick:
        t, d, i, dtype = args.tokens or 256, 256, 704, torch.float32
    else:
        t, d, i, dtype = args.tokens or 8192, 4096, 14336, torch.bfloat16
    scale = 2.0
    rows = []
    for lora_on in (False, True):
        a = setup(t, d, i, args.rank, dtype, device, lora_on)
        kw = dict(warmup=1, iters=3) if args.quick else dict(warmup=3, iters=10)
        res = {}
        for name, fn in (("hf_eager" if not lora_on else "peft_eager", hf_mlp), ("metalcore", ours_mlp)):
            ms = time_fn(device, lambda _i, fn=fn: step(fn, *a[:5], a[5], scale), **kw)
            mem = peak_activation_bytes(fn, a, scale) if device == "cuda" else None
            res[name] = (ms, mem)
        (pn, (pms, pmem)), (_, (oms, omem)) = list(res.items())
        flops = 3 * 2 * 2 * t * d * i * (1 if lora_on else 1.5)  # fwd 3 GEMMs, bwd 6 (3 with frozen base)
        rows.append({"case": f"T={t} D={d} I={i} {str(dtype)[6:]}" + (f" LoRA r={args.rank} (base frozen)" if lora_on else ""),
                     "peer": pn, "peer_ms": pms, "ours_ms": oms, "speedup": pms / oms,
                     "ours_TFLOPs": flops / (oms * 1e-3) / 1e12,
                     "peer_act_MiB": pmem / 2**20 if pmem is not None else None,
                     "ours_act_MiB": omem / 2**20 if omem is not None else None,
                     "mem_ratio": (omem / pmem) if pmem else None,
                     "target": ">=1.3x" if lora_on else ">=1.15x, mem <=0.6"})
        del a
    write_results("mlp", device, rows)


if __name__ == "__main__":
    main()
