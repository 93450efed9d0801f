"""torch.nn.modules.activation's path: nnfast's classes from nnfast/nn/activation.py."""
from ..activation import *  # noqa: F401,F403

