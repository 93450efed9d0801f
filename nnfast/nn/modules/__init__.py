"""nnfast.nn.modules — torch.nn.modules' paths (`from nnfast.nn.modules.loss import _Loss`):
thin modules re-exporting the classes of nnfast.nn's own files, one torch name each."""
from . import (activation, batchnorm, container, conv, dropout, flatten, linear,  # noqa: F401
               loss, module, normalization, pooling, rnn, sparse, transformer)
from .activation import *  # noqa: F401,F403
from .batchnorm import *  # noqa: F401,F403
from .container import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .flatten import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .module import Module  # noqa: F401
from .normalization import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .rnn import *  # noqa: F401,F403
from .sparse import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403
