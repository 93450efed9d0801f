"""torch.nn.modules.rnn's path: nnfast's classes from nnfast/nn/rnn.py."""
from ..rnn import *  # noqa: F401,F403

