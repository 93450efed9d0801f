"""torch.nn.modules.normalization's path: nnfast's classes from nnfast/nn/normalization.py."""
from ..normalization import *  # noqa: F401,F403

