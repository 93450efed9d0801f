"""torch.nn.modules.container's path: nnfast's containers (nnfast/nn/container.py)."""
from ..container import (ModuleDict, ModuleList, ParameterDict, ParameterList,  # noqa: F401
                         Sequential)

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]
