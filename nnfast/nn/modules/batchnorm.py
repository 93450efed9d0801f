"""torch.nn.modules.batchnorm's path: nnfast's classes from nnfast/nn/normalization.py."""
from ..normalization import *  # noqa: F401,F403
from ..normalization import _BatchNorm  # noqa: F401
