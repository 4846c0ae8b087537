"""Fused SwiGLU MLP with optional LoRA, RMSNorm prologue and residual add: `fused_swiglu_mlp`.

Semantics (shared/API.md), with x = hidden_states reshaped to (T, D), weights in F.linear layout:

    xn  = rms_norm(x, rms_weight, rms_eps)        if rms_weight is given, else x
    g   = xn @ gate_proj.T + s * (xn @ lora_gate_A.T) @ lora_gate_B.T     (LoRA term if given)
    u   = xn @ up_proj.T   + s * (xn @ lora_up_A.T)   @ lora_up_B.T
    h   = silu(g) * u
    y   = h  @ down_proj.T + s * (h  @ lora_down_A.T) @ lora_down_B.T
    out = (residual if residual is not None else hidden_states) + y

with s = lora_scale. The residual is always added; it defaults to `hidden_states` (the un-normed
input: the pre-norm block x + MLP(RMSNorm(x))). Shapes: gate_proj, up_proj [I, D]; down_proj
[D, I] (so the output has the shape of hidden_states); LoRA A [r, in], B [out, r] (PEFT's
convention). All tensors on one device; weights in the dtype of hidden_states (LoRA A/B and
rms_weight may also be float32 with 16-bit activations, as PEFT keeps adapters: they are then cast
to the activation dtype, differentiably).

Memory: forward saves the input (x, plus one fp32 rstd per row with the RMSNorm prologue; xn is
recomputed in backward), the packed gate/up pre-activations gu = [g | u] of shape (T, 2I) and the
(T, r) LoRA intermediates; h = silu(g) * u is never stored: the SwiGLU backward recomputes it in
the same pass that computes the gate/up gradients, writing it over dh. In eager mode backward
writes the gate/up gradients over gu in place (gu's version counter is bumped, so a second
backward through the same graph raises torch's usual error instead of reading garbage); under
torch.compile the op is functional.

GEMMs run on torch (cuBLAS / the CPU BLAS): gate and up write into the halves of one (T, 2I)
buffer (one GEMM when the two weights are adjacent rows of one packed [2I, D] tensor, as Phi-3's
gate_up_proj), the LoRA terms are addmm epilogues on the base results, the residual is the addmm
input of the down projection, and the activation and its backward are metalcore's fused SwiGLU
kernels.
"""
from __future__ import annotations

from typing import List, Optional

import torch
from torch import Tensor

from . import _C
from ._backend import _PLAIN, FLOAT_DTYPES, TORCH_SILU
from .rmsnorm import _forward as _rms_forward, _rms_norm_backward_impl

__all__ = ["fused_swiglu_mlp"]



# ---- building blocks (plain tensors, no autograd) --------------------------------------------

def _packed_weight(wg: Tensor, wu: Tensor) -> Optional[Tensor]:
    """[wg; wu] as one [2I, D] view when wu's rows follow wg's in memory (no copy), else None."""
    if wg.dim() != 2 or wg.stride(1) != 1 or wu.stride() != wg.stride() or wg.shape != wu.shape:
        return None
    if wg.untyped_storage().data_ptr() != wu.untyped_storage().data_ptr():
        return None
    i, d = wg.shape
    if wu.storage_offset() != wg.storage_offset() + i * wg.stride(0):
        return None
    return wg.as_strided((2 * i, d), wg.stride())


def _swiglu_into(gu: Tensor, out: Tensor) -> Tensor:
    i = gu.shape[1] // 2
    _C.swiglu_forward(gu[:, :i], gu[:, i:], out)
    return out


