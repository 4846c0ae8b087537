"""Hugging Face transformers integration: RMSNorm, RoPE and SwiGLU-MLP patching, driven by one table
of model families (no code per model).

- `patch_transformers_rmsnorm(model)`, `patch_transformers_rope(model)`, `patch_transformers_mlp(model)`
  patch a built model in place and return how many modules (RMSNorm, MLP) or functions (RoPE,
  one per modeling module) they patched, warning when nothing matched; `patch_transformers(model)`
  applies all three and returns the counts.
- `patch_transformers_classes()` patches the modeling modules themselves, so models built
  afterwards use metalcore from the start; `unpatch_transformers_classes()` restores them.

Modules are patched by swapping their class for a subclass (same name) whose forward calls
metalcore and falls back to the original forward for anything it does not cover (weights in
another dtype than the input where that changes the result dtype, biases, quantised or unknown
linear layers, LoRA dropout in training, DoRA, several active adapters, ...). isinstance checks,
parameters, state_dict and hooks are unchanged.

RMSNorm conventions (computed in fp32 and rounded once; HF rounds once more in between):
  'llama': weight * rms(x).to(dtype)              (Llama, Mistral, Qwen2/3, Phi-3, Granite, ...)
  'fp32w': (weight * rms(x)).to(dtype)            (OLMo-2)
  'gemma': (rms(x) * (1 + weight.float())).to(dtype)  (Gemma 1/2/3: weight + 1 in fp32, as Gemma)
Families outside the table are patched when their module behaves exactly like one of these on a
probe input (the same check guards RoPE functions and MLP classes outside the table).
"""
from __future__ import annotations

import importlib
import inspect
import sys
import warnings
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mlp import swiglu_mlp_no_residual
from .rmsnorm import rms_norm
from .rope import apply_rotary_pos_emb as _mc_rope

__all__ = ["patch_transformers", "patch_transformers_rmsnorm", "patch_transformers_rope",
           "patch_transformers_mlp", "patch_transformers_classes", "unpatch_transformers_classes"]

# One entry per model family: modeling module suffix, RMSNorm class and convention, MLP class and
# layout ('separate': gate_proj/up_proj/down_proj + act_fn; 'packed': gate_up_proj/down_proj +
# activation_fn, gate first), or None where the MLP is not SwiGLU (Gemma's is GeGLU).
FAMILIES = [
    dict(family="llama", module="llama", rmsnorm="LlamaRMSNorm", norm="llama", mlp="LlamaMLP", layout="separate"),
    dict(family="mistral", module="mistral", rmsnorm="MistralRMSNorm", norm="llama", mlp="MistralMLP",
         layout="separate"),
    dict(family="qwen2", module="qwen2", rmsnorm="Qwen2RMSNorm", norm="llama", mlp="Qwen2MLP", layout="separate"),
    dict(family="qwen3", module="qwen3", rmsnorm="Qwen3RMSNorm", norm="llama", mlp="Qwen3MLP", layout="separate"),
    dict(family="gemma", module="gemma", rmsnorm="GemmaRMSNorm", norm="gemma", mlp=None, layout=None),
    dict(family="gemma2", module="gemma2", rmsnorm="Gemma2RMSNorm", norm="gemma", mlp=None, layout=None),
    dict(family="gemma3", module="gemma3", rmsnorm="Gemma3RMSNorm", norm="gemma", mlp=None, layout=None),
    dict(family="phi3", module="phi3", rmsnorm="Phi3RMSNorm", norm="llama", mlp="Phi3MLP", layout="packed"),
    dict(family="granite", module="granite", rmsnorm="GraniteRMSNorm", norm="llama", mlp="GraniteMLP",
         layout="separate"),
    dict(family="olmo2", module="olmo2", rmsnorm="Olmo2RMSNorm", norm="fp32w", mlp="Olmo2MLP", layout="separate"),
]

_EPS_ATTRS = ("variance_epsilon", "eps")


