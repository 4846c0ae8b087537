"""Kernel-level breakdown (torch.profiler) of one forward+backward of fused_swiglu_mlp and of the
Hugging Face-style eager MLP at the bench_mlp.py shapes: where the time goes, per kernel.

    python bench/profile_mlp.py [--lora]
"""
from __future__ import annotations

import argparse
import os
import sys

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_mlp import hf_mlp, ours_mlp, setup, step  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lora", action="store_true")
    args = ap.parse_args()
    shapes = (8192, 4096, 14336, 16)
    inputs = setup(*shapes, torch.bfloat16, "cuda", args.lora)
    x, wg, wu, wd, lora, dy = inputs
    for name, fn in (("hf", hf_mlp), ("ours", ours_mlp)):
        for _ in range(3):
            step(fn, x, wg, wu, wd, lora, dy, 2.0)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                step(fn, x, wg, wu, wd, lora, dy, 2.0)
            torch.cuda.synchronize()
        print(f"=== {name} (3 steps)")
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=14, max_name_column_width=70))


if __name__ == "__main__":
    main()
