"""torch.nn.modules.flatten's path: nnfast's Flatten (and Unflatten where nnfast has it)."""
from .. import linear as _linear

__all__ = [n for n in ("Flatten", "Unflatten") if hasattr(_linear, n)]
globals().update({n: getattr(_linear, n) for n in __all__})
