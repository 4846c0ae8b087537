"""SiLU, GELU (none / tanh) and SwiGLU (fwd, fwd+bwd) against torch eager, torch.compile and Liger's
SiLU-mul where installed. Effective bandwidth counts each tensor read or written once:
SiLU/GELU fwd 2 passes; SwiGLU fwd 3 (gate, up, y), fwd+bwd 8 (+ dy, gate, up, dgate, dup).
Run: python bench/bench_activations.py [--device cuda|cpu] [--quick]"""
import torch
import torch.nn.functional as F

import _prims
import common
import metalcore

try:
    from liger_kernel.ops.swiglu import LigerSiLUMulFunction
except Exception:  # noqa: BLE001
    LigerSiLUMulFunction = None


def main():
    args = _prims.parse(__doc__.splitlines()[0])
    dev, quick = args.device, args.quick
    if LigerSiLUMulFunction is None:
        print("note: liger_kernel not importable; Liger peer skipped")
    copy = _prims.copy_bw(dev, quick)
    dt = torch.bfloat16 if dev == "cuda" else torch.float32
    rows = []

    # SiLU / GELU fwd, 16384 x 4096
    shape = (256, 512) if quick else (16384, 4096)
    nb = shape[0] * shape[1] * torch.finfo(dt).bits // 8
    k = _prims.n_rotations(dev, 2 * nb)
    xs = [torch.randn(shape, device=dev, dtype=dt) for _ in range(k)]
    for op, ours, ref in (
        ("silu", metalcore.metal_silu, F.silu),
        ("gelu", metalcore.metal_gelu, F.gelu),
        ("gelu_tanh", lambda x: metalcore.metal_gelu(x, "tanh"), lambda x: F.gelu(x, approximate="tanh")),
    ):
        comp = _prims.try_compile(ref, not args.no_compile)
        impls = [("metalcore", lambda i, f=ours: f(xs[i])), ("torch", lambda i, f=ref: f(xs[i])),
                 ("torch.compile", (lambda i, f=comp: f(xs[i])) if comp else None)]
        rows += _prims.time_impls(dev, impls, k, 2 * nb, {"op": op + " fwd", "shape": "x".join(map(str, shape)),
                                                          "dtype": str(dt)[6:]}, copy, quick)

    # SwiGLU, 16384 x 11008
    shape = (256, 688) if quick else (16384, 11008)
    nb = shape[0] * shape[1] * torch.finfo(dt).bits // 8
    k = _prims.n_rotations(dev, 3 * nb)
    gs = [torch.randn(shape, device=dev, dtype=dt) for _ in range(k)]
    us = [torch.randn(shape, device=dev, dtype=dt) for _ in range(k)]
    eager = lambda g, u: F.silu(g) * u  # noqa: E731
    comp = _prims.try_compile(eager, not args.no_compile)
    liger = (lambda g, u: LigerSiLUMulFunction.apply(g, u)) if LigerSiLUMulFunction and dev == "cuda" else None
    peers = [("metalcore", metalcore.swiglu), ("torch", eager), ("torch.compile", comp), ("liger", liger)]
    base = {"shape": "x".join(map(str, shape)), "dtype": str(dt)[6:]}
    impls = [(n, (lambda i, f=f: f(gs[i], us[i])) if f else None) for n, f in peers]
    rows += _prims.time_impls(dev, impls, k, 3 * nb, {"op": "swiglu fwd", **base}, copy, quick)
    gr = [g.clone().requires_grad_() for g in gs]
    ur = [u.clone().requires_grad_() for u in us]
    dy = torch.randn(shape, device=dev, dtype=dt)

    def fb(f):
        def run(i):
            gr[i].grad = ur[i].grad = None
            f(gr[i], ur[i]).backward(dy)
        return run

    impls = [(n, fb(f) if f else None) for n, f in peers]
    rows += _prims.time_impls(dev, impls, k, 8 * nb, {"op": "swiglu fwd+bwd", **base}, copy, quick)

    # host overhead on tiny inputs (us per call), ours vs the torch op it replaces
    t = torch.randn(4, 64, device=dev, dtype=dt)
    for op, ours, ref in (("silu", lambda: metalcore.metal_silu(t), lambda: F.silu(t)),
                          ("gelu", lambda: metalcore.metal_gelu(t), lambda: F.gelu(t)),
                          ("swiglu packed", lambda: metalcore.swiglu(t), lambda: F.silu(t[:, :32]) * t[:, 32:])):
        o, r = _prims.host_overhead_us(dev, ours, ref)
        rows.append({"op": op + " overhead", "shape": "4x64", "dtype": str(dt)[6:], "impl": "metalcore - torch",
                     "us_ours": o, "us_torch": r, "us_over": o - r})
    common.write_results("activations", dev, rows, {"copy_GBps": copy})


if __name__ == "__main__":
    main()
