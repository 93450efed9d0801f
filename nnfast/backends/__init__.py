"""nnfast.backends — torch.backends' switches that PyTorch programs set or query.

They are accepted so that such programs run; none changes what nnfast computes (its kernels
are deterministic and pick their own algorithms).
"""
from types import SimpleNamespace as _NS

__all__ = ["cudnn", "mps", "cuda", "mkldnn", "openmp"]

cudnn = _NS(benchmark=False, deterministic=False, enabled=False, allow_tf32=False,
            is_available=lambda: False, version=lambda: None)
mps = _NS(is_available=lambda: False, is_built=lambda: False)
cuda = _NS(is_built=lambda: False, matmul=_NS(allow_tf32=False,
                                               allow_fp16_reduced_precision_reduction=False))
mkldnn = _NS(is_available=lambda: False, enabled=False)
openmp = _NS(is_available=lambda: True)
