"""Kernel timeline of metalcore.eigh_ex on CUDA (torch.profiler): each kernel's duration, start
and gap in one call, and the CUDA-event time around the call as bench_linalg_eig measures it.
Shows where the bench's time goes beyond the kernels' own (e.g. programmatic dependent launch
letting a kernel's blocks sit on the SMs while the one before still runs).
Run on the GPU machine: python bench/profile_eigh.py [n ...]   (batch 100 fp32; default 128 256)"""
import json
import os
import sys
import tempfile

import torch
from torch.profiler import ProfilerActivity, profile

import metalcore


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [128, 256]
    tmp = tempfile.mkdtemp()
    for n in sizes:
        A = torch.randn(100, n, n, device="cuda")
        A = A + A.mT
        for _ in range(5):
            metalcore.eigh_ex(A)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as p:
            for _ in range(10):
                metalcore.eigh_ex(A)
            torch.cuda.synchronize()
        path = os.path.join(tmp, f"trace_{n}.json")
        p.export_chrome_trace(path)
        ev = sorted((e for e in json.load(open(path))["traceEvents"] if e.get("cat") == "kernel"),
                    key=lambda e: e["ts"])
        per = {}
        for e in ev:
            per.setdefault(e["name"][:60], []).append(e["dur"])
        span = (ev[-1]["ts"] + ev[-1]["dur"] - ev[len(ev) // 2]["ts"]) / 5
        print(f"n={n}: {len(ev)} kernels in 10 calls; span of the last 5 calls {span:.1f} us per call")
        for k, v in per.items():
            print(f"   {sum(v) / len(v):8.1f} us x{len(v) // 10}  {k}")
        last = ev[-len(ev) // 10:]
        t0 = last[0]["ts"]
        print("   last call timeline (start, dur, gap before):")
        prev = None
        for e in last:
            gap = e["ts"] - (prev["ts"] + prev["dur"]) if prev else 0
            print(f"     {e['ts'] - t0:8.1f} {e['dur']:8.1f} {gap:7.1f}  {e['name'][:50]}")
            prev = e
        s = [torch.cuda.Event(enable_timing=True) for _ in range(30)]
        f = [torch.cuda.Event(enable_timing=True) for _ in range(30)]
        for i in range(30):
            s[i].record()
            metalcore.eigh_ex(A)
            f[i].record()
        torch.cuda.synchronize()
        ts = sorted(a.elapsed_time(b) for a, b in zip(s, f))
        print(f"   events around eigh_ex: median {ts[15]:.3f} ms", flush=True)


if __name__ == "__main__":
    main()
