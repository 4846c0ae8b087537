"""Easy mode: `enable_pytorch_overrides()` puts metalcore behind torch's own names.

| torch name                     | replaced by                          | routed to metalcore when          |
|--------------------------------|--------------------------------------|-----------------------------------|
| torch.nn.RMSNorm               | a MetalRMSNorm subclass with torch's  | measured faster (else F.rms_norm) |
|                                | defaults (eps=None)                  |                                   |
| torch.optim.AdamW              | a MetalAdamW subclass                | every option MetalAdamW has       |
| torch.nn.functional.silu       | metal_silu (inplace honoured)        | measured faster                   |
| torch.nn.functional.softmax    | fused_softmax (dim, dtype honoured)  | dim given and measured faster     |
| torch.nn.functional.embedding_bag | metalcore.embedding_bag           | mode='sum', measured faster       |
| torch.linalg.svd               | metalcore.svd (Vh = V.mT)            | measured faster, no out=/driver=  |
| torch.linalg.qr                | metalcore.qr                         | measured faster, no out=          |

Every replacement keeps torch's signature, keywords, return convention (named tuples) and
autograd; a call it does not accelerate goes to the original function unchanged, with the same
arguments. "Measured faster" means the routing table for the tensor's device kind
(metalcore/routing/<kind>.json, written by bench/bench_routing.py) timed every corner of the size
cell around the call faster than torch; with no table, an unmeasured dtype or size, or while
torch.compile traces, the original runs. metalcore.svd / metalcore.qr are looked up at call time,
so builds without them fall back to torch.

`disable_pytorch_overrides()` restores the identity of every patched name; instances created
while enabled keep their class (and stay instances of the torch class: isinstance checks against
the patched name accept the originals, and ours are subclasses of MetalRMSNorm / MetalAdamW).
"""
from __future__ import annotations

import contextlib
import functools
import math
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from . import routing as _routing
from ._backend import FLOAT_DTYPES, cuda_available
from .activations import metal_silu
from .adamw import MetalAdamW
from .embedding_bag import embedding_bag as _mc_embedding_bag
from .rmsnorm import MetalRMSNorm, rms_norm as _mc_rms_norm
from .softmax import fused_softmax

__all__ = ["enable_pytorch_overrides", "disable_pytorch_overrides", "get_active_overrides"]

# The originals, captured when metalcore is imported (before anything is patched).
_ORIG = {
    "torch.nn.RMSNorm": torch.nn.RMSNorm,
    "torch.optim.AdamW": torch.optim.AdamW,
    "torch.nn.functional.silu": F.silu,
    "torch.nn.functional.softmax": F.softmax,
    "torch.nn.functional.embedding_bag": F.embedding_bag,
    "torch.nn.functional.rms_norm": F.rms_norm,
    "torch.linalg.svd": torch.linalg.svd,
    "torch.linalg.qr": torch.linalg.qr,
}

# ---- routing -----------------------------------------------------------------------------------

_tables: Dict[str, _routing.Table] = {}
_decisions: Dict[tuple, bool] = {}
_force: Optional[str] = None  # None: the tables decide; "ours" / "torch": tests and benchmarks


@contextlib.contextmanager
def force_routing(mode: Optional[str]):
    """Within the block, every call an override can take goes to metalcore ("ours") or to torch
    ("torch"), whatever the tables say (None: the tables decide). For tests and bench_routing."""
    global _force
    if mode not in (None, "ours", "torch"):
        raise ValueError(f"force_routing: mode must be None, 'ours' or 'torch', not {mode!r}")
    prev, _force = _force, mode
    try:
        yield
    finally:
        _force = prev


def _table(kind: str) -> _routing.Table:
    t = _tables.get(kind)
    if t is None:
        t = _tables[kind] = _routing.load(kind)
    return t


def set_routing_table(kind: str, data: Optional[dict]) -> None:
    """Replaces the routing table of a device kind (data in the JSON format; None: reload from
    the package). Clears cached decisions."""
    _decisions.clear()
    if data is None:
        _tables.pop(kind, None)
    else:
        _tables[kind] = _routing.Table(kind, data)


def routing_tables() -> Dict[str, _routing.Table]:
    return dict(_tables)


def _routes(op: str, x: Tensor, dtype: torch.dtype, key) -> bool:
    """Whether this call goes to metalcore. Cheap for repeated shapes (cached)."""
    if torch.compiler.is_compiling():
        return False
    dev = x.device
    if dev.type == "cuda":
        if not cuda_available():
            return False
    elif dev.type != "cpu":
        return False
    if _force is not None:
        return _force == "ours"
    dn = _routing.dtype_name(dtype)
    if dn is None:
        return False
    kind = _routing.device_kind(dev)
    ck = (op, kind, dn, key)
    hit = _decisions.get(ck)
    if hit is None:
        hit = _table(kind).routes(op, dn, key)
        if len(_decisions) > 65536:
            _decisions.clear()
        _decisions[ck] = hit
    return hit


