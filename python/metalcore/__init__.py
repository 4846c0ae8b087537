"""metalcore: fast linear-algebra and neural-network kernels for PyTorch, on CPU and CUDA.

The public API is the one in the project's usage guide (shared/API.md); every name there is
importable from this package, with neutral aliases (`RMSNorm`, ...) beside the Metal-named ones.
"""
from ._backend import backends, cuda_available, version
from .rmsnorm import MetalRMSNorm, rms_norm
from .eigh import eigh, eigh_ex
from .svd import svd, svd_ex
from .lstsq import lstsq, pinv

__version__ = version()

# Neutral aliases, so code need not say "Metal" on a machine without it.
RMSNorm = MetalRMSNorm

__all__ = [
    "__version__",
    "backends",
    "cuda_available",
    "version",
    "rms_norm",
    "MetalRMSNorm",
    "RMSNorm",
    "eigh",
    "eigh_ex",
    "svd",
    "svd_ex",
    "lstsq",
    "pinv",
]
