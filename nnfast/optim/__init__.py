"""nnfast.optim — optimizers whose step() is one fused C loop per parameter group.

Parameters, gradients and state of each group live in flat contiguous buffers
(see optimizer.py); the update rules are in _functional.py (C kernels + NumPy reference).
"""
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD
from . import lr_scheduler  # noqa: F401  (nnfast.optim.lr_scheduler, as torch)

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]

from .._missing import module_getattr as _module_getattr  # noqa: E402

# torch names nnfast lacks say so (nnfast/_missing.py)
__getattr__ = _module_getattr(__name__, "torch.optim")
