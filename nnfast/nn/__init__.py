"""nnfast.nn — layers, activations, losses and initialisation (PyTorch's torch.nn)."""
from . import functional, init, utils  # noqa: F401
from .activation import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential  # noqa: F401
from .linear import Flatten, Identity, Linear, Unflatten  # noqa: F401
from .loss import *  # noqa: F401,F403
from .loss_extra import *  # noqa: F401,F403
from .distance import *  # noqa: F401,F403
from .padding import *  # noqa: F401,F403
from .module import Module  # noqa: F401
from .normalization import *  # noqa: F401,F403
from .parameter import Buffer, Parameter  # noqa: F401
from .pooling import *  # noqa: F401,F403
from .residual import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .sparse import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403
from .upsampling import *  # noqa: F401,F403
from . import modules  # noqa: F401,E402  (torch.nn.modules' paths, after the layers)
from . import parallel  # noqa: F401,E402  (DistributedDataParallel; mpi4py is imported lazily)

from .._missing import module_getattr as _module_getattr  # noqa: E402

# torch names nnfast lacks say so (nnfast/_missing.py)
__getattr__ = _module_getattr(__name__, "torch.nn")