def _mlp_forward(x, wg, wu, wd, la, lb, rms_w, eps, res, scale, add_res):
    """x (T, D) contiguous. la, lb: lists of 3 (A or None), (B or None) for gate, up, down.
    Returns (out (T, Dout), gu (T, 2I), rstd (T,) or None, [a_gate, a_up, a_down] (T, r) or None)."""
    t = x.shape[0]
    i = wg.shape[0]
    if rms_w is not None:
        xn, rstd = _rms_forward(x, rms_w, eps, True)
    else:
        xn, rstd = x, None
    gu = torch.empty((t, 2 * i), dtype=x.dtype, device=x.device)
    wp = _packed_weight(wg, wu)
    if wp is not None:
        torch.mm(xn, wp.t(), out=gu)
    else:
        torch.mm(xn, wg.t(), out=gu[:, :i])
        torch.mm(xn, wu.t(), out=gu[:, i:])
    acts = [None, None, None]
    for j, half in ((0, gu[:, :i]), (1, gu[:, i:])):
        if la[j] is not None:
            acts[j] = torch.mm(xn, la[j].t())
            half.addmm_(acts[j], lb[j].t(), alpha=scale)
    h = _swiglu_into(gu, torch.empty((t, i), dtype=x.dtype, device=x.device))
    if la[2] is not None:
        acts[2] = torch.mm(h, la[2].t())
    if add_res:
        out = torch.addmm(res, h, wd.t())
    else:
        out = torch.mm(h, wd.t())
    if la[2] is not None:
        out.addmm_(acts[2], lb[2].t(), alpha=scale)
    del h
    return out, gu, rstd, acts


def _mlp_backward(dout, x, wg, wu, wd, la, lb, rms_w, eps, scale, gu, rstd, acts, res_separate,
                  add_res, needs, inplace):
    """Gradients in the order of the public arguments:
    [x, wg, wu, wd, Ag, Bg, Au, Bu, Ad, Bd, rms_w, res]; None where not needed.
    needs: the same 12 flags. inplace: overwrite gu with its gradient (eager only)."""
    t = x.shape[0]
    i = wg.shape[0]
    grads: List[Optional[Tensor]] = [None] * 12
    if not inplace:
        gu = gu.clone()
    g, u = gu[:, :i], gu[:, i:]
    dad = None
    if la[2] is not None:
        if needs[9]:
            grads[9] = torch.mm(dout.t(), acts[2]).mul_(scale)
        dad = torch.mm(dout, lb[2]).mul_(scale)
    dh = torch.mm(dout, wd)
    if dad is not None:
        dh.addmm_(dad, la[2])
    # The SwiGLU backward writes dg, du over g, u and, where the down projection's gradients need
    # it, h = silu(g) * u over dh (each element of dh is read before h overwrites it): one pass
    # instead of recomputing h with a forward pass.
    need_h = needs[3] or (la[2] is not None and needs[8])
    _C.swiglu_backward(dh, g, u, g, u, dh if need_h else None)
    h = dh
    if needs[3]:
        grads[3] = torch.mm(dout.t(), h)
    if la[2] is not None and needs[8]:
        grads[8] = torch.mm(dad.t(), h)
    del dh, h
    dgu = gu
    dg, du = g, u
    # gate / up projections
    xn = _rms_forward(x, rms_w, eps, False)[0] if rms_w is not None else x
    wp = _packed_weight(wg, wu)
    if needs[1] or needs[2]:
        if wp is not None and needs[1] and needs[2]:
            dwp = torch.mm(dgu.t(), xn)
            grads[1], grads[2] = dwp[:i], dwp[i:]
        else:
            if needs[1]:
                grads[1] = torch.mm(dg.t(), xn)
            if needs[2]:
                grads[2] = torch.mm(du.t(), xn)
    need_dxn = needs[0] or needs[10]
    dxn = None
    if need_dxn:
        if wp is not None:
            dxn = torch.mm(dgu, wp)
        else:
            dxn = torch.mm(dg, wg)
            dxn.addmm_(du, wu)
    for j, dpart in ((0, dg), (1, du)):
        if la[j] is None:
            continue
        ia, ib = 4 + 2 * j, 5 + 2 * j
        if needs[ib]:
            grads[ib] = torch.mm(dpart.t(), acts[j]).mul_(scale)
        if needs[ia] or need_dxn:
            da = torch.mm(dpart, lb[j]).mul_(scale)
            if needs[ia]:
                grads[ia] = torch.mm(da.t(), xn)
            if need_dxn:
                dxn.addmm_(da, la[j])
    del xn
    if need_dxn:
        if rms_w is not None:
            dx, dw = _rms_norm_backward_impl(dxn, x, rms_w, rstd, needs[10])
            if needs[10]:
                grads[10] = dw
        else:
            dx = dxn
        if needs[0]:
            if add_res and not res_separate:
                dx = dx.add_(dout)
            grads[0] = dx
    if needs[11] and add_res and res_separate:
        grads[11] = dout
    return grads


