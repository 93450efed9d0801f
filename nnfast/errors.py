"""Exceptions raised at the Python edge.

Each also derives from RuntimeError, which is what PyTorch raises for the same mistakes, so
code ported from PyTorch that catches RuntimeError keeps working, while new code can catch
the precise ValueError/TypeError.
"""


class ShapeError(ValueError, RuntimeError):
    """An input's shape does not fit the layer, loss or operation."""


class DTypeError(TypeError, RuntimeError):
    """An input's dtype does not fit (e.g. float64 data into a float32 layer, float labels)."""
