"""MetalAdamW: a drop-in for torch.optim.AdamW whose step is one fused multi-tensor launch per
(device, dtype) over every parameter, AMP-aware (takes `grad_scale` / `found_inf` from
torch.amp.GradScaler as torch's fused AdamW does) and CUDA-graph capturable.

Same param groups and state layout as torch.optim.AdamW ('step', 'exp_avg', 'exp_avg_sq',
'max_exp_avg_sq'), so state_dict() loads into torch.optim.AdamW and back. Differences, all
documented: moments are always float32 (torch keeps them in the param dtype; loading casts), the
step count lives on the param's device as float32 (as torch's fused/capturable layout), and
`master_weights=True` adds 'master_param' (fp32 copy of a 16-bit param).

Per-step host work is kept small for many tensors: the kernel reads a device-resident plan
(tensor pointers + block map) built once and cached until the parameter set changes; each step
only collects the gradient pointers (in C) and uploads them when they changed.
"""
from __future__ import annotations

import struct
from typing import Optional

import torch
from torch import Tensor

from . import _C

__all__ = ["MetalAdamW"]

_GROUP = struct.Struct("<5dQii")  # mc_adamw_group (include/metalcore/adamw.h), 56 bytes
_LOW = (torch.float16, torch.bfloat16)
_SUPPORTED = (torch.float32, torch.float16, torch.bfloat16)


def _is_dtensor(t) -> bool:
    return hasattr(t, "_local_tensor") and type(t).__name__ == "DTensor"


def _local(t):
    """The tensor the kernel touches: a DTensor's local shard (FSDP2), else the tensor itself."""
    return t._local_tensor if _is_dtensor(t) else t


def _scalar(x) -> float:
    return float(x.item()) if isinstance(x, Tensor) else float(x)


def _host_buffer(numel: int, device: torch.device, dtype=torch.uint8) -> Tensor:
    """Host staging memory: pinned for CUDA (so the upload is asynchronous; torch's caching host
    allocator does not reuse it before the copy has run), plain for the CPU backend."""
    return torch.empty(numel, dtype=dtype, pin_memory=device.type == "cuda")


def _to_device(host: Tensor, device: torch.device, dev: Optional[Tensor] = None) -> Tensor:
    if device.type == "cpu":
        return host
    if dev is None or dev.numel() != host.numel():
        dev = torch.empty(host.shape, dtype=host.dtype, device=device)
    dev.copy_(host, non_blocking=True)
    return dev


class _Bucket:
    """All params of one (device, dtype), in param-group order."""

    def __init__(self, device, dtype):
        self.device, self.dtype = device, dtype
        self.params, self.gids = [], []
        self.dtensor = False