def _modeling_name(entry) -> str:
    return f"transformers.models.{entry['module']}.modeling_{entry['module']}"


def _entry_for_class(cls, kind: str):
    for e in FAMILIES:
        if cls.__module__ == _modeling_name(e) and cls.__name__ == e[kind]:
            return e
    return None


# ---- RMSNorm -----------------------------------------------------------------------------------

def _eps_of(m) -> Optional[float]:
    for a in _EPS_ATTRS:
        v = getattr(m, a, None)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def _rmsnorm_forward(self, x: Tensor) -> Tensor:
    conv = type(self)._mc_norm
    w = getattr(self, "weight", None)
    eps = _eps_of(self)
    if (type(x) is not Tensor or not isinstance(w, nn.Parameter) or w.dim() != 1 or x.dim() < 1
            or x.shape[-1] != w.shape[0] or eps is None or w.device != x.device
            or x.dtype not in (torch.float32, torch.float16, torch.bfloat16, torch.float64)
            or (x.dtype == torch.float64 and x.is_cuda)  # fp64 RMSNorm is CPU-only
            or not w.dtype.is_floating_point):
        return type(self)._mc_orig_forward(self, x)
    n = x.shape[-1]
    wide = torch.float64 if x.dtype == torch.float64 else torch.float32
    if conv == "llama":
        if w.dtype != x.dtype:  # HF's result would take the weight's dtype: leave it to HF
            return type(self)._mc_orig_forward(self, x)
        return rms_norm(x, (n,), w, eps)
    if conv == "fp32w":
        return rms_norm(x, (n,), w if w.dtype == wide else w.to(wide), eps)
    if conv == "gemma":
        return rms_norm(x, (n,), 1.0 + w.to(wide), eps)
    return type(self)._mc_orig_forward(self, x)


def _probe_rmsnorm(m) -> Optional[str]:
    """The convention an RMSNorm-like module follows, tried on a small input, or None."""
    w = getattr(m, "weight", None)
    eps = _eps_of(m)
    if not isinstance(w, nn.Parameter) or w.dim() != 1 or eps is None or not w.dtype.is_floating_point:
        return None
    n = w.shape[0]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, n, generator=gen).to(device=w.device, dtype=w.dtype)
    try:
        with torch.no_grad():
            y = type(m).forward(m, x)
    except Exception:
        return None
    if not isinstance(y, Tensor) or y.shape != x.shape:
        return None
    xd, wd = x.double(), w.detach().double()
    r = xd * torch.rsqrt(xd.pow(2).mean(-1, keepdim=True) + eps)
    tol = 8 * torch.finfo(w.dtype).eps
    for conv, ref in (("llama", r * wd), ("fp32w", r * wd), ("gemma", r * (1 + wd))):
        if ((y.double() - ref).abs().max() <= tol * (ref.abs().max() + 1)).item():
            return conv
    return None


def _looks_like_rmsnorm(m) -> bool:
    return type(m).__name__.endswith("RMSNorm") and not getattr(type(m), "_mc_patched", False)


# ---- RoPE --------------------------------------------------------------------------------------

def _rope_ok(q, k, cos, sin, unsqueeze_dim, partial: bool) -> bool:
    return (type(q) is Tensor and type(k) is Tensor and type(cos) is Tensor and type(sin) is Tensor
            and q.dim() == 4 and k.dim() == 4 and cos.dim() in (2, 3) and cos.shape == sin.shape
            and q.dtype == k.dtype and q.dtype.is_floating_point and cos.dtype == sin.dtype
            and torch.promote_types(q.dtype, cos.dtype) == q.dtype
            and unsqueeze_dim in (1, 2) and cos.shape[-1] % 2 == 0 and 0 < cos.shape[-1] <= q.shape[-1]
            and (partial or cos.shape[-1] == q.shape[-1])
            and q.device == k.device == cos.device == sin.device
            and not (q.is_cuda and q.dtype == torch.float64)  # fp64 RoPE is CPU-only
            and not (torch.is_grad_enabled() and (cos.requires_grad or sin.requires_grad)))