def _plain(*tensors) -> bool:
    return all(t is None or type(t) is Tensor for t in tensors)


# Size keys per op: what the routing tables are indexed by (bench_routing uses these too).

def key_silu(x: Tensor):
    return (x.numel(),)


def key_rows_cols(x: Tensor, dim: int):
    n = x.shape[dim]
    return (x.numel() // n if n else 0, n)


def key_embedding_bag(indices: Tensor, weight: Tensor):
    return (indices.numel(), weight.shape[1])


def key_matrix(a: Tensor):
    return (math.prod(a.shape[:-2]), a.shape[-2], a.shape[-1])


# ---- function overrides -----------------------------------------------------------------------

def _wraps(name):
    return functools.wraps(_ORIG[name])


@_wraps("torch.nn.functional.silu")
def silu(input: Tensor, inplace: bool = False) -> Tensor:
    if (type(input) is Tensor and input.dtype in FLOAT_DTYPES and input.numel() > 0
            and _routes("silu", input, input.dtype, key_silu(input))):
        return metal_silu(input, inplace=inplace)
    return _ORIG["torch.nn.functional.silu"](input, inplace=inplace)


@_wraps("torch.nn.functional.softmax")
def softmax(input: Tensor, dim: Optional[int] = None, _stacklevel: int = 3,
            dtype: Optional[torch.dtype] = None) -> Tensor:
    if (type(input) is Tensor and isinstance(dim, int) and not isinstance(dim, bool) and input.dim() > 0
            and -input.dim() <= dim < input.dim() and input.numel() > 0):
        out_dtype = dtype if dtype is not None else input.dtype
        if (input.dtype in FLOAT_DTYPES and out_dtype in FLOAT_DTYPES
                and _routes("softmax", input, out_dtype, key_rows_cols(input, dim))):
            return fused_softmax(input, dim, dtype=dtype)
    # one frame more than torch's own call: a dim=None warning still points at the caller
    return _ORIG["torch.nn.functional.softmax"](input, dim, _stacklevel + 1, dtype)


@_wraps("torch.nn.functional.embedding_bag")
def embedding_bag(input: Tensor, weight: Tensor, offsets: Optional[Tensor] = None,
                  max_norm: Optional[float] = None, norm_type: float = 2, scale_grad_by_freq: bool = False,
                  mode: str = "mean", sparse: bool = False, per_sample_weights: Optional[Tensor] = None,
                  include_last_offset: bool = False, padding_idx: Optional[int] = None) -> Tensor:
    if (mode == "sum" and max_norm is None and not scale_grad_by_freq and not sparse
            and _plain(input, weight, offsets, per_sample_weights) and isinstance(input, Tensor)
            and isinstance(weight, Tensor) and weight.dtype in FLOAT_DTYPES and weight.dim() == 2
            and input.dtype in (torch.int32, torch.int64) and input.dim() in (1, 2)
            and input.device == weight.device
            and (offsets is None or (offsets.dtype in (torch.int32, torch.int64) and offsets.device == weight.device))
            and (per_sample_weights is None or per_sample_weights.dtype == weight.dtype)
            and _routes("embedding_bag", weight, weight.dtype, key_embedding_bag(input, weight))):
        return _mc_embedding_bag(input, weight, offsets, None, norm_type, False, "sum", False, per_sample_weights,
                                 include_last_offset, padding_idx)
    return _ORIG["torch.nn.functional.embedding_bag"](input, weight, offsets, max_norm, norm_type,
                                                      scale_grad_by_freq, mode, sparse, per_sample_weights,
                                                      include_last_offset, padding_idx)


def _linalg_candidate(A) -> bool:
    """metalcore's decompositions take real float32/float64 (..., M, N); autograd through them is
    left to torch (a call that needs a gradient goes to the original)."""
    return (type(A) is Tensor and A.dtype in (torch.float32, torch.float64) and A.dim() >= 2
            and A.numel() > 0 and not (A.requires_grad and torch.is_grad_enabled()))


def _metalcore_fn(name: str):
    import metalcore  # looked up at call time: the op may come from a later build
    return getattr(metalcore, name, None)


@_wraps("torch.linalg.svd")
def svd(A: Tensor, full_matrices: bool = True, *, driver: Optional[str] = None, out=None):
    if out is None and driver is None and _linalg_candidate(A):
        mc_svd = _metalcore_fn("svd")
        if mc_svd is not None and _routes("svd", A, A.dtype, key_matrix(A)):
            U, S, V = mc_svd(A, full_matrices=bool(full_matrices))
            return torch.return_types.linalg_svd((U, S, V.mT))
    if out is None and driver is None:
        return _ORIG["torch.linalg.svd"](A, full_matrices)
    return _ORIG["torch.linalg.svd"](A, full_matrices, driver=driver, out=out)


@_wraps("torch.linalg.qr")
def qr(A: Tensor, mode: str = "reduced", *, out=None):
    if out is None and mode in ("reduced", "complete", "r") and _linalg_candidate(A):
        mc_qr = _metalcore_fn("qr")
        if mc_qr is not None and _routes("qr", A, A.dtype, key_matrix(A)):
            res = mc_qr(A, mode=mode)
            if mode == "r":
                R = res[-1] if isinstance(res, (tuple, list)) else res
                return torch.return_types.linalg_qr((A.new_empty(0), R))
            Q, R = res
            return torch.return_types.linalg_qr((Q, R))
    if out is None:
        return _ORIG["torch.linalg.qr"](A, mode)
    return _ORIG["torch.linalg.qr"](A, mode, out=out)


# torch's linalg functions are builtins without a Python signature: let inspect see ours (same names)
del svd.__wrapped__, qr.__wrapped__

# ---- class replacements -----------------------------------------------------------------------

class _OverrideMeta(type):
    """For the replacement classes themselves (not subclasses of them): instances and subclasses
    of the torch class they replace count as theirs, so `isinstance(m, torch.nn.RMSNorm)` keeps
    accepting modules built before the override was enabled."""

    def __instancecheck__(cls, inst):
        orig = cls.__dict__.get("_override_of")
        return type.__instancecheck__(cls, inst) or (orig is not None and isinstance(inst, orig))

    def __subclasscheck__(cls, sub):
        orig = cls.__dict__.get("_override_of")
        return type.__subclasscheck__(cls, sub) or (orig is not None and issubclass(sub, orig))


class RMSNorm(MetalRMSNorm, metaclass=_OverrideMeta):
    """What torch.nn.RMSNorm constructs under the overrides: MetalRMSNorm with torch's defaults
    (eps=None: torch.finfo(x.dtype).eps), routed to metalcore where measured faster and to
    F.rms_norm otherwise."""
    _override_of = _ORIG["torch.nn.RMSNorm"]

    def __init__(self, normalized_shape, eps: Optional[float] = None, elementwise_affine: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__(normalized_shape, eps, elementwise_affine, device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        k = len(self.normalized_shape)
        w = self.weight
        if (type(x) is Tensor and x.dtype in FLOAT_DTYPES and x.numel() > 0
                and tuple(x.shape[x.dim() - k:]) == tuple(self.normalized_shape)
                and (w is None or (type(w) in (Tensor, torch.nn.Parameter) and w.dtype == x.dtype))):
            n = math.prod(self.normalized_shape)
            if _routes("rms_norm", x, x.dtype, (x.numel() // n, n)):
                return _mc_rms_norm(x, self.normalized_shape, self.weight, self.eps)
        return _ORIG["torch.nn.functional.rms_norm"](x, self.normalized_shape, self.weight, self.eps)


RMSNorm.__module__ = __name__
RMSNorm.__qualname__ = "RMSNorm"

_ADAMW_KEYWORDS = {"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach", "capturable",
                   "differentiable", "fused"}
_ADAMW_POSITIONAL = ("lr", "betas", "eps", "weight_decay", "amsgrad")


def _adamw_param_tensors(params):
    for p in params:
        if isinstance(p, dict):
            ps = p.get("params", [])
            ps = [ps] if isinstance(ps, Tensor) else list(ps)
            for q in ps:
                yield q[1] if isinstance(q, tuple) else q
        elif isinstance(p, tuple) and len(p) == 2:
            yield p[1]
        else:
            yield p


def _adamw_supported(params, args, kwargs) -> bool:
    """Whether MetalAdamW can honour this construction exactly (else torch's AdamW is built)."""
    if len(args) > len(_ADAMW_POSITIONAL) or any(k not in _ADAMW_KEYWORDS for k in kwargs):
        return False
    opts = dict(zip(_ADAMW_POSITIONAL, args), **kwargs)
    if opts.get("foreach") or opts.get("fused") is False or opts.get("differentiable"):
        return False
    groups = [p for p in params if isinstance(p, dict)]
    for g in groups:
        if g.get("foreach") or g.get("fused") is False or g.get("differentiable"):
            return False
    for t in _adamw_param_tensors(params):
        if not isinstance(t, Tensor) or t.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            return False
        if t.is_sparse or not t.is_contiguous() or type(t) not in (Tensor, torch.nn.Parameter):
            return False
        if t.device.type == "cuda":
            if not cuda_available():
                return False
        elif t.device.type != "cpu":
            return False
    return True


class AdamW(MetalAdamW, metaclass=_OverrideMeta):
    """What torch.optim.AdamW constructs under the overrides: MetalAdamW (same defaults as torch),
    or torch's AdamW itself when an option or parameter is one MetalAdamW does not take
    (foreach=True, fused=False, differentiable=True, float64 or non-contiguous params, ...)."""
    _override_of = _ORIG["torch.optim.AdamW"]

    def __new__(cls, params, *args, **kwargs):
        params = list(params) if not isinstance(params, Tensor) else [params]
        if cls is AdamW and not _adamw_supported(params, args, kwargs):
            return cls._override_of(params, *args, **kwargs)
        obj = super().__new__(cls)
        obj.__dict__["_mc_params"] = params  # the generator given may be consumed by now
        return obj

    def __init__(self, params, *args, **kwargs):
        params = self.__dict__.pop("_mc_params", params)
        super().__init__(params, *args, **kwargs)


AdamW.__module__ = __name__
AdamW.__qualname__ = "AdamW"

# ---- enable / disable -------------------------------------------------------------------------

# (group, owner, attribute, replacement)
_PATCHES = [
    ("normalization", torch.nn, "RMSNorm", RMSNorm, "torch.nn.RMSNorm"),
    ("optimizers", torch.optim, "AdamW", AdamW, "torch.optim.AdamW"),
    ("activations", torch.nn.functional, "silu", silu, "torch.nn.functional.silu"),
    ("softmax", torch.nn.functional, "softmax", softmax, "torch.nn.functional.softmax"),
    ("embedding_bag", torch.nn.functional, "embedding_bag", embedding_bag, "torch.nn.functional.embedding_bag"),
    ("linalg", torch.linalg, "svd", svd, "torch.linalg.svd"),
    ("linalg", torch.linalg, "qr", qr, "torch.linalg.qr"),
]

_active: Dict[str, tuple] = {}  # name -> (owner, attribute, value before patching)


def enable_pytorch_overrides(activations: bool = True, embedding_bag: bool = True, normalization: bool = True,
                             softmax: bool = True, linalg: bool = True, optimizers: bool = True,
                             all: bool = False, verbose: bool = False) -> List[str]:
    """Replaces torch names by metalcore (see the module docstring); `all=True` turns on every
    group whatever the other flags say. Calling it again first restores the originals, then
    applies the new selection. Returns the names now overridden."""
    flags = {"activations": activations, "embedding_bag": embedding_bag, "normalization": normalization,
             "softmax": softmax, "linalg": linalg, "optimizers": optimizers}
    for k, v in flags.items():
        if not isinstance(v, bool):
            raise TypeError(f"enable_pytorch_overrides: {k} must be a bool, not {type(v).__name__}")
    disable_pytorch_overrides()
    _decisions.clear()
    _tables.clear()
    kinds = [_routing.device_kind(torch.device("cpu"))]
    if cuda_available():
        kinds += [_routing.device_kind(torch.device("cuda", i)) for i in range(torch.cuda.device_count())]
    for kind in kinds:
        _table(kind)
    for group, owner, attr, repl, name in _PATCHES:
        if all or flags[group]:
            _active[name] = (owner, attr, getattr(owner, attr))
            setattr(owner, attr, repl)
    if verbose:
        print(f"metalcore: overriding {', '.join(_active) or 'nothing'}")
        for kind in dict.fromkeys(kinds):
            t = _tables[kind]
            src = t.source or "no table: routed calls go to torch"
            print(f"metalcore: routing for {kind}: {src}; ops measured faster somewhere: "
                  f"{', '.join(t.ops()) or 'none'}")
    return list(_active)


def disable_pytorch_overrides() -> None:
    """Restores every name enable_pytorch_overrides replaced, to the very object it held."""
    for name, (owner, attr, prev) in reversed(list(_active.items())):
        setattr(owner, attr, prev)
    _active.clear()


def get_active_overrides() -> List[str]:
    """The torch names currently replaced, e.g. ['torch.nn.RMSNorm', 'torch.nn.functional.silu']."""
    return list(_active)