# ---- the custom-op path (torch.compile, export, subclass tensors) ----------------------------

def _empty(x: Tensor) -> Tensor:
    return x.new_empty(0)


def _opt(t: Tensor) -> Optional[Tensor]:
    return None if t.numel() == 0 and t.dim() == 1 else t


@torch.library.custom_op("metalcore::swiglu_mlp", mutates_args=())
def _mlp_op(x: Tensor, wg: Tensor, wu: Tensor, wd: Tensor, ag: Optional[Tensor], bg: Optional[Tensor],
            au: Optional[Tensor], bu: Optional[Tensor], ad: Optional[Tensor], bd: Optional[Tensor],
            rms_w: Optional[Tensor], eps: float, res: Optional[Tensor], scale: float, add_res: bool
            ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    out, gu, rstd, acts = _mlp_forward(x, wg, wu, wd, [ag, au, ad], [bg, bu, bd], rms_w, eps,
                                       res if res is not None else x, scale, add_res)
    return (out, gu, rstd if rstd is not None else _empty(x), *[a if a is not None else _empty(x) for a in acts])


@_mlp_op.register_fake
def _(x, wg, wu, wd, ag, bg, au, bu, ad, bd, rms_w, eps, res, scale, add_res):
    t = x.shape[0]
    i = wg.shape[0]
    rstd = x.new_empty((t,), dtype=torch.float64 if x.dtype == torch.float64 else torch.float32)
    acts = [x.new_empty((t, a.shape[0])) if a is not None else x.new_empty(0) for a in (ag, au, ad)]
    return (x.new_empty((t, wd.shape[0])), x.new_empty((t, 2 * i)),
            rstd if rms_w is not None else x.new_empty(0), *acts)


@torch.library.custom_op("metalcore::swiglu_mlp_backward", mutates_args=())
def _mlp_backward_op(dout: Tensor, x: Tensor, wg: Tensor, wu: Tensor, wd: Tensor, ag: Optional[Tensor],
                     bg: Optional[Tensor], au: Optional[Tensor], bu: Optional[Tensor], ad: Optional[Tensor],
                     bd: Optional[Tensor], rms_w: Optional[Tensor], eps: float, scale: float, gu: Tensor,
                     rstd: Optional[Tensor], act_g: Optional[Tensor], act_u: Optional[Tensor],
                     act_d: Optional[Tensor], res_separate: bool, add_res: bool, needs: List[bool]
                     ) -> List[Tensor]:
    grads = _mlp_backward(dout, x, wg, wu, wd, [ag, au, ad], [bg, bu, bd], rms_w, eps, scale, gu, rstd,
                          [act_g, act_u, act_d], res_separate, add_res, needs, False)
    # outputs must not alias inputs or each other: copy the rare aliases (dout for the residual)
    out = []
    for k, gr in enumerate(grads):
        if gr is None:
            out.append(_empty(x))
        elif gr is dout or gr._base is not None:
            out.append(gr.clone())
        else:
            out.append(gr)
    return out


@_mlp_backward_op.register_fake
def _(dout, x, wg, wu, wd, ag, bg, au, bu, ad, bd, rms_w, eps, scale, gu, rstd, act_g, act_u, act_d,
      res_separate, add_res, needs):
    shapes = [x, wg, wu, wd, ag, bg, au, bu, ad, bd, rms_w, dout]
    return [torch.empty_like(s) if (n and s is not None) else x.new_empty(0) for s, n in zip(shapes, needs)]


def _op_setup_context(ctx, inputs, output):
    x, wg, wu, wd, ag, bg, au, bu, ad, bd, rms_w, eps, res, scale, add_res = inputs
    _, gu, rstd, a0, a1, a2 = output
    ctx.save_for_backward(x, wg, wu, wd, ag, bg, au, bu, ad, bd, rms_w, gu, rstd, a0, a1, a2)
    ctx.args = (eps, scale, res is not None, add_res)


def _op_backward(ctx, dout, _dgu, _drstd, _d0, _d1, _d2):
    x, wg, wu, wd, ag, bg, au, bu, ad, bd, rms_w, gu, rstd, a0, a1, a2 = ctx.saved_tensors
    eps, scale, res_separate, add_res = ctx.args
    n = ctx.needs_input_grad
    needs = [n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9], n[10], n[12]]
    grads = _mlp_backward_op(dout.contiguous(), x, wg, wu, wd, ag, bg, au, bu, ad, bd, rms_w, eps, scale,
                             gu, _opt(rstd) if rms_w is not None else None,
                             a0 if ag is not None else None, a1 if au is not None else None,
                             a2 if ad is not None else None, res_separate, add_res, needs)
    g = [gr if need else None for gr, need in zip(grads, needs)]
    return (*g[:11], None, g[11], None, None)


