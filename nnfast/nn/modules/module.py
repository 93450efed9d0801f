"""torch.nn.modules.module's path: nnfast's Module (nnfast/nn/module.py)."""
from .._hooks import (register_module_forward_hook,  # noqa: F401
                      register_module_forward_pre_hook, register_module_full_backward_hook,
                      register_module_full_backward_pre_hook)
from ..module import IncompatibleKeys, Module, _IncompatibleKeys  # noqa: F401

__all__ = ["Module"]
