"""Loads the C extension and registers the torch objects it needs.

Everything torch-facing goes through this module: the extension (`_C`) takes torch tensors and
reads their data pointer, dtype, shape, strides and device itself, and launches CUDA work on the
current torch stream of the tensor's device.
"""
from __future__ import annotations

import torch

from . import _C

# mc_dtype order (include/metalcore.h): f32, f64, f16, bf16, i8, u8, i16, i32, i64, bool
_DTYPES = (
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.uint8,
    torch.int16, torch.int32, torch.int64, torch.bool,
)

_C._init(
    torch.Tensor,
    _DTYPES,
    getattr(torch._C, "_cuda_getCurrentRawStream", None),
    torch.linalg.LinAlgError,
    torch.empty_like,
    torch.is_grad_enabled,
    torch._C._are_functorch_transforms_active,
)

FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)

# The torch functions enable_pytorch_overrides() may replace, as they are when metalcore is
# imported. Package code that hands a call to torch (routing, reference formulas) uses these, so
# a routed call never comes back into an override (torch.linalg.svd -> metalcore.svd -> ...).
TORCH_SVD = torch.linalg.svd
TORCH_QR = torch.linalg.qr
TORCH_SILU = torch.nn.functional.silu

# Tensor types the eager paths take as they are; any other subclass (FakeTensor, DTensor, ...)
# goes through the custom op so its own dispatch sees the call. nn.Parameter is a plain tensor
# for this purpose (every module weight is one).
_PLAIN = (torch.Tensor, torch.nn.Parameter)


def version() -> str:
    return _C.version()


def backends() -> list[str]:
    """Backends compiled into this build: always 'cpu', 'cuda' when the CUDA backend is in."""
    return ["cpu"] + (["cuda"] if _C.has_cuda() else [])


def cuda_available() -> bool:
    """True when metalcore can run on a CUDA device here (backend compiled in and a device found)."""
    return bool(_C.has_cuda()) and _C.cuda_device_count() > 0 and torch.cuda.is_available()


def eager_direct(*tensors) -> bool:
    """True when an op may skip torch.library dispatch and call the extension directly: eager mode,
    plain tensors (no subclasses such as FakeTensor or DTensor), and no gradient to record.
    The dispatched custom op computes the same thing; this only removes per-call overhead."""
    if torch.compiler.is_compiling():
        return False
    grad = torch.is_grad_enabled()
    for t in tensors:
        if t is None:
            continue
        if type(t) not in _PLAIN:
            return False
        if grad and t.requires_grad:
            return False
    return True


_is_compiling = torch.compiler.is_compiling
_grad_enabled = torch.is_grad_enabled
_functorch_active = torch._C._are_functorch_transforms_active
_unwrap_if_dead = torch._C._functorch.unwrap_if_dead
_FUNCTION_APPLY = torch._C._FunctionBase.__dict__["apply"]  # the C++ classmethod


class _FirstOrderOnly(torch.autograd.Function):
    """out itself (a view), recorded as a function of `sources`; differentiating it raises."""
    generate_vmap_rule = True

    @staticmethod
    def forward(out, name, *sources):
        return out.view_as(out)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.name = inputs[1]

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError(f"metalcore::{ctx.name}: only first derivatives are implemented; a "
                                  "derivative of its backward was asked for")


