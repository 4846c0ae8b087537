"""Times the RMSNorm CUDA kernels alone (direct extension calls, preallocated outputs) for one
shape, so launch-configuration variants (MC_RMSNORM_FWD_VPT / MC_RMSNORM_BWD_VPT) can be compared
in separate processes. Usage: MC_RMSNORM_BWD_VPT=2 python bench/tune_rmsnorm.py [rows n dtype]"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

from metalcore import _C  # noqa: E402

rows, n = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (16384, 4096)
dt = getattr(torch, sys.argv[3]) if len(sys.argv) > 3 else torch.bfloat16
es = torch.finfo(dt).bits // 8
xs = [torch.randn(rows, n, device="cuda", dtype=dt) for _ in range(2)]
dys = [torch.randn(rows, n, device="cuda", dtype=dt) for _ in range(2)]
w = torch.rand(n, device="cuda", dtype=dt) + 0.5
y = torch.empty_like(xs[0])
dx = torch.empty_like(xs[0])
dw = torch.empty_like(w)
rstd = torch.empty(rows, device="cuda")
ws = torch.empty(_C.rmsnorm_backward_workspace_size(xs[0], w, True), dtype=torch.uint8, device="cuda")
fwd = common.time_cuda(lambda i: _C.rmsnorm_forward(xs[i], w, 1e-6, y, rstd), 2, warmup=10, iters=50)
bwd = common.time_cuda(lambda i: _C.rmsnorm_backward(dys[i], xs[i], w, rstd, dx, dw, ws), 2, warmup=10, iters=50)
nb = rows * n * es
print(f"{rows}x{n} {dt} FWD_VPT={os.environ.get('MC_RMSNORM_FWD_VPT', '-')} BWD_VPT={os.environ.get('MC_RMSNORM_BWD_VPT', '-')}: "
      f"fwd {fwd * 1e3:.1f} us {2 * nb / fwd / 1e9:.2f} TB/s | bwd {bwd * 1e3:.1f} us {3 * nb / bwd / 1e9:.2f} TB/s")
