"""Rotary position embedding, split-half (`rotate_half`) format: `apply_rotary_pos_emb` with
Hugging Face's signature, shapes and semantics (Llama, Mistral, Qwen; partial rotary as in Phi).

Forward and backward are one CUDA kernel each, for q and k together; the backward saves nothing
but cos and sin (it applies the transpose of the rotation, which for HF's duplicated cos/sin
halves is the rotation by -sin)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from . import _C
from ._backend import FLOAT_DTYPES, fused_op

__all__ = ["apply_rotary_pos_emb"]


def _out_like(x: Tensor) -> Tensor:
    # Keeps the layout of a dense input (a transposed [B, S, H, D] view stays [B, S, H, D] in
    # memory); anything else comes out contiguous. The kernel honours either.
    return torch.empty_like(x)


def _rope(q: Tensor, k: Tensor, cos: Tensor, sin: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
    """q (B, Hq, S, D), k (B, Hk, S, D) views with a contiguous last dim; cos, sin (Bc, S, R)."""
    qo, ko = _out_like(q), _out_like(k)
    _C.rope(q, k, cos, sin, qo, ko, inverse)
    return qo, ko


def _rope_fake(q, k, cos, sin, inverse):
    return _out_like(q), _out_like(k)


def _setup_context(ctx, inputs, output):
    _, _, cos, sin, inverse = inputs
    ctx.save_for_backward(cos, sin)
    ctx.inverse = inverse


def _backward(ctx, dq, dk):
    cos, sin = ctx.saved_tensors
    dq = dq if dq.stride(-1) == 1 else dq.contiguous()
    dk = dk if dk.stride(-1) == 1 else dk.contiguous()
    # The gradient of the rotation is its transpose, and the transpose of the transpose is the
    # rotation: double backward stays on the same op. cos/sin never get a gradient here
    # (apply_rotary_pos_emb routes cos/sin that require grad to _rope_autograd_torch).
    gq, gk = _rope_op(dq, dk, cos, sin, not ctx.inverse)
    return gq, gk, None, None, None


_rope_op = fused_op("rope", _rope, _rope_fake, _setup_context, _backward)


def _rope_autograd_torch(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """HF's formula in torch ops, computed in float32 (float64 for float64) and rounded once:
    the path for cos/sin that require grad, so their gradients are right (slower).
    x (B, H, S, D); cos, sin (Bc, S, R)."""
    ct = torch.float64 if x.dtype == torch.float64 else torch.float32
    r = cos.shape[-1]
    xr = x[..., :r].to(ct)
    c = cos.unsqueeze(1).to(ct)
    s = sin.unsqueeze(1).to(ct)
    x1, x2 = xr[..., : r // 2], xr[..., r // 2:]
    y = xr * c + torch.cat((-x2, x1), dim=-1) * s
    return torch.cat((y.to(x.dtype), x[..., r:]), dim=-1)


_LAYOUTS = {1: 1, -3: 1, 2: 2, -2: 2}


def _check_types(q, k, cos, sin):
    for name, t in (("q", q), ("k", k), ("cos", cos), ("sin", sin)):
        if not isinstance(t, Tensor):
            raise TypeError(f"apply_rotary_pos_emb: {name} must be a Tensor, not {type(t).__name__}")
        if t.dtype not in FLOAT_DTYPES:
            raise TypeError(f"apply_rotary_pos_emb: {name} has dtype {t.dtype}; expected a floating dtype")


def _check(q, k, cos, sin, unsqueeze_dim):
    # plain tensors of the usual dtypes pass with a few comparisons; anything else gets the
    # per-argument checks and their messages
    if not (type(q) is Tensor and type(k) is Tensor and type(cos) is Tensor and type(sin) is Tensor
            and q.dtype in FLOAT_DTYPES and k.dtype in FLOAT_DTYPES and cos.dtype in FLOAT_DTYPES
            and sin.dtype in FLOAT_DTYPES):
        _check_types(q, k, cos, sin)
    qs, ks, cs = q.shape, k.shape, cos.shape
    if len(qs) != 4 or len(ks) != 4:
        raise ValueError(f"apply_rotary_pos_emb: q and k must be 4-D; got shapes {list(qs)} and {list(ks)}")
    if k.dtype != q.dtype:
        raise TypeError(f"apply_rotary_pos_emb: q has dtype {q.dtype} but k has {k.dtype}")
    qd = q.device
    for name, t in (("k", k), ("cos", cos), ("sin", sin)):
        if t.device != qd:
            raise ValueError(f"apply_rotary_pos_emb: q is on {qd} but {name} is on {t.device}")
    if cs != sin.shape:
        raise ValueError(f"apply_rotary_pos_emb: cos {list(cs)} and sin {list(sin.shape)} differ in shape")
    nc = len(cs)
    if nc != 3 and nc != 2:
        raise ValueError(f"apply_rotary_pos_emb: cos and sin must be [B, S, R] or [S, R]; got {list(cs)}")
    if type(unsqueeze_dim) is not int and (isinstance(unsqueeze_dim, bool) or not isinstance(unsqueeze_dim, int)):
        raise TypeError("apply_rotary_pos_emb: unsqueeze_dim must be an int")
    # cos [B, S, R].unsqueeze(d): d = 1 (or -3) broadcasts over [B, H, S, D]; d = 2 (or -2)
    # over [B, S, H, D], as HF documents.
    layout = _LAYOUTS.get(unsqueeze_dim)
    if layout is None:
        raise ValueError(f"apply_rotary_pos_emb: unsqueeze_dim must be 1 ([B, H, S, D]) or 2 ([B, S, H, D]); got {unsqueeze_dim}")
    if layout == 1:
        b, _, s, d = qs
        kb, _, ksq, kd = ks
    else:
        b, s, _, d = qs
        kb, ksq, _, kd = ks
    if kb != b or ksq != s or kd != d:
        raise ValueError(f"apply_rotary_pos_emb: q {list(qs)} and k {list(ks)} differ in batch, sequence or head dim")
    if nc == 3:
        cb, cseq, r = cs
    else:
        cb, (cseq, r) = 1, cs
    if (cb != 1 and cb != b) or cseq != s:
        raise ValueError(f"apply_rotary_pos_emb: cos {list(cs)} does not fit q {list(qs)} with "
                         f"unsqueeze_dim={unsqueeze_dim} (expected [{b} or 1, {s}, R] or [{s}, R])")
    if r % 2 or r > d or (r == 0 and d > 0):
        raise ValueError(f"apply_rotary_pos_emb: the rotary dim (last dim of cos) is {r}; it must be even, "
                         f">= 2 and <= the head dim {d}")
    qv, kv = (q, k) if layout == 1 else (q.transpose(1, 2), k.transpose(1, 2))
    c, sn = (cos, sin) if nc == 3 else (cos.unsqueeze(0), sin.unsqueeze(0))
    return layout, qv, kv, c, sn


def apply_rotary_pos_emb(q: Tensor, k: Tensor, cos: Tensor, sin: Tensor, position_ids=None,
                         unsqueeze_dim: int = 1) -> tuple[Tensor, Tensor]:
    """Hugging Face's `apply_rotary_pos_emb`: returns (q * cos + rotate_half(q) * sin, the same
    for k), with cos/sin unsqueezed at `unsqueeze_dim`.

    q: [B, Hq, S, D] and k: [B, Hk, S, D] (Hk may differ from Hq) for unsqueeze_dim=1, or
    [B, S, H, D] for unsqueeze_dim=2. cos, sin: [B, S, R] or [S, R] (shared by the batch),
    R even and <= D: only the first R dims of each head rotate, the rest pass through (partial
    rotary, as Phi). `position_ids` is accepted and ignored, as in recent transformers versions
    (cos/sin are already gathered per position). Outputs have the dtype of q (computed in fp32,
    fp64 for fp64, and rounded once; HF rounds after each op in q's dtype); cos/sin of another
    float dtype are used in float32. If cos or sin requires grad, a slower torch path gives
    their gradients too."""
    layout, qv, kv, c, s = _check(q, k, cos, sin, unsqueeze_dim)
    qdt, cdt = q.dtype, c.dtype
    if cdt != qdt and cdt != torch.float32:
        ct = torch.float64 if qdt == torch.float64 else torch.float32
        c, s = c.to(ct), s.to(ct)
    if (cos.requires_grad or sin.requires_grad) and torch.is_grad_enabled():
        qo, ko = _rope_autograd_torch(qv, c, s), _rope_autograd_torch(kv, c, s)
    else:
        if c.stride(-1) != 1:
            c = c.contiguous()
        if s.stride(-1) != 1:
            s = s.contiguous()
        if qv.stride(-1) != 1:
            qv = qv.contiguous()
        if kv.stride(-1) != 1:
            kv = kv.contiguous()
        qo, ko = _rope_op(qv, kv, c, s, False)
    if layout == 2:
        return qo.transpose(1, 2), ko.transpose(1, 2)
    return qo, ko