_mlp_op.register_autograd(_op_backward, setup_context=_op_setup_context)


# ---- the eager path ------------------------------------------------------------------------

class _MLPFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, wg, wu, wd, ag, bg, au, bu, ad, bd, rms_w, eps, res, scale, add_res):
        out, gu, rstd, acts = _mlp_forward(x, wg, wu, wd, [ag, au, ad], [bg, bu, bd], rms_w, eps,
                                           res if res is not None else x, scale, add_res)
        ctx.save_for_backward(x, wg, wu, wd, ag, bg, au, bu, ad, bd, rms_w, gu, rstd, *acts)
        ctx.args = (eps, scale, res is not None, add_res)
        return out

    @staticmethod
    def backward(ctx, dout):
        x, wg, wu, wd, ag, bg, au, bu, ad, bd, rms_w, gu, rstd, a0, a1, a2 = ctx.saved_tensors
        eps, scale, res_separate, add_res = ctx.args
        n = ctx.needs_input_grad
        needs = [n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9], n[10], n[12]]
        grads = _mlp_backward(dout.contiguous(), x, wg, wu, wd, [ag, au, ad], [bg, bu, bd], rms_w, eps, scale,
                              gu, rstd, [a0, a1, a2], res_separate, add_res, needs, True)
        # gu now holds its gradient: a second backward through this graph must fail loudly
        torch.autograd.graph.increment_version(gu)
        return (*grads[:11], None, grads[11], None, None)


# ---- front door ----------------------------------------------------------------------------

def _check_tensor(t, name: str) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"fused_swiglu_mlp: {name} must be a Tensor, not {type(t).__name__}")
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(f"fused_swiglu_mlp: {name} has dtype {t.dtype}; expected a floating dtype")


