"""Activations: `metal_silu` (F.silu), `metal_gelu` (F.gelu, approximate 'none' or 'tanh') and
`swiglu` (silu(gate) * up, separate or packed), forward and backward fused, on CPU and CUDA.
Backward saves only the inputs (silu is recomputed, never stored)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from . import _C
from ._backend import FLOAT_DTYPES, eager_direct, fused_op

__all__ = ["metal_silu", "metal_gelu", "swiglu"]

# mc_activation codes (include/metalcore/activations.h)
_SILU, _GELU, _GELU_TANH = 0, 1, 2
_GELU_CODES = {"none": _GELU, "tanh": _GELU_TANH}


def _check_input(x, name: str, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, not {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: {name} has dtype {x.dtype}; expected float32, float16, bfloat16 or float64")


# ---- SiLU / GELU -------------------------------------------------------------------------------

def _act_forward(x: Tensor, act: int) -> Tensor:
    """x contiguous."""
    y = torch.empty_like(x, memory_format=torch.contiguous_format)
    _C.activation_forward(act, x, y)
    return y


def _act_fake(x, act):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def _act_backward_impl(dy: Tensor, x: Tensor, act: int) -> Tensor:
    dx = torch.empty_like(x, memory_format=torch.contiguous_format)
    _C.activation_backward(act, dy, x, dx)
    return dx


def _act_backward_fake(dy, x, act):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


_act_backward_op = fused_op("activation_backward", _act_backward_impl, _act_backward_fake)


def _act_setup_context(ctx, inputs, output):
    x, act = inputs
    ctx.save_for_backward(x)
    ctx.act = act


def _act_backward(ctx, dy):
    (x,) = ctx.saved_tensors
    return _act_backward_op(dy if dy.is_contiguous() else dy.contiguous(), x, ctx.act), None


_act_op = fused_op("activation", _act_forward, _act_fake, _act_setup_context, _act_backward)


def _activation(x: Tensor, act: int, inplace: bool) -> Tensor:
    xc = x if x.is_contiguous() else x.contiguous()
    if inplace:
        if xc is x and eager_direct(x) and x.numel():  # same storage: compute in place, no new tensor
            _C.activation_forward(act, x, x)
            return x
        return x.copy_(torch.empty_like(xc) if xc.numel() == 0 else _act_op(xc, act))
    if xc.numel() == 0:
        return torch.empty_like(xc)
    return _act_op(xc, act)


def metal_silu(x: Tensor, inplace: bool = False) -> Tensor:
    """SiLU, x * sigmoid(x), with F.silu's signature and semantics (result in the dtype of x,
    computed in fp32; fp64 for fp64)."""
    if type(x) is not Tensor or x.dtype not in FLOAT_DTYPES:
        _check_input(x, "input", "metal_silu")
    return _activation(x, _SILU, inplace)


def metal_gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """GELU with F.gelu's signature: approximate='none' is x * Phi(x) (erf form), 'tanh' the tanh
    approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if type(x) is not Tensor or x.dtype not in FLOAT_DTYPES:
        _check_input(x, "input", "metal_gelu")
    code = _GELU_CODES.get(approximate) if isinstance(approximate, str) else None
    if code is None:
        raise ValueError(f"metal_gelu: approximate must be 'none' or 'tanh', not {approximate!r}")
    return _activation(x, code, False)


# ---- SwiGLU ------------------------------------------------------------------------------------

def _halves(x: Tensor):
    i = x.shape[-1] // 2
    return x[..., :i], x[..., i:]


def _swiglu_forward(gate: Tensor, up: Optional[Tensor]) -> Tensor:
    if up is None:
        g, u = _halves(gate)
    else:
        g, u = gate, up
    y = torch.empty_like(g, memory_format=torch.contiguous_format)
    _C.swiglu_forward(g, u, y)
    return y


def _swiglu_fake(gate, up):
    shape = gate.shape if up is not None else (*gate.shape[:-1], gate.shape[-1] // 2)
    return gate.new_empty(shape)


def _swiglu_backward_impl(dy: Tensor, gate: Tensor, up: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    """Returns (dgate, dup); packed (up None): (d of the packed tensor, an empty tensor)."""
    if up is None:
        dpacked = torch.empty_like(gate)
        dg, du = _halves(dpacked)
        g, u = _halves(gate)
        _C.swiglu_backward(dy, g, u, dg, du)
        return dpacked, gate.new_empty(0)
    dg = torch.empty_like(gate)
    du = torch.empty_like(up)
    _C.swiglu_backward(dy, gate, up, dg, du)
    return dg, du


def _swiglu_backward_fake(dy, gate, up):
    return torch.empty_like(gate), (gate.new_empty(0) if up is None else torch.empty_like(up))


_swiglu_backward_op = fused_op("swiglu_backward", _swiglu_backward_impl, _swiglu_backward_fake)


def _swiglu_setup_context(ctx, inputs, output):
    gate, up = inputs
    ctx.save_for_backward(gate, up)


def _swiglu_backward(ctx, dy):
    gate, up = ctx.saved_tensors
    dg, du = _swiglu_backward_op(dy if dy.is_contiguous() else dy.contiguous(), gate, up)
    return dg, (None if up is None else du)


_swiglu_op = fused_op("swiglu", _swiglu_forward, _swiglu_fake, _swiglu_setup_context, _swiglu_backward)


def swiglu(gate: Tensor, up: Optional[Tensor] = None) -> Tensor:
    """SwiGLU activation silu(gate) * up, fused, in the dtype of the inputs (computed in fp32).

    With `up=None`, `gate` is a packed [..., 2I] tensor whose first half along the last dimension
    is the gate and whose second half is up (the layout of a fused gate_up projection); the
    result is [..., I]. Backward recomputes silu(gate) instead of saving it; for a packed input
    the gradient is one packed [..., 2I] tensor."""
    if type(gate) is not Tensor or gate.dtype not in FLOAT_DTYPES:
        _check_input(gate, "gate", "swiglu")
    if up is None:
        shape = gate.shape
        if not shape or shape[-1] % 2:
            raise ValueError(f"swiglu: a packed gate-up tensor needs an even last dimension; got shape "
                             f"{list(shape)}")
    else:
        if type(up) is not Tensor or up.dtype not in FLOAT_DTYPES:
            _check_input(up, "up", "swiglu")
        if up.dtype != gate.dtype:
            raise TypeError(f"swiglu: gate is {gate.dtype} but up is {up.dtype}")
        shape = gate.shape
        if up.shape != shape:
            raise ValueError(f"swiglu: gate {list(shape)} and up {list(up.shape)} differ in shape")
        if up.device != gate.device:
            raise ValueError(f"swiglu: gate is on {gate.device} but up is on {up.device}")
        if not shape:
            return swiglu(gate.reshape(1), up.reshape(1)).reshape(())
        if not up.is_contiguous():
            up = up.contiguous()
    if not gate.is_contiguous():
        gate = gate.contiguous()
    return _swiglu_op(gate, up)