def _make_rope(orig, partial: bool):
    """A replacement for a modeling module's apply_rotary_pos_emb with the original's signature;
    partial rotary (cos narrower than the head) is routed only where the original supports it."""
    params = list(inspect.signature(orig).parameters)
    if "position_ids" in params:
        def apply_rotary_pos_emb(q, k, cos, sin, position_ids=None, unsqueeze_dim=1):
            if position_ids is None and _rope_ok(q, k, cos, sin, unsqueeze_dim, partial):
                return _mc_rope(q, k, cos, sin, unsqueeze_dim=unsqueeze_dim)
            return orig(q, k, cos, sin, position_ids, unsqueeze_dim)
    else:
        def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
            if _rope_ok(q, k, cos, sin, unsqueeze_dim, partial):
                return _mc_rope(q, k, cos, sin, unsqueeze_dim=unsqueeze_dim)
            return orig(q, k, cos, sin, unsqueeze_dim)
    apply_rotary_pos_emb.__doc__ = orig.__doc__
    apply_rotary_pos_emb._mc_original = orig
    return apply_rotary_pos_emb


def _probe_rope(fn) -> Optional[bool]:
    """None when fn does not compute HF's split-half rotation like metalcore; else whether it also
    does partial rotary (the rotary dim, cos.shape[-1], narrower than the head) like metalcore."""
    return (_probe_rope_dim(fn, 8) or None) and _probe_rope_dim(fn, 4)