def _mlp(hidden_states, gate_proj, up_proj, down_proj, lora, rms_weight, rms_eps, residual, lora_scale,
         add_residual: bool):
    x = hidden_states
    _check_tensor(x, "hidden_states")
    dt, dev = x.dtype, x.device
    if x.dim() < 1:
        raise ValueError("fused_swiglu_mlp: hidden_states must have at least one dimension")
    d = x.shape[-1]
    for name, w in (("gate_proj", gate_proj), ("up_proj", up_proj), ("down_proj", down_proj)):
        _check_tensor(w, name)
        if w.dim() != 2:
            raise ValueError(f"fused_swiglu_mlp: {name} must be 2-D [out, in]; got shape {list(w.shape)}")
        if w.dtype != dt:
            raise TypeError(f"fused_swiglu_mlp: {name} has dtype {w.dtype} but hidden_states has {dt}")
        if w.device != dev:
            raise ValueError(f"fused_swiglu_mlp: {name} is on {w.device} but hidden_states is on {dev}")
    i = gate_proj.shape[0]
    if tuple(gate_proj.shape) != (i, d) or tuple(up_proj.shape) != (i, d):
        raise ValueError(f"fused_swiglu_mlp: gate_proj {list(gate_proj.shape)} and up_proj {list(up_proj.shape)} "
                         f"must both be [intermediate, {d}] for hidden_states of shape {list(x.shape)}")
    if down_proj.shape[1] != i:
        raise ValueError(f"fused_swiglu_mlp: down_proj {list(down_proj.shape)} must be [out, {i}]")
    dout = down_proj.shape[0]
    if add_residual and residual is None and dout != d:
        raise ValueError(f"fused_swiglu_mlp: the residual defaults to hidden_states, so down_proj must map back to "
                         f"{d} features; got down_proj {list(down_proj.shape)}")
    la, lb = [], []
    for j, (pname, fin, fout) in enumerate((("gate", d, i), ("up", d, i), ("down", i, dout))):
        a, b = lora[2 * j], lora[2 * j + 1]
        if (a is None) != (b is None):
            raise ValueError(f"fused_swiglu_mlp: lora_{pname}_A and lora_{pname}_B must be given together")
        if a is not None:
            for nm, t in ((f"lora_{pname}_A", a), (f"lora_{pname}_B", b)):
                _check_tensor(t, nm)
                if t.dim() != 2:
                    raise ValueError(f"fused_swiglu_mlp: {nm} must be 2-D; got shape {list(t.shape)}")
                if t.device != dev:
                    raise ValueError(f"fused_swiglu_mlp: {nm} is on {t.device} but hidden_states is on {dev}")
                if t.dtype != dt and t.dtype != torch.float32:
                    raise TypeError(f"fused_swiglu_mlp: {nm} has dtype {t.dtype}; expected {dt} or torch.float32")
            r = a.shape[0]
            if tuple(a.shape) != (r, fin) or tuple(b.shape) != (fout, r):
                raise ValueError(f"fused_swiglu_mlp: lora_{pname}_A {list(a.shape)} / lora_{pname}_B {list(b.shape)} "
                                 f"must be [r, {fin}] / [{fout}, r]")
            if a.dtype != dt:
                a = a.to(dt)
            if b.dtype != dt:
                b = b.to(dt)
        la.append(a)
        lb.append(b)
    if rms_weight is not None:
        _check_tensor(rms_weight, "rms_weight")
        if tuple(rms_weight.shape) != (d,):
            raise ValueError(f"fused_swiglu_mlp: rms_weight of shape {list(rms_weight.shape)}; expected [{d}]")
        if rms_weight.device != dev:
            raise ValueError(f"fused_swiglu_mlp: rms_weight is on {rms_weight.device} but hidden_states is on {dev}")
        if rms_weight.dtype != dt and rms_weight.dtype != torch.float32:
            rms_weight = rms_weight.float()
        if not rms_weight.is_contiguous():
            rms_weight = rms_weight.contiguous()
    rms_eps = float(rms_eps)
    if not rms_eps >= 0.0:
        raise ValueError(f"fused_swiglu_mlp: rms_eps must be >= 0, not {rms_eps}")
    lora_scale = float(lora_scale)
    out_shape = tuple(x.shape[:-1]) + (dout,)
    if residual is not None:
        if not add_residual:
            raise ValueError("fused_swiglu_mlp: residual given but the residual add is off")
        _check_tensor(residual, "residual")
        if tuple(residual.shape) != out_shape:
            raise ValueError(f"fused_swiglu_mlp: residual of shape {list(residual.shape)}; expected {list(out_shape)}")
        if residual.dtype != dt:
            raise TypeError(f"fused_swiglu_mlp: residual has dtype {residual.dtype} but hidden_states has {dt}")
        if residual.device != dev:
            raise ValueError(f"fused_swiglu_mlp: residual is on {residual.device} but hidden_states is on {dev}")
        residual = residual.reshape(-1, dout).contiguous()
    x2 = x.reshape(-1, d).contiguous()
    args = (x2, gate_proj, up_proj, down_proj, la[0], lb[0], la[1], lb[1], la[2], lb[2], rms_weight, rms_eps,
            residual, lora_scale, add_residual)
    if x2.shape[0] == 0 or i == 0 or d == 0 or (dt == torch.float64 and x2.is_cuda):
        # nothing to fuse, or float64 on CUDA, where metalcore's RMSNorm and SwiGLU kernels do not
        # run (they are fp32/16-bit): the same formula in torch ops, the same precision
        return _reference(*args).reshape(out_shape)
    tensors = [t for t in args if isinstance(t, Tensor)]
    if torch.compiler.is_compiling() or any(type(t) not in _PLAIN for t in tensors):
        out = _mlp_op(*args)[0]
    elif torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        out = _MLPFunction.apply(*args)
    else:
        out = _mlp_forward(x2, gate_proj, up_proj, down_proj, la, lb, rms_weight, rms_eps,
                           residual if residual is not None else x2, lora_scale, add_residual)[0]
    return out.reshape(out_shape)


