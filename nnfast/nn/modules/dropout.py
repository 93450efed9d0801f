"""torch.nn.modules.dropout's path: nnfast's classes from nnfast/nn/dropout.py."""
from ..dropout import *  # noqa: F401,F403

