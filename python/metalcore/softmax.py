"""Fused softmax along any dimension, forward and backward (backward saves only the output), with
torch.softmax's semantics: result in the dtype of the input, computed in fp32 (fp64 for fp64);
rows of all -inf, or holding +inf or NaN, give NaN."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from . import _C
from ._backend import FLOAT_DTYPES, eager_direct, fused_op

_is_compiling = torch.compiler.is_compiling

__all__ = ["fused_softmax"]


class SoftmaxDimError(IndexError, ValueError):
    """dim out of range: an IndexError as torch raises, and a ValueError as metalcore's bad values."""


_ws_cache: dict = {}

# Only the CUDA split path takes a workspace, and no row shorter than this many columns takes it
# (MC_SOFTMAX_SPLIT_MIN_COLS): below it the cache lookup is skipped.
_SPLIT_MIN_COLS = _C.softmax_split_min_cols


def _workspace(x: Tensor, dim: int) -> Optional[Tensor]:
    """Scratch for the split-row path on CUDA (None when not needed). The size depends only on
    shape, dtype, dim and device, so it is cached."""
    if not x.is_cuda or x.dim() == 0 or x.shape[dim] < _SPLIT_MIN_COLS:
        return None
    key = (x.shape, x.dtype, dim, x.get_device())
    n = _ws_cache.get(key)
    if n is None:
        n = _C.softmax_workspace_size(x, dim)
        if len(_ws_cache) > 4096:
            _ws_cache.clear()
        _ws_cache[key] = n
    return torch.empty(n, dtype=torch.uint8, device=x.device) if n else None


def _forward(x: Tensor, dim: int) -> Tensor:
    y = torch.empty_like(x, memory_format=torch.contiguous_format)
    _C.softmax_forward(x, dim, y, _workspace(x, dim))
    return y


def _fake(x, dim):
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def _backward_impl(dy: Tensor, y: Tensor, dim: int) -> Tensor:
    dx = torch.empty_like(y, memory_format=torch.contiguous_format)
    _C.softmax_backward(dy, y, dim, dx, _workspace(y, dim))
    return dx


def _backward_fake(dy, y, dim):
    return torch.empty_like(y, memory_format=torch.contiguous_format)


_softmax_backward_op = fused_op("softmax_backward", _backward_impl, _backward_fake)


def _setup_context(ctx, inputs, output):
    ctx.dim = inputs[1]
    ctx.save_for_backward(output)


def _backward(ctx, dy):
    (y,) = ctx.saved_tensors
    return _softmax_backward_op(dy if dy.is_contiguous() else dy.contiguous(), y, ctx.dim), None


_softmax_op = fused_op("softmax", _forward, _fake, _setup_context, _backward)


def fused_softmax(x: Tensor, dim: int = -1, dtype: Optional[torch.dtype] = None) -> Tensor:
    """Softmax of x along `dim` (any dimension; negative counts from the end), like
    torch.softmax(x, dim, dtype): with `dtype`, x is first cast to it. Forward and backward are
    fused kernels on CPU and CUDA; backward saves only the output."""
    if dtype is None and type(x) is Tensor and type(dim) is int and not _is_compiling():
        y = _C.softmax_eager(x, dim)  # the plain eager call in one C call; None: the general path
        if y is not None:
            return y
    if not isinstance(x, Tensor):
        raise TypeError(f"fused_softmax: input must be a Tensor, not {type(x).__name__}")
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"fused_softmax: input has dtype {x.dtype}; expected float32, float16, bfloat16 "
                        "or float64")
    if type(dim) is not int:
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise TypeError(f"fused_softmax: dim must be an int, not {type(dim).__name__}")
        dim = int(dim)
    nd = x.dim() or 1
    if dim < 0:
        if dim < -nd:
            raise SoftmaxDimError(f"fused_softmax: dim {dim} out of range for a tensor of rank {x.dim()}")
        dim += nd
    elif dim >= nd:
        raise SoftmaxDimError(f"fused_softmax: dim {dim} out of range for a tensor of rank {x.dim()}")
    if x.is_cuda and x.dtype == torch.float64:
        # our CUDA kernels are fp32/fp16/bf16; float64 on CUDA (e.g. dtype=torch.float64) is
        # torch's own softmax, the same function, never a lower precision
        return torch.softmax(x, dim)
    if not x.is_contiguous():
        x = x.contiguous()
    if x.numel() == 0:
        return torch.empty_like(x) if eager_direct(x) else x * 1  # keep autograd connected
    return _softmax_op(x, dim)
