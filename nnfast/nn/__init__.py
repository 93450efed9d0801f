"""nnfast.nn — layers, activations, losses and initialisation (PyTorch's torch.nn)."""
from . import functional, init, utils  # noqa: F401
from .activation import *  # noqa: F401,F403
from .container import ModuleDict, ModuleList, Sequential  # noqa: F401
from .linear import Flatten, Identity, Linear  # noqa: F401
from .loss import *  # noqa: F401,F403
from .module import Module  # noqa: F401
from .parameter import Parameter  # noqa: F401
