"""Shared pieces of the transformer-primitive benches (bench_activations, bench_softmax,
bench_add_rmsnorm): argument parsing, input rotation beyond L2, timing of ours vs peers into rows,
and host overhead per call on tiny inputs."""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

L2_BYTES = 50 << 20  # H100: 50 MB; rotating through > 2x that defeats it


def parse(description: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="small shapes, few iterations (CPU smoke run)")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile peers")
    return ap.parse_args()


def n_rotations(device: str, bytes_per_set: int) -> int:
    if device != "cuda":
        return 1
    return max(1, min(16, -(-3 * L2_BYTES // max(bytes_per_set, 1))))


def try_compile(fn, enabled: bool):
    if not enabled:
        return None
    try:
        return torch.compile(fn)
    except Exception as e:  # noqa: BLE001
        print(f"note: torch.compile unavailable ({e}); skipped")
        return None


def time_impls(device, impls, n_inputs, nbytes, base, copy_gbs, quick):
    """impls: list of (name, fn(i)); returns one row per impl with ms, GB/s, % of copy bandwidth,
    and ours' speed-up over each peer (peer ms / ours ms)."""
    kw = {"warmup": 1, "iters": 3} if quick else {}
    rows, ours = [], None
    for name, fn in impls:
        if fn is None:
            continue
        try:
            ms = common.time_fn(device, fn, n_inputs, **kw)
        except Exception as e:  # noqa: BLE001
            print(f"note: {name} failed on {base}: {type(e).__name__}: {e}")
            continue
        gbs = nbytes / (ms * 1e-3) / 1e9
        row = {**base, "impl": name, "ms": ms, "GB/s": gbs}
        if copy_gbs:
            row["%copy"] = 100.0 * gbs / copy_gbs
        if name == "metalcore":
            ours = ms
        rows.append(row)
    for r in rows:
        r["ours_speedup"] = (r["ms"] / ours) if ours else None
    return rows


def host_overhead_us(device, ours, ref, calls: int = 2000, batches: int = 10) -> tuple[float, float]:
    """Wall time per call of ours() and of ref() (the torch op it replaces) on a tiny input, in us:
    batches of calls / batches calls, ours and ref ALTERNATING, the device synchronised before and
    after each batch (on CUDA the kernels are a few microseconds, so this is the host cost: Python
    + dispatch + launch); the median batch of each. Alternating batches let a drift of the host's
    speed hit both alike, and the median keeps one stall of the host (a collection, another
    process) off the figure: timed one after the other, with a mean over all 2000 calls, metal_gelu
    once read +28 us over F.gelu (s8 run 5; +2.5 to +4 in other runs), what one ~55 ms stall
    inside its loop would give, and softmax's difference moved between +1.2 and +4.6 us from run to
    run (s8 runs 5, 6)."""
    for _ in range(50):
        ours()
        ref()
    per = max(1, calls // batches)
    times = ([], [])
    for _ in range(batches):
        for fn, out in ((ours, times[0]), (ref, times[1])):
            if device == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(per):
                fn()
            if device == "cuda":
                torch.cuda.synchronize()
            out.append((time.perf_counter() - t0) / per * 1e6)
    return tuple(sorted(t)[len(t) // 2] for t in times)


def copy_bw(device: str, quick: bool):
    if device != "cuda":
        return None
    return common.copy_bandwidth_gbs(device, 256 << 20 if quick else 1 << 30)
