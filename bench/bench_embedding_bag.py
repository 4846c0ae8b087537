"""EmbeddingBag sum: metalcore vs torch (F.embedding_bag) in one run; forward (with and without the
index-validation sync), backward (atomic default and deterministic), and host overhead.

    python bench/bench_embedding_bag.py [--device cuda|cpu] [--quick] [--mode sum|mean|max]
"""
import argparse
import time

import torch
import torch.nn.functional as F

import metalcore
from common import time_fn, write_results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--mode", default="sum", choices=["sum", "mean", "max"])
    args = ap.parse_args()
    dev, mode = args.device, args.mode
    num, d, nb, L = (10000, 128, 1024, 20) if args.quick else (1 << 20, 128, 65536, 20)
    w = torch.randn(num, d, device=dev)  # 512 MB at full size: random rows miss L2 anyway
    n_sets = 4
    sets = []
    for _ in range(n_sets):
        idx = torch.randint(0, num, (nb * L,), device=dev)
        offs = torch.arange(0, nb * L, L, device=dev)
        sets.append((idx, offs))
    gathered = nb * L * d * 4
    fwd_bytes = gathered + nb * d * 4 + nb * L * 8 * 2
    impls = {
        "torch": lambda ww, i, o, **kw: F.embedding_bag(i, ww, o, mode=mode),
        "metalcore": lambda ww, i, o, **kw: metalcore.embedding_bag(i, ww, o, mode=mode, validate=False, **kw),
        "metalcore_validate": lambda ww, i, o, **kw: metalcore.embedding_bag(i, ww, o, mode=mode, **kw),
    }
    idx, offs = sets[0]
    ref = F.embedding_bag(idx, w, offs, mode=mode)
    for name, f in impls.items():
        print(f"{name}: max abs diff vs torch = {(f(w, idx, offs) - ref).abs().max().item():.3g}")
    rows, fwd = [], {}
    for name, f in impls.items():
        ms = time_fn(dev, lambda i, f=f: f(w, *sets[i % n_sets]), n_sets)
        fwd[name] = ms
        rows.append({"impl": name, "pass": "fwd", "us": ms * 1e3, "gathered_TB/s": fwd_bytes / ms / 1e9})
    # backward only: one graph per input set, back-propagated repeatedly (retain_graph)
    wg = w.clone().requires_grad_(True)
    bwd = {}
    variants = [("torch", impls["torch"], {}), ("metalcore_atomic", impls["metalcore"], {"deterministic": False}),
                ("metalcore_deterministic", impls["metalcore"], {"deterministic": True})]
    for name, f, kw in variants:
        outs = [f(wg, *sets[i], **kw) for i in range(n_sets)]
        g = torch.randn_like(outs[0])
        ms = time_fn(dev, lambda i: torch.autograd.grad(outs[i % n_sets], wg, g, retain_graph=True), n_sets)
        bwd[name] = ms
        rows.append({"impl": name, "pass": "bwd", "us": ms * 1e3})
        del outs
    for r in rows:
        if r["pass"] == "fwd":
            r["torch_over_ours"] = fwd["torch"] / r["us"] * 1e3
        else:
            r["torch_over_ours"] = bwd["torch"] / r["us"] * 1e3
    # deterministic really is bit-identical
    o1 = metalcore.embedding_bag(idx, wg, offs, mode=mode, deterministic=True)
    g1 = torch.autograd.grad(o1, wg, torch.ones_like(o1))[0]
    g2 = torch.autograd.grad(metalcore.embedding_bag(idx, wg, offs, mode=mode, deterministic=True), wg, torch.ones_like(o1))[0]
    print(f"deterministic backward bit-identical across two runs: {torch.equal(g1, g2)}")
    # host overhead on a tiny input
    tw = torch.randn(16, 8, device=dev)
    ti, to = torch.tensor([1, 2, 3, 4], device=dev), torch.tensor([0, 2], device=dev)
    over = {}
    for name in ("torch", "metalcore"):
        f = impls[name]
        for _ in range(50):
            f(tw, ti, to)
        t0 = time.perf_counter()
        for _ in range(2000):
            f(tw, ti, to)
        if dev == "cuda":
            torch.cuda.synchronize()
        over[name] = (time.perf_counter() - t0) / 2000 * 1e6
    print(f"host time per call on a tiny input: metalcore (validate=False) {over['metalcore']:.2f} us, torch {over['torch']:.2f} us")
    if dev == "cuda":
        print("targets: fwd >= 1.3x torch, bwd >= 2x torch")
    write_results(f"embedding_bag_{mode}", dev, rows,
                  {"shape": f"{num}x{d} fp32, {nb} bags of {L}, mode {mode}", "host_us_per_call": over})


if __name__ == "__main__":
    main()
