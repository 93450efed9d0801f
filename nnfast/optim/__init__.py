"""nnfast.optim — optimizers whose step() is one fused C loop per parameter group.

Parameters, gradients and state of each group live in flat contiguous buffers
(see optimizer.py); the update rules are in _functional.py and _functional_extra.py (C
kernels + NumPy reference). LBFGS is the exception: a closure-driven NumPy loop over the
group's flat buffer.
"""
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamax import Adamax
from .adamw import AdamW
from .asgd import ASGD
from .lbfgs import LBFGS
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rmsprop import RMSprop
from .rprop import Rprop
from .sgd import SGD
from . import lr_scheduler  # noqa: F401  (nnfast.optim.lr_scheduler, as torch)

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax",
           "NAdam", "RAdam", "ASGD", "Rprop", "LBFGS"]