def _reference(x, wg, wu, wd, ag, bg, au, bu, ad, bd, rms_w, eps, res, scale, add_res):
    """The unfused formula in torch ops (for empty inputs, and as the tests' definition)."""
    import torch.nn.functional as F
    xn = F.rms_norm(x, (x.shape[-1],), rms_w.to(x.dtype) if rms_w is not None else None, eps) \
        if rms_w is not None else x

    def lin(inp, w, a, b):
        y = F.linear(inp, w)
        if a is not None:
            y = y + scale * F.linear(F.linear(inp, a), b)
        return y

    h = TORCH_SILU(lin(xn, wg, ag, bg)) * lin(xn, wu, au, bu)
    y = lin(h, wd, ad, bd)
    if add_res:
        y = y + (res if res is not None else x)
    return y


def fused_swiglu_mlp(hidden_states: Tensor, gate_proj: Tensor, up_proj: Tensor, down_proj: Tensor,
                     lora_gate_A: Optional[Tensor] = None, lora_gate_B: Optional[Tensor] = None,
                     lora_up_A: Optional[Tensor] = None, lora_up_B: Optional[Tensor] = None,
                     lora_down_A: Optional[Tensor] = None, lora_down_B: Optional[Tensor] = None,
                     rms_weight: Optional[Tensor] = None, rms_eps: float = 1e-6,
                     residual: Optional[Tensor] = None, lora_scale: float = 1.0) -> Tensor:
    """`residual + down(silu(gate(xn)) * up(xn))` with xn = RMSNorm(hidden_states) when rms_weight is
    given (else hidden_states), residual defaulting to hidden_states, and LoRA terms
    lora_scale * x @ A.T @ B.T on each projection that has them. See the module docstring for the
    exact formula, shapes and what is saved for backward. Differentiable in every tensor argument."""
    return _mlp(hidden_states, gate_proj, up_proj, down_proj,
                (lora_gate_A, lora_gate_B, lora_up_A, lora_up_B, lora_down_A, lora_down_B),
                rms_weight, rms_eps, residual, lora_scale, True)


def swiglu_mlp_no_residual(hidden_states, gate_proj, up_proj, down_proj, lora=(None,) * 6, lora_scale=1.0,
                           rms_weight=None, rms_eps=1e-6):
    """The same MLP without the residual add (what a Hugging Face LlamaMLP module computes); used by
    model patching. lora: (gate_A, gate_B, up_A, up_B, down_A, down_B)."""
    return _mlp(hidden_states, gate_proj, up_proj, down_proj, tuple(lora), rms_weight, rms_eps, None,
                lora_scale, False)
