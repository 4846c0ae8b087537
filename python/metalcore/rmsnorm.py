"""Fused RMSNorm: `rms_norm` (functional, F.rms_norm's signature) and `MetalRMSNorm` (a drop-in for
torch.nn.RMSNorm). Forward saves only the input and one fp32 `rstd` per row."""
from __future__ import annotations

import numbers
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from . import _C
from ._backend import FLOAT_DTYPES, eager_direct, fused_op

__all__ = ["rms_norm", "MetalRMSNorm", "fused_add_rmsnorm"]


def _rstd_dtype(x: Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _forward(x: Tensor, weight: Optional[Tensor], eps: float, want_rstd: bool):
    """x: (..., N) contiguous; weight: (N,) or None. Returns (y, rstd or None)."""
    y = torch.empty_like(x)  # x is contiguous
    rstd = torch.empty(x.shape[:-1], dtype=_rstd_dtype(x), device=x.device) if want_rstd else None
    _C.rmsnorm_forward(x, weight, eps, y, rstd)
    return y, rstd


def _rms_norm_impl(x: Tensor, weight: Optional[Tensor], eps: float) -> tuple[Tensor, Tensor]:
    return _forward(x, weight, eps, True)


def _rms_norm_fake(x, weight, eps):
    return torch.empty_like(x), x.new_empty(x.shape[:-1], dtype=_rstd_dtype(x))


def _rms_norm_backward_impl(
    dy: Tensor, x: Tensor, weight: Optional[Tensor], rstd: Tensor, want_dweight: bool
) -> tuple[Tensor, Tensor]:
    """Returns (dx, dweight); dweight is empty when not wanted."""
    dx = torch.empty_like(x)
    want = want_dweight and weight is not None
    dweight = torch.empty_like(weight) if want else x.new_empty(0)
    ws_bytes = _C.rmsnorm_backward_workspace_size(x, weight, want)
    ws = torch.empty(ws_bytes, dtype=torch.uint8, device=x.device) if ws_bytes else None
    _C.rmsnorm_backward(dy, x, weight, rstd, dx, dweight if want else None, ws)
    return dx, dweight


def _rms_norm_backward_fake(dy, x, weight, rstd, want_dweight):
    want = want_dweight and weight is not None
    return torch.empty_like(x), (torch.empty_like(weight) if want else x.new_empty(0))


_rms_norm_backward_op = fused_op("rms_norm_backward", _rms_norm_backward_impl, _rms_norm_backward_fake)


def _setup_context(ctx, inputs, output):
    x, weight, _ = inputs
    _, rstd = output
    ctx.save_for_backward(x, weight, rstd)


def _backward(ctx, dy, _drstd):
    x, weight, rstd = ctx.saved_tensors
    want_dw = weight is not None and ctx.needs_input_grad[1]
    dx, dw = _rms_norm_backward_op(dy.contiguous(), x, weight, rstd, want_dw)
    return dx, (dw if want_dw else None), None


_rms_norm_op = fused_op("rms_norm", _rms_norm_impl, _rms_norm_fake, _setup_context, _backward)


def _normalized_numel(x: Tensor, normalized_shape) -> int:
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (int(normalized_shape),)
    shape = tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.dim() < k or tuple(x.shape[x.dim() - k:]) != shape:
        raise ValueError(
            f"rms_norm: normalized_shape={list(shape)} does not match the trailing dimensions of "
            f"an input of shape {list(x.shape)}"
        )
    n = 1
    for s in shape:
        n *= s
    return n


def rms_norm(
    input: Tensor,
    normalized_shape: Union[int, Sequence[int], torch.Size],
    weight: Optional[Tensor] = None,
    eps: Optional[float] = None,
) -> Tensor:
    """RMSNorm over the trailing `normalized_shape` dimensions, with F.rms_norm's signature and
    semantics: y = x / sqrt(mean(x^2) + eps) * weight, in the dtype of x (computed in fp32, fp64
    for fp64). `eps=None` uses torch.finfo(x.dtype).eps, as torch does. A weight in another float
    dtype than x is used in float32."""
    if not isinstance(input, Tensor):
        raise TypeError(f"rms_norm: input must be a Tensor, not {type(input).__name__}")
    if input.dtype not in FLOAT_DTYPES:
        raise TypeError(f"rms_norm: input has dtype {input.dtype}; expected a floating dtype")
    shape = input.shape
    # the common call, rms_norm(x, (n,) or n, ...), costs no more than a comparison here
    if isinstance(normalized_shape, int) or len(normalized_shape) == 1:
        n = normalized_shape if isinstance(normalized_shape, int) else normalized_shape[0]
        if not shape or shape[-1] != n:
            _normalized_numel(input, normalized_shape)  # raises the ValueError
        k = 1
    else:
        n = _normalized_numel(input, normalized_shape)
        k = len(normalized_shape)
    if weight is not None:
        if weight.shape != shape[len(shape) - weight.dim():] or weight.dim() != k:
            raise ValueError(
                f"rms_norm: weight of shape {list(weight.shape)} does not match normalized_shape "
                f"{list(shape[len(shape) - k:])}"
            )
        if weight.dtype != input.dtype:
            if weight.dtype not in FLOAT_DTYPES:
                raise TypeError(f"rms_norm: weight has dtype {weight.dtype}; expected a floating dtype")
            if weight.dtype != torch.float32:
                weight = weight.float()
        if k > 1 or not weight.is_contiguous():
            weight = weight.reshape(n).contiguous()
    if eps is None:
        eps = torch.finfo(input.dtype).eps
    if n == 0:  # nothing to normalise; keep autograd connected
        return input.clone() if weight is None else input * weight
    # The C API takes any rank with the normalised dimension last and contiguous rows.
    x = input if k == 1 and input.is_contiguous() else input.reshape(shape[: len(shape) - k] + (n,)).contiguous()
    if eager_direct(x, weight):
        y, _ = _forward(x, weight, float(eps), False)
    else:
        y, _ = _rms_norm_op(x, weight, float(eps))
    return y if k == 1 else y.view(shape)


class MetalRMSNorm(torch.nn.RMSNorm):
    """Drop-in for torch.nn.RMSNorm with a fused forward and backward on CPU and CUDA.

    Accepts torch.nn.RMSNorm's constructor; the default eps is 1e-6 (the usage guide's), and
    eps=None means torch's default, torch.finfo(x.dtype).eps. Any number of leading dimensions."""

    def __init__(
        self,
        normalized_shape: Union[int, Sequence[int], torch.Size],
        eps: Optional[float] = 1e-6,
        elementwise_affine: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(normalized_shape, eps, elementwise_affine, device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)


# ---- fused residual add + RMSNorm ------------------------------------------------------------

def _add_forward(x: Tensor, residual: Tensor, weight: Optional[Tensor], eps: float, want_rstd: bool):
    """x, residual: (rows, N) contiguous. Returns (y, h, rstd or None)."""
    y = torch.empty_like(x)
    h = torch.empty_like(x)
    rstd = torch.empty(x.shape[:-1], dtype=_rstd_dtype(x), device=x.device) if want_rstd else None
    _C.add_rmsnorm_forward(x, residual, weight, eps, y, h, rstd)
    return y, h, rstd


def _add_rms_norm_impl(x: Tensor, residual: Tensor, weight: Optional[Tensor], eps: float) -> tuple[Tensor, Tensor, Tensor]:
    return _add_forward(x, residual, weight, eps, True)


def _add_rms_norm_fake(x, residual, weight, eps):
    return torch.empty_like(x), torch.empty_like(x), x.new_empty(x.shape[:-1], dtype=_rstd_dtype(x))


def _add_rms_norm_backward_impl(
    dy: Tensor, dh: Tensor, h: Tensor, weight: Optional[Tensor], rstd: Tensor, want_dweight: bool
) -> tuple[Tensor, Tensor]:
    """Returns (d of h = dx = dresidual, dweight); dweight is empty when not wanted."""
    dx = torch.empty_like(h)
    want = want_dweight and weight is not None
    dweight = torch.empty_like(weight) if want else h.new_empty(0)
    ws_bytes = _C.rmsnorm_backward_workspace_size(h, weight, want)
    ws = torch.empty(ws_bytes, dtype=torch.uint8, device=h.device) if ws_bytes else None
    _C.add_rmsnorm_backward(dy, dh, h, weight, rstd, dx, dweight if want else None, ws)
    return dx, dweight


def _add_rms_norm_backward_fake(dy, dh, h, weight, rstd, want_dweight):
    want = want_dweight and weight is not None
    return torch.empty_like(h), (torch.empty_like(weight) if want else h.new_empty(0))


_add_rms_norm_backward_op = fused_op("add_rms_norm_backward", _add_rms_norm_backward_impl, _add_rms_norm_backward_fake)


def _add_setup_context(ctx, inputs, output):
    _, _, weight, _ = inputs
    _, h, rstd = output
    ctx.save_for_backward(h, weight, rstd)


def _add_backward(ctx, dy, dh, _drstd):
    h, weight, rstd = ctx.saved_tensors
    want_dw = weight is not None and ctx.needs_input_grad[2]
    dx, dw = _add_rms_norm_backward_op(dy.contiguous(), dh.contiguous(), h, weight, rstd, want_dw)
    # x and residual get the same gradient; the second is a separate tensor only when both need it
    dres = dx.clone() if (ctx.needs_input_grad[0] and ctx.needs_input_grad[1]) else dx
    return dx, dres, (dw if want_dw else None), None


_add_rms_norm_op = fused_op("add_rms_norm", _add_rms_norm_impl, _add_rms_norm_fake, _add_setup_context, _add_backward)


def fused_add_rmsnorm(x: Tensor, residual: Tensor, weight: Optional[Tensor], eps: float = 1e-6):
    """Residual add fused with RMSNorm, as in a pre-norm transformer block:
    h = x + residual (in the dtype of x), y = h / sqrt(mean(h^2) + eps) * weight over the last
    dimension. Returns (y, h): the normalised output and the updated residual. Gradients flow to
    x, residual and weight through both outputs."""
    for name, t in (("x", x), ("residual", residual)):
        if not isinstance(t, Tensor):
            raise TypeError(f"fused_add_rmsnorm: {name} must be a Tensor, not {type(t).__name__}")
        if t.dtype not in FLOAT_DTYPES:
            raise TypeError(f"fused_add_rmsnorm: {name} has dtype {t.dtype}; expected a floating dtype")
    if residual.dtype != x.dtype:
        raise TypeError(f"fused_add_rmsnorm: x is {x.dtype} but residual is {residual.dtype}")
    if residual.shape != x.shape:
        raise ValueError(f"fused_add_rmsnorm: x {list(x.shape)} and residual {list(residual.shape)} differ in shape")
    if residual.device != x.device:
        raise ValueError(f"fused_add_rmsnorm: x is on {x.device} but residual is on {residual.device}")
    if x.dim() < 1 or x.shape[-1] == 0:
        raise ValueError(f"fused_add_rmsnorm: x of shape {list(x.shape)} has no last dimension to normalise")
    n = x.shape[-1]
    if weight is not None:
        if not isinstance(weight, Tensor):
            raise TypeError(f"fused_add_rmsnorm: weight must be a Tensor or None, not {type(weight).__name__}")
        if weight.dtype not in FLOAT_DTYPES:
            raise TypeError(f"fused_add_rmsnorm: weight has dtype {weight.dtype}; expected a floating dtype")
        if tuple(weight.shape) != (n,):
            raise ValueError(f"fused_add_rmsnorm: weight of shape {list(weight.shape)}; expected [{n}]")
        if weight.device != x.device:
            raise ValueError(f"fused_add_rmsnorm: weight is on {weight.device} but x is on {x.device}")
        if weight.dtype != x.dtype and weight.dtype != torch.float32:
            weight = weight.float()
        weight = weight.contiguous()
    eps = float(eps)
    if not eps >= 0.0:
        raise ValueError(f"fused_add_rmsnorm: eps must be >= 0, not {eps}")
    # (rows, n) views; a contiguous 2-D input is used as it is (each reshape/view costs ~1-2 us of
    # host time, which is most of this op's budget on small inputs)
    flat = x.dim() == 2
    xf = x if flat and x.is_contiguous() else x.reshape(-1, n).contiguous()
    rf = residual if flat and residual.is_contiguous() else residual.reshape(-1, n).contiguous()
    if xf.shape[0] == 0:  # no rows; keep autograd connected
        h = x + residual
        return (h * weight if weight is not None else h * 1), h
    if eager_direct(xf, rf, weight):
        y, h, _ = _add_forward(xf, rf, weight, eps, False)
    else:
        y, h, _ = _add_rms_norm_op(xf, rf, weight, eps)
    return (y, h) if flat else (y.view(x.shape), h.view(x.shape))
