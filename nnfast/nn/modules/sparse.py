"""torch.nn.modules.sparse's path: nnfast's classes from nnfast/nn/sparse.py."""
from ..sparse import *  # noqa: F401,F403

