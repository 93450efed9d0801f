"""torch.nn.modules.pooling's path: nnfast's classes from nnfast/nn/pooling.py."""
from ..pooling import *  # noqa: F401,F403