def _probe_rope_dim(fn, r: int) -> bool:
    gen = torch.Generator().manual_seed(0)
    for _ in (0,):
        q = torch.randn(1, 2, 3, 8, generator=gen, dtype=torch.float64)
        k = torch.randn(1, 1, 3, 8, generator=gen, dtype=torch.float64)
        ang = torch.randn(1, 3, r // 2, generator=gen, dtype=torch.float64)
        ang = torch.cat((ang, ang), -1)
        cos, sin = ang.cos(), ang.sin()
        try:
            a = fn(q, k, cos, sin)
        except Exception:
            return False
        b = _mc_rope(q, k, cos, sin)
        if not (isinstance(a, tuple) and len(a) == 2 and a[0].shape == b[0].shape and a[1].shape == b[1].shape):
            return False
        if not (torch.allclose(a[0], b[0], atol=1e-12) and torch.allclose(a[1], b[1], atol=1e-12)):
            return False
    return True


def _patch_rope_module(mod) -> bool:
    """True when the module's RoPE now runs through metalcore (patched now or before)."""
    fn = getattr(mod, "apply_rotary_pos_emb", None)
    if fn is None or not callable(fn):
        return False
    if getattr(fn, "_mc_original", None) is not None:
        return True
    partial = _probe_rope(fn)
    if partial is None:
        return False
    mod.apply_rotary_pos_emb = _make_rope(fn, partial)
    return True


def _unpatch_rope_module(mod) -> None:
    fn = getattr(mod, "apply_rotary_pos_emb", None)
    orig = getattr(fn, "_mc_original", None)
    if orig is not None:
        mod.apply_rotary_pos_emb = orig


# ---- MLP ---------------------------------------------------------------------------------------

def _is_silu(act) -> bool:
    if isinstance(act, nn.SiLU):
        return True
    if type(act).__name__ == "SiLUActivation" and type(act).forward is not None:
        return True
    return act is F.silu or getattr(act, "__wrapped__", None) is F.silu or act is torch.nn.functional.silu


def _plain_linear(m) -> Optional[Tensor]:
    """The weight of an nn.Linear without bias whose weight is a plain float tensor, else None."""
    if type(m) is not nn.Linear or m.bias is not None:
        return None
    w = m.weight
    if not isinstance(w, nn.Parameter) or type(w.data) is not Tensor or not w.dtype.is_floating_point:
        return None
    return w


def _lora_parts(m):
    """(base weight, A or None, B or None, scale) for an nn.Linear or a PEFT LoRA Linear (detected by
    its attributes), or None when the layer is something the fused MLP cannot reproduce."""
    w = _plain_linear(m)
    if w is not None:
        return w, None, None, 1.0
    base = getattr(m, "base_layer", None)
    lora_a, lora_b, scaling = getattr(m, "lora_A", None), getattr(m, "lora_B", None), getattr(m, "scaling", None)
    if base is None or not isinstance(lora_a, nn.ModuleDict) or not isinstance(lora_b, nn.ModuleDict) \
            or not isinstance(scaling, dict):
        return None
    w = _plain_linear(base)
    if w is None:
        return None
    merged = bool(getattr(m, "merged", False))
    if getattr(m, "disable_adapters", False):
        return None if merged else (w, None, None, 1.0)
    if merged:
        return w, None, None, 1.0
    active = getattr(m, "active_adapters", None)
    if active is None:
        active = getattr(m, "active_adapter", [])
    active = [active] if isinstance(active, str) else list(active)
    active = [a for a in active if a in lora_a]
    if not active:
        return w, None, None, 1.0
    if len(active) != 1:
        return None
    name = active[0]
    if getattr(m, "use_dora", {}).get(name, False):
        return None
    drop = getattr(m, "lora_dropout", {})
    d = drop[name] if name in drop else nn.Identity()
    if not (isinstance(d, nn.Identity) or (isinstance(d, nn.Dropout) and (d.p == 0 or not d.training))):
        return None
    a, b = lora_a[name], lora_b[name]
    if type(a) is not nn.Linear or type(b) is not nn.Linear or a.bias is not None or b.bias is not None:
        return None
    s = scaling.get(name)
    if not isinstance(s, (int, float)):
        return None
    return w, a.weight, b.weight, float(s)


def _mlp_args(self, layout):
    """(gate W, up W, down W, lora 6-tuple, scale) or None (then the original forward runs)."""
    if layout == "separate":
        if not _is_silu(getattr(self, "act_fn", None)):
            return None
        parts = [_lora_parts(getattr(self, n, None)) for n in ("gate_proj", "up_proj", "down_proj")]
        if any(p is None for p in parts):
            return None
        (wg, ag, bg, sg), (wu, au, bu, su), (wd, ad, bd, sd) = parts
    elif layout == "packed":
        if not _is_silu(getattr(self, "activation_fn", None)):
            return None
        pgu, pd = _lora_parts(getattr(self, "gate_up_proj", None)), _lora_parts(getattr(self, "down_proj", None))
        if pgu is None or pd is None:
            return None
        wgu, agu, bgu, sgu = pgu
        if wgu.shape[0] % 2:
            return None
        i = wgu.shape[0] // 2
        wg, wu = wgu[:i], wgu[i:]
        ag = au = agu
        bg, bu = (bgu[:i], bgu[i:]) if bgu is not None else (None, None)
        sg = su = sgu
        wd, ad, bd, sd = pd
    else:
        return None
    scales = [s for s, a in ((sg, ag), (su, au), (sd, ad)) if a is not None]
    scale = scales[0] if scales else 1.0
    lora = []
    for a, b, s in ((ag, bg, sg), (au, bu, su), (ad, bd, sd)):
        if a is not None and s != scale:
            b = b * (s / scale)  # fold a different scale into B (differentiably)
        lora += [a, b]
    return wg, wu, wd, tuple(lora), scale


def _mlp_forward(self, x: Tensor) -> Tensor:
    args = _mlp_args(self, type(self)._mc_layout)
    if args is None or type(x) is not Tensor or x.dtype != args[0].dtype or x.device != args[0].device:
        return type(self)._mc_orig_forward(self, x)
    wg, wu, wd, lora, scale = args
    return swiglu_mlp_no_residual(x, wg, wu, wd, lora=lora, lora_scale=scale)


def _mlp_layout_of(m) -> Optional[str]:
    if all(hasattr(m, n) for n in ("gate_proj", "up_proj", "down_proj", "act_fn")):
        return "separate"
    if all(hasattr(m, n) for n in ("gate_up_proj", "down_proj", "activation_fn")):
        return "packed"
    return None


def _probe_mlp(m, layout) -> bool:
    """True when the module's own forward equals the fused MLP on a small input."""
    cls = type(m)
    args = _mlp_args(m, layout)
    if args is None:
        return False
    wg = args[0]
    x = torch.randn(3, wg.shape[1], generator=torch.Generator().manual_seed(0)).to(wg.device, wg.dtype)
    try:
        with torch.no_grad():
            a = cls.forward(m, x)
            b = swiglu_mlp_no_residual(x, args[0], args[1], args[2], lora=args[3], lora_scale=args[4])
    except Exception:
        return False
    if not isinstance(a, Tensor) or a.shape != b.shape:
        return False
    tol = 16 * torch.finfo(wg.dtype).eps
    return bool(((a.double() - b.double()).abs().max() <= tol * (a.double().abs().max() + 1)).item())


# ---- subclasses ----------------------------------------------------------------------------------

_SUBCLASSES: Dict[tuple, type] = {}


def _metal_subclass(cls, kind: str, spec: str) -> type:
    """cls with metalcore's forward; same name, so HF's name-based module lists still match."""
    key = (cls, kind, spec)
    sub = _SUBCLASSES.get(key)
    if sub is None:
        ns = {"_mc_patched": True, "_mc_orig_forward": cls.forward, "_mc_original_class": cls,
              "__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
        if kind == "rmsnorm":
            ns.update(_mc_norm=spec, forward=_rmsnorm_forward)
        else:
            ns.update(_mc_layout=spec, forward=_mlp_forward)
        sub = type(cls.__name__, (cls,), ns)
        _SUBCLASSES[key] = sub
    return sub


def _say(verbose: bool, what: str, n: int, model) -> None:
    if n == 0:
        warnings.warn(f"metalcore: {what}: nothing in {type(model).__name__} matched a known pattern; "
                      "the model is unchanged", stacklevel=3)
    elif verbose:
        print(f"metalcore: {what}: patched {n} in {type(model).__name__}")


def _check_model(model, fn: str) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{fn}: model must be a torch.nn.Module, not {type(model).__name__}")


def patch_transformers_rmsnorm(model: nn.Module, verbose: bool = False) -> int:
    """Swaps every RMSNorm module of a Hugging Face model for metalcore's fused RMSNorm (same
    parameters, same results up to rounding). Returns the number of modules patched."""
    _check_model(model, "patch_transformers_rmsnorm")
    n = 0
    for m in model.modules():
        cls = type(m)
        if getattr(cls, "_mc_patched", False):
            continue
        e = _entry_for_class(cls, "rmsnorm")
        if e is not None:
            conv = e["norm"]
        elif _looks_like_rmsnorm(m):
            conv = _probe_rmsnorm(m)  # per module: behaviour may hang on instance attributes
        else:
            continue
        if conv is None:
            continue
        m.__class__ = _metal_subclass(cls, "rmsnorm", conv)
        n += 1
    _say(verbose, "patch_transformers_rmsnorm", n, model)
    return n


def patch_transformers_rope(model: nn.Module, verbose: bool = False) -> int:
    """Points `apply_rotary_pos_emb` of the modeling module(s) the model's layers come from at
    metalcore's fused RoPE (split-half format, partial rotary included; calls it does not cover go
    to the original). This affects every model of that family in the process. Returns the number
    of modeling modules whose RoPE runs through metalcore (ones patched before included)."""
    _check_model(model, "patch_transformers_rope")
    n = 0
    seen = set()
    for m in model.modules():
        name = type(m).__module__
        if name in seen or not name.startswith("transformers.models."):
            continue
        seen.add(name)
        mod = sys.modules.get(name)
        if mod is not None and _patch_rope_module(mod):
            n += 1
    _say(verbose, "patch_transformers_rope", n, model)
    return n


def patch_transformers_mlp(model: nn.Module, verbose: bool = False) -> int:
    """Swaps every SwiGLU MLP (Llama-style gate/up/down, or Phi-3's packed gate_up_proj), plain or
    with PEFT LoRA adapters on its projections, for metalcore's fused SwiGLU MLP. Returns the
    number of modules patched."""
    _check_model(model, "patch_transformers_mlp")
    n = 0
    for m in model.modules():
        cls = type(m)
        if getattr(cls, "_mc_patched", False):
            continue
        e = _entry_for_class(cls, "mlp")
        if e is not None:
            layout = e["layout"]
        else:
            layout = _mlp_layout_of(m)
            if layout is None or not cls.__name__.endswith("MLP") or not _probe_mlp(m, layout):
                continue
        if layout is None:
            continue
        m.__class__ = _metal_subclass(cls, "mlp", layout)
        n += 1
    _say(verbose, "patch_transformers_mlp", n, model)
    return n


def patch_transformers(model: nn.Module, verbose: bool = False) -> Dict[str, int]:
    """RMSNorm, RoPE and MLP patching in one call; returns the count of each."""
    _check_model(model, "patch_transformers")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        counts = {"rmsnorm": patch_transformers_rmsnorm(model, verbose),
                  "rope": patch_transformers_rope(model, verbose),
                  "mlp": patch_transformers_mlp(model, verbose)}
    if sum(counts.values()) == 0:
        warnings.warn(f"metalcore: patch_transformers: nothing in {type(model).__name__} matched; the model "
                      "is unchanged", stacklevel=2)
    elif verbose:
        for w in caught:
            print(w.message)
    return counts


# ---- class level ---------------------------------------------------------------------------------

_CLASS_PATCHES: Dict[tuple, object] = {}  # (module, attribute) -> original


def patch_transformers_classes(rmsnorm: bool = True, rope: bool = True, mlp: bool = True,
                               verbose: bool = False) -> int:
    """Patches the modeling modules of every family in FAMILIES that this transformers has, so
    models built afterwards use metalcore. Returns the number of classes and functions patched;
    `unpatch_transformers_classes()` restores them."""
    n = 0
    for e in FAMILIES:
        try:
            mod = importlib.import_module(_modeling_name(e))
        except Exception:
            continue
        if rmsnorm and e["rmsnorm"] and (mod, e["rmsnorm"]) not in _CLASS_PATCHES:
            cls = getattr(mod, e["rmsnorm"], None)
            if isinstance(cls, type):
                _CLASS_PATCHES[(mod, e["rmsnorm"])] = cls
                setattr(mod, e["rmsnorm"], _metal_subclass(cls, "rmsnorm", e["norm"]))
                n += 1
        if mlp and e["mlp"] and (mod, e["mlp"]) not in _CLASS_PATCHES:
            cls = getattr(mod, e["mlp"], None)
            if isinstance(cls, type):
                _CLASS_PATCHES[(mod, e["mlp"])] = cls
                setattr(mod, e["mlp"], _metal_subclass(cls, "mlp", e["layout"]))
                n += 1
        if rope and (mod, "apply_rotary_pos_emb") not in _CLASS_PATCHES:
            fn = getattr(mod, "apply_rotary_pos_emb", None)
            if fn is not None and _patch_rope_module(mod):
                _CLASS_PATCHES[(mod, "apply_rotary_pos_emb")] = fn
                n += 1
    if verbose:
        print(f"metalcore: patch_transformers_classes: {n} classes and functions patched")
    if n == 0 and not _CLASS_PATCHES:
        warnings.warn("metalcore: patch_transformers_classes: no known model family found in transformers",
                      stacklevel=2)
    return n


def unpatch_transformers_classes() -> None:
    """Restores every class and function patch_transformers_classes replaced."""
    for (mod, attr), orig in list(_CLASS_PATCHES.items()):
        setattr(mod, attr, orig)
    _CLASS_PATCHES.clear()
