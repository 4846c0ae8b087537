"""Softmax fwd (and fwd+bwd) against torch eager, torch.compile and Liger's softmax where installed:
16384 x 4096 bf16, 64 x 131072 and 1 x 262144 fp32, and a sweep of 512 .. 262144 columns at a
fixed element count, plotted to bench/results/softmax_sweep_<device>.png (matplotlib if importable)
to show there is no cliff. Bandwidth: fwd reads x and writes y; fwd+bwd adds dy, y read, dx written.
The target shapes also time "copy (floor)", y.copy_(x) of the same bytes: what the op cannot beat.
Run: python bench/bench_softmax.py [--device cuda|cpu] [--quick]"""
import os

import torch

import _prims
import common
import metalcore

try:
    from liger_kernel.ops.softmax import LigerSoftmaxFunction
except Exception:  # noqa: BLE001
    LigerSoftmaxFunction = None


def case(dev, args, copy, shape, dt, op="fwd", compiled=None, floor=False):
    nb = shape[0] * shape[1] * torch.finfo(dt).bits // 8
    k = _prims.n_rotations(dev, 2 * nb)
    xs = [torch.randn(shape, device=dev, dtype=dt) for _ in range(k)]
    liger = (lambda x: LigerSoftmaxFunction.apply(x)) if LigerSoftmaxFunction and dev == "cuda" else None
    peers = [("metalcore", lambda x: metalcore.fused_softmax(x, -1)), ("torch", lambda x: torch.softmax(x, -1)),
             ("torch.compile", compiled), ("liger", liger)]
    base = {"op": "softmax " + op, "shape": "x".join(map(str, shape)), "dtype": str(dt)[6:]}
    if op == "fwd":
        impls = [(n, (lambda i, f=f: f(xs[i])) if f else None) for n, f in peers]
        if floor:  # a device copy of the same bytes (x read, y written), timed the same way: the floor
            y = torch.empty_like(xs[0])
            impls.append(("copy (floor)", lambda i: y.copy_(xs[i])))
        return _prims.time_impls(dev, impls, k, 2 * nb, base, copy, args.quick)
    xr = [x.clone().requires_grad_() for x in xs]
    dy = torch.randn(shape, device=dev, dtype=dt)

    def fb(f):
        def run(i):
            xr[i].grad = None
            f(xr[i]).backward(dy)
        return run

    impls = [(n, fb(f) if f else None) for n, f in peers]
    return _prims.time_impls(dev, impls, k, 5 * nb, base, copy, args.quick)


def main():
    args = _prims.parse(__doc__.splitlines()[0])
    dev, quick = args.device, args.quick
    if LigerSoftmaxFunction is None:
        print("note: liger_kernel not importable; Liger peer skipped")
    copy = _prims.copy_bw(dev, quick)
    comp = _prims.try_compile(lambda x: torch.softmax(x, -1), not args.no_compile)
    bf16 = torch.bfloat16 if dev == "cuda" else torch.float32
    rows = []
    targets = [((256, 512), bf16), ((4, 8192), torch.float32), ((1, 65536), torch.float32)] if quick else \
        [((16384, 4096), bf16), ((64, 131072), torch.float32), ((1, 262144), torch.float32)]
    for shape, dt in targets:
        rows += case(dev, args, copy, shape, dt, "fwd", comp, floor=True)
    rows += case(dev, args, copy, targets[0][0], targets[0][1], "fwd+bwd", comp)

    # sweep at a fixed element count (64 MB of fp32; 1M elements with --quick)
    total = 1 << 20 if quick else 1 << 24
    sweep = []
    cols = 512
    while cols <= (65536 if quick else 262144):
        for dt in (torch.float32, bf16):
            r = case(dev, args, copy, (max(1, total // cols), cols), dt, "fwd", None)
            for x in r:
                x["cols"] = cols
            sweep += r
        cols *= 2
    rows += sweep

    t = torch.randn(4, 64, device=dev, dtype=bf16)
    o, p = _prims.host_overhead_us(dev, lambda: metalcore.fused_softmax(t, -1), lambda: torch.softmax(t, -1))
    rows.append({"op": "softmax overhead", "shape": "4x64", "dtype": str(bf16)[6:], "impl": "metalcore - torch",
                 "us_ours": o, "us_torch": p, "us_over": o - p})
    path = common.write_results("softmax", dev, rows, {"copy_GBps": copy})
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4.5))
        for impl in ("metalcore", "torch", "liger"):
            for dt in sorted({r["dtype"] for r in sweep}):
                pts = [(r["cols"], r["GB/s"]) for r in sweep if r["impl"] == impl and r["dtype"] == dt]
                if pts:
                    ax.plot(*zip(*pts), marker="o", label=f"{impl} {dt}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel(f"columns (rows x columns = {total})")
        ax.set_ylabel("GB/s (x read + y written)")
        ax.set_title(f"softmax fwd sweep, {common.card(dev)}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        png = os.path.join(os.path.dirname(path), f"softmax_sweep_{dev}.png")
        fig.savefig(png, dpi=120, bbox_inches="tight")
        print(f"plot -> {png}")
    except ImportError:
        print("note: matplotlib not importable; sweep plot skipped (numbers are in the JSON)")


if __name__ == "__main__":
    main()