class MetalAdamW(torch.optim.Optimizer):
    """torch.optim.AdamW with one fused step (see the module docstring).

    foreach / fused: we are always fused. fused=None or True and foreach=None or False are
    accepted; fused=False or foreach=True ask for an implementation we do not have and raise.
    differentiable=True raises (no autograd through the step). capturable=True is honoured: the
    step never synchronises, lr may be a device tensor, and the step counts live on the device,
    so a step can be captured in a CUDA graph (capturable=False gives the same numbers)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None, master_weights=False):
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if len(betas) != 2:
            raise ValueError(f"betas must have two entries, got {betas}")
        for i, b in enumerate(betas):
            if isinstance(b, Tensor) and b.numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
            if not 0.0 <= b < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {b}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        betas = (_scalar(betas[0]), _scalar(betas[1]))
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused, decoupled_weight_decay=True,
                        master_weights=master_weights)
        self._buckets: Optional[list] = None
        super().__init__(params, defaults)
        self._step_supports_amp_scaling = True

    # ---- options -----------------------------------------------------------------------------

    @staticmethod
    def _check_group(group):
        if group.get("differentiable"):
            raise RuntimeError("MetalAdamW does not support differentiable=True (its step is a fused "
                               "kernel with no autograd); use torch.optim.AdamW")
        if group.get("fused") is False:
            raise RuntimeError("MetalAdamW is always fused; fused=False is not available (use "
                               "torch.optim.AdamW for the unfused implementation)")
        if group.get("foreach"):
            raise RuntimeError("MetalAdamW is always fused; `fused` and `foreach` cannot be True "
                               "together")
        if not group.get("decoupled_weight_decay", True):
            raise RuntimeError("MetalAdamW implements decoupled weight decay only")
        for p in group["params"]:
            if _local(p).dtype not in _SUPPORTED:
                raise TypeError(f"MetalAdamW supports float32, float16 and bfloat16 params, not "
                                f"{_local(p).dtype}")
            if _local(p).device.type not in ("cpu", "cuda"):
                raise ValueError(f"MetalAdamW runs on cpu and cuda, not {_local(p).device}")
            if not _local(p).is_contiguous():
                raise ValueError("MetalAdamW needs contiguous parameters (got one with strides "
                                 f"{tuple(_local(p).stride())})")

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        self._check_group(self.param_groups[-1])
        self._buckets = None

    def __setstate__(self, state):
        super().__setstate__(state)
        self._buckets = None

    def load_state_dict(self, state_dict):
        saved = state_dict["state"]
        ids = [i for g in state_dict["param_groups"] for i in g["params"]]
        super().load_state_dict(state_dict)
        for g in self.param_groups:
            g.setdefault("master_weights", False)
            g["decoupled_weight_decay"] = True
            self._check_group(g)
        params = [p for g in self.param_groups for p in g["params"]]
        # torch's loader casts floating state to the param dtype; our moments are float32, so take
        # them again from the saved dict at full precision.
        with torch.no_grad():
            for i, p in zip(ids, params):
                if i not in saved:
                    continue
                st = self.state[p]
                for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "master_param"):
                    if k in saved[i]:
                        st[k] = saved[i][k].to(device=p.device, dtype=torch.float32).contiguous()
                # A master copy is only valid while it rounds to the param (the state may have
                # been trained further by an optimizer that does not know it): else rebuild it.
                if "master_param" in st and not torch.equal(st["master_param"].to(p.dtype), p.detach()):
                    st["master_param"] = p.detach().float().clone()
        self._buckets = None

    # ---- plan (cached between steps) ---------------------------------------------------------

    def _init_state(self, p, group):
        st = self.state[p]
        if len(st) == 0 or "exp_avg" not in st:
            st["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
            st["exp_avg"] = torch.zeros_like(p, dtype=torch.float32, memory_format=torch.contiguous_format)
            st["exp_avg_sq"] = torch.zeros_like(p, dtype=torch.float32, memory_format=torch.contiguous_format)
        for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "master_param"):
            if k in st and (st[k].dtype != torch.float32 or not _local(st[k]).is_contiguous()):
                st[k] = st[k].to(torch.float32).contiguous()
        if group["amsgrad"] and "max_exp_avg_sq" not in st:
            st["max_exp_avg_sq"] = torch.zeros_like(st["exp_avg"])
        if group["master_weights"] and p.dtype in _LOW and "master_param" not in st:
            st["master_param"] = p.detach().float().contiguous()
        return st

    def _build(self):
        buckets = {}
        for gi, group in enumerate(self.param_groups):
            for p in group["params"]:
                lp = _local(p)
                key = (lp.device, lp.dtype)
                if key not in buckets:
                    buckets[key] = _Bucket(lp.device, lp.dtype)
                b = buckets[key]
                b.params.append(p)
                b.gids.append(gi)
                b.dtensor |= _is_dtensor(p)
        amsgrad = tuple(bool(g["amsgrad"]) for g in self.param_groups)
        for b in buckets.values():
            has = [p.grad is not None for p in b.params]
            for p in b.params:
                if p.grad is not None and p.grad.is_sparse:
                    raise RuntimeError("MetalAdamW does not support sparse gradients (as "
                                       "torch.optim.AdamW); please consider SparseAdam instead")
            planned = [(p, gi) for p, gi, h in zip(b.params, b.gids, has) if h]
            states = [self._init_state(p, self.param_groups[gi]) for p, gi in planned]
            n = len(planned)
            b.has_grad = torch.tensor(has, dtype=torch.uint8)
            b.n = n
            if n == 0:
                continue
            # One float32 step storage per bucket; state['step'] are 0-d views into it, so
            # state_dict() still holds one 'step' tensor per param while the kernel advances all
            # of them in one launch.
            old = [st["step"] for st in states]
            on_dev = [s.detach().reshape(()).to(b.device, torch.float32) for s in old]
            b.steps = torch.stack(on_dev) if n else torch.zeros(0, device=b.device)
            for i, st in enumerate(states):
                st["step"] = b.steps[i]
            loc = lambda k: [None if k not in st else _local(st[k]) for st in states]
            args = ([_local(p) for p, _ in planned], loc("exp_avg"), loc("exp_avg_sq"),
                    loc("max_exp_avg_sq") if any(amsgrad) else None,
                    loc("master_param") if b.dtype in _LOW else None,
                    [b.steps[i] for i in range(n)], [gi for _, gi in planned], amsgrad)
            nbytes, b.n_chunks = _C.adamw_plan(None, *args, True)
            host = _host_buffer(nbytes, b.device)
            _C.adamw_plan(host, *args, False)
            b.plan_host = host  # held: the device copy (and any captured graph) reads from it
            b.plan = _to_device(host, b.device)
            b.numels = torch.tensor([_local(p).numel() for p, _ in planned], dtype=torch.int64)
            b.grads_host = None
            b.grads = None
            b.param0 = _local(planned[0][0])
        self._buckets = list(buckets.values())
        self._params_seen = [list(g["params"]) for g in self.param_groups]
        self._groups_key = {}
        self._groups_host = {}
        self._groups_dev = {}

    def _plan_valid(self) -> bool:
        if self._buckets is None or len(self._params_seen) != len(self.param_groups):
            return False
        return all(g["params"] == s for g, s in zip(self.param_groups, self._params_seen))

    def _groups_for(self, device: torch.device) -> Tensor:
        """The mc_adamw_group array on `device`, re-uploaded only when a hyperparameter changed."""
        parts, keep = [], []
        for g in self.param_groups:
            lr, ptr = g["lr"], 0
            if isinstance(lr, Tensor) and lr.device.type != "cpu":
                lt = lr.detach().reshape(())
                if lt.device != device or lt.dtype != torch.float32:
                    lt = lt.to(device=device, dtype=torch.float32)
                keep.append(lt)
                ptr, lr = lt.data_ptr(), 0.0
            b1, b2 = g["betas"]
            parts.append(_GROUP.pack(_scalar(lr), _scalar(b1), _scalar(b2), float(g["eps"]),
                                     float(g["weight_decay"]), ptr, int(bool(g["amsgrad"])),
                                     int(bool(g["maximize"]))))
        key = b"".join(parts)
        if self._groups_key.get(device) != key:
            host = _host_buffer(len(key), device)
            host.copy_(torch.frombuffer(bytearray(key), dtype=torch.uint8))
            self._groups_host[device] = host  # held (graph replays read it)
            self._groups_dev[device] = _to_device(host, device, self._groups_dev.get(device))
            self._groups_key[device] = key
        self._lr_keep = keep
        return self._groups_dev[device]

    # ---- step --------------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if not self._plan_valid():
            self._build()
        grad_scale = getattr(self, "grad_scale", None)
        found_inf = getattr(self, "found_inf", None)
        for attempt in range(2):
            ready = []
            for b in self._buckets:
                if b.dtensor:
                    grads = [None if p.grad is None else _local(p.grad) for p in b.params]
                else:
                    grads = [p.grad for p in b.params]
                if b.n == 0:
                    if any(g is not None for g in grads):
                        break
                    continue
                host = _host_buffer(b.n, b.device, torch.int64)
                r = _C.adamw_collect_grads(grads, b.has_grad, b.numels, host, b.grads_host, torch.strided)
                if r < 0:
                    break
                if r == 1:
                    b.grads_host = host
                    b.grads = _to_device(host, b.device, b.grads)
                ready.append(b)
            else:
                break
            self._build()  # the set of params with gradients changed
        else:
            raise RuntimeError("MetalAdamW: the parameters' gradients changed during the step")
        scales, infs = {}, {}
        for b in ready:
            dev = b.device
            gs = fi = None
            if grad_scale is not None:
                gs = scales.setdefault(dev, grad_scale.to(dev, torch.float32, non_blocking=True).reshape(()))
            if found_inf is not None:
                fi = infs.setdefault(dev, found_inf.to(dev, torch.float32, non_blocking=True).reshape(()))
            groups = self._groups_for(dev)
            _C.adamw_step(b.plan, b.n, b.n_chunks, b.grads, groups, len(self.param_groups), b.param0, gs, fi)
        return loss
