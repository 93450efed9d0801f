"""torch.nn.modules.module's path: nnfast's Module (nnfast/nn/module.py)."""
from ..module import IncompatibleKeys, Module, _IncompatibleKeys  # noqa: F401

__all__ = ["Module"]
