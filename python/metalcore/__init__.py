"""metalcore: fast linear-algebra and neural-network kernels for PyTorch, on CPU and CUDA.

The public API is the one in the project's usage guide (shared/API.md); every name there is
importable from this package, with neutral aliases (`RMSNorm`, ...) beside the Metal-named ones.
"""
from ._backend import backends, cuda_available, version
from .rmsnorm import MetalRMSNorm, rms_norm
from .adamw import MetalAdamW
from .rope import apply_rotary_pos_emb
from .embedding_bag import MetalEmbeddingBag, embedding_bag
from .rmsnorm import fused_add_rmsnorm
from .activations import metal_gelu, metal_silu, swiglu
from .softmax import fused_softmax
from .eigh import eigh, eigh_ex
from .svd import svd, svd_ex
from .lstsq import lstsq, pinv
from .linalg_direct import cholesky, cholesky_ex, lu_factor, lu_factor_ex, lu_solve, qr, solve, trsm
from .mlp import fused_swiglu_mlp
from .overrides import disable_pytorch_overrides, enable_pytorch_overrides, get_active_overrides
from .hf_patching import (patch_transformers, patch_transformers_classes, patch_transformers_mlp,
                          patch_transformers_rmsnorm, patch_transformers_rope, unpatch_transformers_classes)

__version__ = version()

# Neutral aliases, so code need not say "Metal" on a machine without it.
RMSNorm = MetalRMSNorm
AdamW = MetalAdamW
EmbeddingBag = MetalEmbeddingBag
silu = metal_silu
gelu = metal_gelu
softmax = fused_softmax

__all__ = [
    "__version__",
    "backends",
    "cuda_available",
    "version",
    "rms_norm",
    "MetalRMSNorm",
    "RMSNorm",
    "MetalAdamW",
    "AdamW",
    "apply_rotary_pos_emb",
    "embedding_bag",
    "MetalEmbeddingBag",
    "EmbeddingBag",
    "fused_add_rmsnorm",
    "metal_silu",
    "metal_gelu",
    "silu",
    "gelu",
    "swiglu",
    "fused_softmax",
    "softmax",
    "eigh",
    "eigh_ex",
    "svd",
    "svd_ex",
    "lstsq",
    "pinv",
    "cholesky",
    "cholesky_ex",
    "solve",
    "lu_factor",
    "lu_factor_ex",
    "lu_solve",
    "trsm",
    "qr",
    "fused_swiglu_mlp",
    "enable_pytorch_overrides",
    "disable_pytorch_overrides",
    "get_active_overrides",
    "patch_transformers",
    "patch_transformers_rmsnorm",
    "patch_transformers_rope",
    "patch_transformers_mlp",
    "patch_transformers_classes",
    "unpatch_transformers_classes",
]
