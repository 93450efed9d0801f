"""torch.nn.modules.loss's path: nnfast's classes from nnfast/nn/loss.py."""
from ..loss import *  # noqa: F401,F403
from ..loss import _Loss, _WeightedLoss  # noqa: F401
