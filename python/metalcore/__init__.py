"""metalcore: fast linear-algebra and neural-network kernels for PyTorch, on CPU and CUDA.

The public API is the one in the project's usage guide (shared/API.md); every name there is
importable from this package, with neutral aliases (`RMSNorm`, ...) beside the Metal-named ones.
"""
from ._backend import backends, cuda_available, version
from .rmsnorm import MetalRMSNorm, rms_norm
from .adamw import MetalAdamW
from .rope import apply_rotary_pos_emb
from .embedding_bag import MetalEmbeddingBag, embedding_bag

__version__ = version()

# Neutral aliases, so code need not say "Metal" on a machine without it.
RMSNorm = MetalRMSNorm
AdamW = MetalAdamW
EmbeddingBag = MetalEmbeddingBag

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
]
