"""Activations: `metal_silu` (F.silu), `metal_gelu` (F.gelu, approximate 'none' or 'tanh') and
`swiglu` (silu(gate) * up, separate or packed), forward and backward fused, on CPU and CUDA.
Backward saves only the inputs (silu is recomputed, never stored)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from . import _C
from ._backend import FLOAT_DTYPES, eager_direct

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


@torch.library.custom_op("metalcore::activation", mutates_args=())
def _act_op(x: Tensor, act: int) -> Tensor:
    return _act_forward(x, act)


@_act_op.register_fake
def _(x, act):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


@torch.library.custom_op("metalcore::activation_backward", mutates_args=())
def _act_backward_op(dy: Tensor, x: Tensor, act: int) -> Tensor:
    dx = torch.empty_like(x, memory_format=torch.contiguous_format)
    _C.activation_backward(act, dy, x, dx)
    return dx


@_act_backward_op.register_fake
def _(dy, x, act):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def _act_setup_context(ctx, inputs, output):
    x, act = inputs
    ctx.save_for_backward(x)
    ctx.act = act


def _act_backward(ctx, dy):
    (x,) = ctx.saved_tensors
    return _act_backward_op(dy.contiguous(), x, ctx.act), None


_act_op.register_autograd(_act_backward, setup_context=_act_setup_context)


def _activation(x: Tensor, act: int, inplace: bool) -> Tensor:
    xc = x.contiguous()
    if xc.numel() == 0:
        y = torch.empty_like(xc)
    elif eager_direct(xc):
        if inplace and xc is x:  # same storage: compute in place, no new tensor
            _C.activation_forward(act, x, x)
            return x
        y = _act_forward(xc, act)
    else:
        y = _act_op(xc, act)
    if inplace:
        return x.copy_(y)
    return y


def metal_silu(x: Tensor, inplace: bool = False) -> Tensor:
    """SiLU, x * sigmoid(x), with F.silu's signature and semantics (result in the dtype of x,
    computed in fp32; fp64 for fp64)."""
    _check_input(x, "input", "metal_silu")
    return _activation(x, _SILU, inplace)


def metal_gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """GELU with F.gelu's signature: approximate='none' is x * Phi(x) (erf form), 'tanh' the tanh
    approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
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
    y = torch.empty(g.shape, dtype=g.dtype, device=g.device)
    _C.swiglu_forward(g, u, y)
    return y


@torch.library.custom_op("metalcore::swiglu", mutates_args=())
def _swiglu_op(gate: Tensor, up: Optional[Tensor]) -> Tensor:
    return _swiglu_forward(gate, up)


@_swiglu_op.register_fake
def _(gate, up):
    shape = gate.shape if up is not None else (*gate.shape[:-1], gate.shape[-1] // 2)
    return gate.new_empty(shape)


@torch.library.custom_op("metalcore::swiglu_backward", mutates_args=())
def _swiglu_backward_op(dy: Tensor, gate: Tensor, up: Optional[Tensor]) -> tuple[Tensor, Tensor]:
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


@_swiglu_backward_op.register_fake
def _(dy, gate, up):
    return torch.empty_like(gate), (gate.new_empty(0) if up is None else torch.empty_like(up))


def _swiglu_setup_context(ctx, inputs, output):
    gate, up = inputs
    ctx.save_for_backward(gate, up)


def _swiglu_backward(ctx, dy):
    gate, up = ctx.saved_tensors
    dg, du = _swiglu_backward_op(dy.contiguous(), gate, up)
    return dg, (None if up is None else du)


_swiglu_op.register_autograd(_swiglu_backward, setup_context=_swiglu_setup_context)


def swiglu(gate: Tensor, up: Optional[Tensor] = None) -> Tensor:
    """SwiGLU activation silu(gate) * up, fused, in the dtype of the inputs (computed in fp32).

    With `up=None`, `gate` is a packed [..., 2I] tensor whose first half along the last dimension
    is the gate and whose second half is up (the layout of a fused gate_up projection); the
    result is [..., I]. Backward recomputes silu(gate) instead of saving it; for a packed input
    the gradient is one packed [..., 2I] tensor."""
    _check_input(gate, "gate", "swiglu")
    if up is None:
        if gate.dim() < 1 or gate.shape[-1] % 2:
            raise ValueError(f"swiglu: a packed gate-up tensor needs an even last dimension; got shape "
                             f"{list(gate.shape)}")
    else:
        _check_input(up, "up", "swiglu")
        if up.dtype != gate.dtype:
            raise TypeError(f"swiglu: gate is {gate.dtype} but up is {up.dtype}")
        if up.shape != gate.shape:
            raise ValueError(f"swiglu: gate {list(gate.shape)} and up {list(up.shape)} differ in shape")
        if up.device != gate.device:
            raise ValueError(f"swiglu: gate is on {gate.device} but up is on {up.device}")
        if gate.dim() == 0:
            gate, up = gate.reshape(1), up.reshape(1)
            return swiglu(gate, up).reshape(())
        up = up.contiguous()
    gate = gate.contiguous()
    if eager_direct(gate, up):
        return _swiglu_forward(gate, up)
    return _swiglu_op(gate, up)