def _functorch_function(name, impl, setup_context, backward):
    """impl/setup_context/backward as an autograd.Function functorch's transforms accept: forward
    without ctx, setup_context apart, and a vmap rule that applies the function to each batch
    element and stacks the results (outputs batched along dim 0)."""

    def forward(*args):
        return impl(*args)

    def first_order(ctx, *grads):
        # The backward formulas call kernels without derivatives of their own. Under these
        # transforms the backward runs with its inputs tracked, in case something differentiates
        # it (jacrev of jacrev): it runs untracked, and its results hang off _FirstOrderOnly, so
        # such a derivative raises instead of coming out as zeros.
        sources = [t for t in (*grads, *ctx.saved_tensors) if isinstance(t, torch.Tensor) and t.requires_grad]
        if not sources or not _grad_enabled():
            return backward(ctx, *grads)
        with torch.no_grad():
            res = backward(ctx, *grads)

        def mark(r):
            return _FirstOrderOnly.apply(r, name, *sources) if isinstance(r, torch.Tensor) else r

        return tuple(mark(r) for r in res) if isinstance(res, tuple) else mark(res)

    def vmap(info, in_dims, *args):
        outs = [cls.apply(*[a.select(d, i) if d is not None else a for a, d in zip(args, in_dims)])
                for i in range(info.batch_size)]
        if isinstance(outs[0], tuple):
            return tuple(torch.stack(o) for o in zip(*outs)), (0,) * len(outs[0])
        return torch.stack(outs), 0

    cls = type(f"{name}_functorch_function", (torch.autograd.Function,), {
        "forward": staticmethod(forward),
        "setup_context": staticmethod(setup_context),
        "backward": staticmethod(first_order),
        "vmap": staticmethod(vmap),
    })
    return cls


def fused_op(name, impl, fake, setup_context=None, backward=None):
    """Defines the op `metalcore::<name>` once, with three front doors over the same `impl`:

    - the torch.library custom op (schema from impl's annotations, `fake` for shapes,
      autograd from `setup_context`/`backward`), used whenever something traces: torch.compile,
      export, fake or other subclass tensors;
    - in plain eager mode, `impl` itself when no gradient is recorded, or a
      torch.autograd.Function over impl/setup_context/backward when one is. The custom-op
      dispatcher costs tens of microseconds per call in Python; these cost a few;
    - under a functorch transform that records a gradient (torch.func.grad, vjp, jacrev, and
      vmap over them), a second autograd.Function in the form functorch requires (setup_context
      separate, a vmap rule that loops over the batch): torch's custom-op autograd refuses
      these transforms ("must override the setup_context staticmethod"). Plain vmap stays on the
      custom op, whose batching fallback loops the same way.

    Returns a callable with the op's signature; `.op` is the custom op, `.impl` the plain
    function. `backward` should call other ops through their fused_op callables so they too
    run directly in eager mode and as ops when traced."""
    op = torch.library.custom_op(f"metalcore::{name}", impl, mutates_args=())
    op.register_fake(fake)
    function = None
    if backward is not None:
        op.register_autograd(backward, setup_context=setup_context)

        def _forward(ctx, *args):
            out = impl(*args)
            setup_context(ctx, args, out)
            return out

        function = type(f"{name}_function", (torch.autograd.Function,), {
            "forward": staticmethod(_forward),
            "backward": staticmethod(backward),
        })
        functorch_function = _functorch_function(name, impl, setup_context, backward)

    apply = _FUNCTION_APPLY.__get__(None, function) if function is not None else None

    def call(*args):
        if _is_compiling():
            return op(*args)
        needs_grad = False
        for a in args:
            if isinstance(a, torch.Tensor):
                if type(a) not in _PLAIN:
                    return op(*args)
                if a.requires_grad:
                    needs_grad = True
        if _functorch_active():  # vmap, grad, ...: the op, whose dispatch they see, or where a
            # gradient is recorded, the functorch-form Function (torch's custom-op autograd refuses)
            if needs_grad and function is not None and _grad_enabled():
                return functorch_function.apply(*args)
            return op(*args)
        if needs_grad and apply is not None and _grad_enabled():
            # torch.autograd.Function.apply less its Python wrapper (which, with no functorch
            # transform active and no setup_context on the Function, only unwraps dead wrappers)
            return apply(*[_unwrap_if_dead(a) if isinstance(a, torch.Tensor) else a for a in args])
        return impl(*args)

    call.op = op
    call.impl = impl
    call.__name__ = name
    return call
