"""RoPE (apply_rotary_pos_emb, split-half): metalcore vs Hugging Face's eager formula, torch.compile
of it, and Liger's liger_rotary_pos_emb when importable; forward and forward+backward, plus the
host overhead per call on a tiny input.

    python bench/bench_rope.py [--device cuda|cpu] [--quick]
"""
import argparse
import time

import torch

import metalcore
from common import copy_bandwidth_gbs, time_fn, write_results


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def hf_rope(q, k, cos, sin, position_ids=None, unsqueeze_dim=1):
    """transformers' apply_rotary_pos_emb, verbatim in substance."""
    cos, sin = cos.unsqueeze(unsqueeze_dim), sin.unsqueeze(unsqueeze_dim)
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


def peers():
    out = {"metalcore": metalcore.apply_rotary_pos_emb, "hf_eager": hf_rope,
           "torch_compile": torch.compile(hf_rope)}
    try:
        from liger_kernel.transformers.rope import liger_rotary_pos_emb
        out["liger"] = liger_rotary_pos_emb
    except Exception as e:  # not installed here: skipped, said so
        print(f"note: Liger not importable ({type(e).__name__}); its column is skipped")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    dev = args.device
    dtype = torch.bfloat16
    b, hq, hk, s, d = (1, 4, 2, 128, 128) if args.quick else (8, 32, 8, 2048, 128)
    n_sets = 2  # q+k+outputs of one set are > 300 MB at full size: two sets rotate beyond L2
    sets = []
    for _ in range(n_sets):
        q = torch.randn(b, hq, s, d, device=dev, dtype=dtype)
        k = torch.randn(b, hk, s, d, device=dev, dtype=dtype)
        ang = torch.rand(b, s, d // 2, device=dev) * 6
        ang = torch.cat((ang, ang), -1)
        sets.append((q, k, ang.cos().to(dtype), ang.sin().to(dtype)))
    qk_bytes = (sets[0][0].numel() + sets[0][1].numel()) * 2
    cs_bytes = 2 * sets[0][2].numel() * 2
    fwd_bytes = 2 * qk_bytes + cs_bytes  # q, k read; outputs written; cos, sin read once
    bwd_bytes = 2 * qk_bytes + cs_bytes
    fns = peers()
    # correctness gate before timing: everyone agrees with HF eager (bf16 rounding apart)
    q, k, c, sn = sets[0]
    ref = hf_rope(q.float(), k.float(), c.float(), sn.float())
    for name, f in fns.items():
        qe, ke = f(q, k, c, sn)
        err = max((qe.float() - ref[0]).abs().max().item(), (ke.float() - ref[1]).abs().max().item())
        print(f"{name}: max abs error vs fp32 HF = {err:.3g}")
    rows, times = [], {}
    for name, f in fns.items():
        ms_f = time_fn(dev, lambda i: f(*sets[i % n_sets]), n_sets)
        gsets = []
        for (q, k, c, sn) in sets:
            qg, kg = q.clone().requires_grad_(True), k.clone().requires_grad_(True)
            gsets.append((qg, kg, c, sn, torch.randn_like(q), torch.randn_like(k)))

        def fb(i, f=f):
            qg, kg, c, sn, gq, gk = gsets[i % n_sets]
            qe, ke = f(qg, kg, c, sn)
            torch.autograd.grad((qe, ke), (qg, kg), (gq, gk))

        ms_fb = time_fn(dev, fb, n_sets)
        times[name] = (ms_f, ms_fb)
        rows.append({"impl": name, "fwd_us": ms_f * 1e3, "fwd_TB/s": fwd_bytes / ms_f / 1e9,
                     "fwd+bwd_us": ms_fb * 1e3, "fwd+bwd_TB/s": (fwd_bytes + bwd_bytes) / ms_fb / 1e9})
    ours = times["metalcore"]
    for r in rows:
        r["fwd_speedup_of_ours"] = times[r["impl"]][0] / ours[0]
        r["fwd+bwd_speedup_of_ours"] = times[r["impl"]][1] / ours[1]
    # host overhead: tiny input, host clock per call (CUDA work is queued, not waited for)
    tq, tk = torch.randn(1, 1, 1, 128, device=dev, dtype=dtype), torch.randn(1, 1, 1, 128, device=dev, dtype=dtype)
    tc = torch.randn(1, 1, 128, device=dev, dtype=dtype)
    over = {}
    for name in ("metalcore", "hf_eager"):
        f = fns[name]
        for _ in range(50):
            f(tq, tk, tc, tc)
        t0 = time.perf_counter()
        for _ in range(2000):
            f(tq, tk, tc, tc)
        if dev == "cuda":
            torch.cuda.synchronize()
        over[name] = (time.perf_counter() - t0) / 2000 * 1e6
    print(f"host time per call on a tiny input: metalcore {over['metalcore']:.2f} us, HF eager {over['hf_eager']:.2f} us")
    extra = {"shape": f"q {b}x{hq}x{s}x{d}, k {b}x{hk}x{s}x{d}, cos/sin [{b},{s},{d}] bf16",
             "host_us_per_call": over}
    if dev == "cuda":
        extra["copy_GB/s"] = copy_bandwidth_gbs()
        print(f"device copy bandwidth {extra['copy_GB/s']:.0f} GB/s; targets: fwd >= 2.5 TB/s, fwd+bwd >= 2x torch.compile")
    write_results("rope", dev, rows, extra)


if __name__ == "__main__":
    main()
