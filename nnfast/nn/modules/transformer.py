"""torch.nn.modules.transformer's path: nnfast's classes from nnfast/nn/transformer.py."""
from ..transformer import *  # noqa: F401,F403
