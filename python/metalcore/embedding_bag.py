"""EmbeddingBag: `embedding_bag` (F.embedding_bag's signature and semantics) and
`MetalEmbeddingBag` (torch.nn.EmbeddingBag's constructor, default mode 'sum' as the usage guide
has it). Modes sum, mean, max; offsets with or without include_last_offset, or 2-D input
(fixed-size bags); per_sample_weights (sum); padding_idx; empty bags give zeros.

Indices out of range raise IndexError and are never read. On the CPU the check is free. On CUDA
the kernel skips and counts them, and the check costs one host sync per forward (reading four
integers back); pass validate=False to skip it when the indices are known to be valid (bad
entries are then silently skipped, still never read).

Backward gives the dense weight gradient (sparse=True is not supported) and the gradient of
per_sample_weights. The default reduction uses f32 atomics; deterministic=True (or
torch.use_deterministic_algorithms(True)) sorts the indices and reduces each row in a fixed
order, bit-identical run to run."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from . import _C
from ._backend import FLOAT_DTYPES, eager_direct, fused_op

__all__ = ["embedding_bag", "MetalEmbeddingBag"]

_MODES = {"sum": 0, "mean": 1, "max": 2}
_INDEX_DTYPES = (torch.int32, torch.int64)


def _nbags(indices: Tensor, offsets: Optional[Tensor], include_last: bool) -> int:
    if offsets is None:
        return indices.shape[0]
    return offsets.shape[0] - (1 if include_last else 0)


def _forward(weight, indices, offsets, psw, mode, include_last, padding_idx, validate, want_saved):
    nb = _nbags(indices, offsets, include_last)
    d = weight.shape[1]
    out = weight.new_empty(nb, d)
    cnt = weight.new_empty(nb, dtype=torch.int64) if want_saved else None
    mp = weight.new_empty(nb, d, dtype=torch.int64) if want_saved and mode == 2 else None
    check = validate or weight.is_cpu  # free on the CPU: always on
    err = weight.new_empty(4, dtype=torch.int64) if check else None
    _C.embedding_bag_forward(weight, indices, offsets, psw, mode, include_last, padding_idx, out, cnt, mp, err)
    if check:
        n_bad_idx, pos, n_bad_bags, bag = err.tolist()  # the one host sync on CUDA
        if n_bad_idx:
            val = indices.reshape(-1)[pos].item()
            raise IndexError(f"embedding_bag: index {val} (at position {pos}) is out of range for "
                             f"{weight.shape[0]} embeddings ({n_bad_idx} out-of-range indices)")
        if n_bad_bags:
            raise ValueError(f"embedding_bag: offsets are invalid at bag {bag} ({n_bad_bags} bad bags): offsets "
                             f"must start at 0, be non-decreasing and at most {indices.numel()}")
    return out, cnt, mp


def _eb_impl(weight: Tensor, indices: Tensor, offsets: Optional[Tensor], psw: Optional[Tensor], mode: int,
           include_last: bool, padding_idx: int, validate: bool, deterministic: bool
           ) -> tuple[Tensor, Tensor, Tensor]:
    """Returns (out, bag_count, max_pos); max_pos is empty unless mode is max."""
    out, cnt, mp = _forward(weight, indices, offsets, psw, mode, include_last, padding_idx, validate, True)
    return out, cnt, (mp if mp is not None else cnt.new_empty(0))


def _eb_fake(weight, indices, offsets, psw, mode, include_last, padding_idx, validate, deterministic):
    nb = _nbags(indices, offsets, include_last)
    d = weight.shape[1]
    return (weight.new_empty((nb, d)), weight.new_empty((nb,), dtype=torch.int64),
            weight.new_empty((nb, d) if mode == 2 else (0,), dtype=torch.int64))


def _eb_backward_impl(dout: Tensor, weight: Tensor, indices: Tensor, offsets: Optional[Tensor],
                    psw: Optional[Tensor], bag_count: Tensor, max_pos: Tensor, mode: int, include_last: bool,
                    padding_idx: int, deterministic: bool, want_dweight: bool, want_dpsw: bool
                    ) -> tuple[Tensor, Tensor]:
    """Returns (dweight, dpsw); each is empty when not wanted."""
    dw = torch.empty_like(weight) if want_dweight else None
    dpsw = torch.empty_like(psw) if (want_dpsw and psw is not None) else None
    srt = perm = ws = None
    if dw is not None:
        if deterministic:
            srt, perm = torch.sort(indices.reshape(-1), stable=True)
        nbytes = _C.embedding_bag_backward_workspace_size(weight, indices, deterministic)
        ws = torch.empty(nbytes, dtype=torch.uint8, device=weight.device) if nbytes else None
    _C.embedding_bag_backward(dout, weight, indices, offsets, psw, mode, include_last, padding_idx,
                              bag_count if mode == 1 else None, max_pos if mode == 2 else None,
                              srt, perm, dw, dpsw, ws)
    return (dw if dw is not None else weight.new_empty(0)), (dpsw if dpsw is not None else weight.new_empty(0))


def _eb_backward_fake(dout, weight, indices, offsets, psw, bag_count, max_pos, mode, include_last, padding_idx, deterministic,
      want_dweight, want_dpsw):
    return (torch.empty_like(weight) if want_dweight else weight.new_empty(0),
            torch.empty_like(psw) if (want_dpsw and psw is not None) else weight.new_empty(0))


_eb_backward_op = fused_op("embedding_bag_backward", _eb_backward_impl, _eb_backward_fake)


def _setup_context(ctx, inputs, output):
    weight, indices, offsets, psw, mode, include_last, padding_idx, _validate, deterministic = inputs
    _, cnt, mp = output
    ctx.save_for_backward(weight, indices, offsets, psw, cnt, mp)
    ctx.args = (mode, include_last, padding_idx, deterministic)


def _backward(ctx, dout, _dcnt, _dmp):
    weight, indices, offsets, psw, cnt, mp = ctx.saved_tensors
    mode, include_last, padding_idx, deterministic = ctx.args
    want_dw = ctx.needs_input_grad[0]
    want_dpsw = psw is not None and ctx.needs_input_grad[3]
    if not (want_dw or want_dpsw):
        return None, None, None, None, None, None, None, None, None
    dw, dpsw = _eb_backward_op(dout if dout.is_contiguous() else dout.contiguous(), weight, indices, offsets, psw, cnt, mp, mode, include_last,
                               padding_idx, deterministic, want_dw, want_dpsw)
    return (dw if want_dw else None), None, None, (dpsw if want_dpsw else None), None, None, None, None, None


_eb_op = fused_op("embedding_bag", _eb_impl, _eb_fake, _setup_context, _backward)


def embedding_bag(input: Tensor, weight: Tensor, offsets: Optional[Tensor] = None, max_norm: Optional[float] = None,
                  norm_type: float = 2, scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Optional[Tensor] = None, include_last_offset: bool = False,
                  padding_idx: Optional[int] = None, *, deterministic: Optional[bool] = None,
                  validate: bool = True) -> Tensor:
    """F.embedding_bag with the same signature and semantics (the output alone). Options torch has
    and metalcore does not (max_norm, scale_grad_by_freq, sparse) raise rather than being ignored.
    deterministic=None follows torch.are_deterministic_algorithms_enabled(); validate=False skips
    the host sync that turns out-of-range indices into an IndexError on CUDA (see the module doc)."""
    if not isinstance(input, Tensor) or not isinstance(weight, Tensor):
        raise TypeError("embedding_bag: input and weight must be Tensors")
    if max_norm is not None:
        raise ValueError("embedding_bag: max_norm is not supported by metalcore (use torch.nn.functional.embedding_bag)")
    if scale_grad_by_freq:
        raise ValueError("embedding_bag: scale_grad_by_freq=True is not supported by metalcore")
    if sparse:
        raise ValueError("embedding_bag: sparse=True is not supported by metalcore (it computes dense gradients)")
    m = _MODES.get(mode)
    if m is None:
        raise ValueError(f"embedding_bag: mode must be 'sum', 'mean' or 'max'; got {mode!r}")
    if weight.dtype not in FLOAT_DTYPES:
        raise TypeError(f"embedding_bag: weight has dtype {weight.dtype}; expected a floating dtype")
    if weight.dim() != 2:
        raise ValueError(f"embedding_bag: weight must be 2-D; got shape {list(weight.shape)}")
    if input.dtype not in _INDEX_DTYPES:
        raise TypeError(f"embedding_bag: input has dtype {input.dtype}; expected torch.int64 or torch.int32")
    wd = weight.device
    if input.device != wd:
        raise ValueError(f"embedding_bag: input is on {input.device} but weight is on {wd}")
    num = weight.shape[0]
    if padding_idx is None:
        pad = -1
    else:
        if not (-num <= padding_idx < num):
            raise ValueError(f"embedding_bag: padding_idx {padding_idx} is out of range for {num} embeddings")
        pad = padding_idx + num if padding_idx < 0 else padding_idx
    psw = per_sample_weights
    if psw is not None:
        if m != 0:
            raise ValueError(f"embedding_bag: per_sample_weights are only supported for mode='sum' (got mode={mode!r})")
        if not isinstance(psw, Tensor):
            raise TypeError("embedding_bag: per_sample_weights must be a Tensor")
        if psw.dtype != weight.dtype:
            raise TypeError(f"embedding_bag: per_sample_weights have dtype {psw.dtype}; expected {weight.dtype} (that of weight)")
        if psw.shape != input.shape:
            raise ValueError(f"embedding_bag: per_sample_weights {list(psw.shape)} must have the shape of input {list(input.shape)}")
        if psw.device != wd:
            raise ValueError(f"embedding_bag: per_sample_weights are on {psw.device} but weight is on {wd}")
    nd = input.dim()
    if nd == 2:
        if offsets is not None:
            raise ValueError("embedding_bag: if input is 2-D, offsets must be None")
        # torch gives one bag per row of 2-D input whatever include_last_offset says
    elif nd == 1:
        if offsets is None:
            raise ValueError("embedding_bag: offsets must be given for 1-D input")
        if not isinstance(offsets, Tensor) or offsets.dim() != 1:
            raise ValueError("embedding_bag: offsets must be a 1-D Tensor")
        if offsets.dtype not in _INDEX_DTYPES:
            raise TypeError(f"embedding_bag: offsets have dtype {offsets.dtype}; expected torch.int64 or torch.int32")
        if offsets.device != wd:
            raise ValueError(f"embedding_bag: offsets are on {offsets.device} but weight is on {wd}")
        if include_last_offset and offsets.shape[0] == 0:
            raise ValueError("embedding_bag: include_last_offset=True needs at least one offset")
        if offsets.dtype != input.dtype:
            offsets = offsets.to(input.dtype)
    else:
        raise ValueError(f"embedding_bag: input must be 1-D or 2-D; got shape {list(input.shape)}")
    if deterministic is None:
        deterministic = torch.are_deterministic_algorithms_enabled()
    w = weight if weight.is_contiguous() else weight.contiguous()
    idx = input if input.is_contiguous() else input.contiguous()
    if offsets is not None and not offsets.is_contiguous():
        offsets = offsets.contiguous()
    if psw is not None and not psw.is_contiguous():
        psw = psw.contiguous()
    last = bool(include_last_offset) and offsets is not None
    if eager_direct(w, idx, offsets, psw):
        out, _, _ = _forward(w, idx, offsets, psw, m, last, pad, validate, False)
        return out
    out, _, _ = _eb_op(w, idx, offsets, psw, m, last, pad, validate, bool(deterministic))
    return out


class MetalEmbeddingBag(torch.nn.EmbeddingBag):
    """torch.nn.EmbeddingBag on metalcore kernels (CPU and CUDA). Takes torch's constructor
    arguments, with mode third and 'sum' by default as the usage guide has it; max_norm,
    scale_grad_by_freq=True and sparse=True raise (never silently ignored). Extra keywords:
    deterministic (bit-identical backward; None follows torch's deterministic setting) and
    validate (see `embedding_bag`)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, mode: str = "sum", max_norm: Optional[float] = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False,
                 _weight: Optional[Tensor] = None, include_last_offset: bool = False,
                 padding_idx: Optional[int] = None, device=None, dtype=None, *,
                 deterministic: Optional[bool] = None, validate: bool = True) -> None:
        if max_norm is not None:
            raise ValueError("MetalEmbeddingBag: max_norm is not supported")
        if scale_grad_by_freq:
            raise ValueError("MetalEmbeddingBag: scale_grad_by_freq=True is not supported")
        if sparse:
            raise ValueError("MetalEmbeddingBag: sparse=True is not supported (gradients are dense)")
        if mode not in _MODES:
            raise ValueError(f"MetalEmbeddingBag: mode must be 'sum', 'mean' or 'max'; got {mode!r}")
        super().__init__(num_embeddings, embedding_dim, max_norm=None, norm_type=norm_type,
                         scale_grad_by_freq=False, mode=mode, sparse=False, _weight=_weight,
                         include_last_offset=include_last_offset, padding_idx=padding_idx, device=device,
                         dtype=dtype)
        self.deterministic = deterministic
        self.validate = validate

    def forward(self, input: Tensor, offsets: Optional[Tensor] = None,
                per_sample_weights: Optional[Tensor] = None) -> Tensor:
        return embedding_bag(input, self.weight, offsets, None, self.norm_type, False, self.mode, False,
                             per_sample_weights, self.include_last_offset, self.padding_idx,
                             deterministic=self.deterministic, validate=self.validate)
