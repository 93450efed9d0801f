"""nnfast.train: fit(), callbacks, metrics, History and learning-curve plots."""
from . import metrics  # noqa: F401
from .callbacks import (Callback, CSVLogger, EarlyStopping, GradientMonitor,  # noqa: F401
                        GradientWarning, LRSchedulerCallback, ModelCheckpoint, TerminateOnNaN)
from .fit import Trainer, evaluate, fit, predict  # noqa: F401
from ._predict import save_model  # noqa: F401
from .history import History  # noqa: F401
from .progress import ProgressBar  # noqa: F401
