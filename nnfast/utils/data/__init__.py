"""nnfast.utils.data — torch.utils.data's path to nnfast.data, so that

    from nnfast.utils.data import DataLoader, Dataset, TensorDataset

works as in PyTorch. Everything of nnfast.data is re-exported; its submodules answer under
this package too (nnfast.utils.data.dataloader is nnfast.data.dataloader).
"""
import sys as _sys

from ...data import *  # noqa: F401,F403
from ...data import __all__ as _data_all
from ...data import dataloader, dataset, distributed, sampler  # noqa: F401

for _name in ("dataloader", "dataset", "distributed", "sampler"):
    _sys.modules[f"{__name__}.{_name}"] = _sys.modules[f"nnfast.data.{_name}"]

__all__ = list(_data_all)

from ..._missing import module_getattr as _module_getattr  # noqa: E402

# torch names nnfast lacks say so (nnfast/_missing.py)
__getattr__ = _module_getattr(__name__, "torch.utils.data")
