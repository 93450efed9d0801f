"""torch.nn.modules.linear's path: nnfast's Linear and Identity (nnfast/nn/linear.py)."""
from .. import linear as _linear

__all__ = [n for n in ("Identity", "Linear", "Bilinear", "LazyLinear") if hasattr(_linear, n)]
globals().update({n: getattr(_linear, n) for n in __all__})
