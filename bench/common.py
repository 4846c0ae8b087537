"""Benchmark helpers shared by bench/*.py: timing with CUDA events (medians after warm-up),
rotation over input sets larger than L2, environment capture, and JSON/markdown output.

Results go to bench/results/<name>_<card>.json (or $MC_BENCH_OUT/<...> when set) with the card,
torch version and commit, so a number in the README can be traced to a run."""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from typing import Callable, Sequence

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def commit() -> str:
    if os.environ.get("MC_COMMIT"):
        return os.environ["MC_COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                              text=True, check=True).stdout.strip()
    except Exception:
        return "unknown"


def card(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"


def env_info(device: str) -> dict:
    return {"card": card(device), "torch": torch.__version__, "commit": commit(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def time_cuda(fn: Callable[[int], object], n_inputs: int = 1, warmup: int = 5, iters: int = 30) -> float:
    """Median milliseconds of fn(i) with CUDA events; i cycles over n_inputs input sets so each
    call can touch memory the previous one did not (keep n_inputs * bytes > L2).

    Events are recorded around every call but the host synchronises only once at the end, so the
    host runs ahead of the GPU and each interval is GPU time (as triton's do_bench measures). An
    op whose host work is slower than its kernels still shows that, as the GPU then idles between
    events. (Until commit 'bench: time with the host running ahead' each call was synchronised,
    which added the host's launch latency, ~10 us on the H100 machine, to every sample.)"""
    for i in range(warmup):
        fn(i % n_inputs)
    torch.cuda.synchronize()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
    for i in range(iters):
        starts[i].record()
        fn(i % n_inputs)
        ends[i].record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends))


def time_cpu(fn: Callable[[int], object], n_inputs: int = 1, warmup: int = 2, iters: int = 10) -> float:
    """Median milliseconds of fn(i) with a host clock."""
    for i in range(warmup):
        fn(i % n_inputs)
    times = []
    for i in range(iters):
        t0 = time.perf_counter()
        fn(i % n_inputs)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def time_fn(device: str, fn, n_inputs: int = 1, **kw) -> float:
    return time_cuda(fn, n_inputs, **kw) if device == "cuda" else time_cpu(fn, n_inputs, **kw)


def copy_bandwidth_gbs(device: str = "cuda", nbytes: int = 1 << 30) -> float:
    """Device-to-device copy rate, bytes read + written per second, in GB/s."""
    a = torch.empty(nbytes, dtype=torch.uint8, device=device)
    b = torch.empty_like(a)
    ms = time_cuda(lambda i: b.copy_(a), warmup=3, iters=10)
    del a, b
    return 2 * nbytes / (ms * 1e-3) / 1e9


def write_results(name: str, device: str, rows: Sequence[dict], extra: dict | None = None) -> str:
    """Writes rows (list of dicts) as JSON with the environment; prints a markdown table."""
    info = env_info(device)
    payload = {"bench": name, **info, **(extra or {}), "rows": list(rows)}
    out_dir = os.environ.get("MC_BENCH_OUT") or os.path.join(HERE, "results")
    os.makedirs(out_dir, exist_ok=True)
    slug = "".join(c if c.isalnum() else "-" for c in info["card"]).strip("-").lower()
    path = os.path.join(out_dir, f"{name}_{device}_{slug}.json")
    with open(path, "w") as f:
        json.dump(payload, f, indent=1)
    print(markdown_table(rows))
    print(f"card: {info['card']}  torch {info['torch']}  commit {info['commit']}  -> {path}")
    return path


def markdown_table(rows: Sequence[dict]) -> str:
    if not rows:
        return "(no rows)"
    cols = list(rows[0].keys())
    for r in rows[1:]:
        for k in r:
            if k not in cols:
                cols.append(k)

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(c)) for c in cols) + " |")
    return "\n".join(lines)
