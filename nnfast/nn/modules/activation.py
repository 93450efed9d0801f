"""torch.nn.modules.activation's path: nnfast's classes from nnfast/nn/activation.py."""
from ..activation import *  # noqa: F401,F403

from ..transformer import MultiheadAttention  # noqa: F401,E402  (torch keeps it here)
