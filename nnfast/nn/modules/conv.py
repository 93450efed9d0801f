"""torch.nn.modules.conv's path: nnfast's classes from nnfast/nn/conv.py."""
from ..conv import *  # noqa: F401,F403

