"""Residual: y = block(x) + shortcut(x), the skip connection of ResNets and Transformers.

PyTorch has no such module (one writes `out = block(x) + x` in a forward); this is that line
as a layer, so a deep residual stack can be an nn.Sequential of Residual blocks.

The sum goes through Tensor's differentiable addition, so x's gradient is the sum of the
gradients arriving through the block and through the shortcut. The two branches must give
the same shape: unlike `+`, Residual does not broadcast, since a branch that changed the
shape is a model bug (use a projection shortcut, e.g. nn.Linear, to change widths).
"""
from ..errors import ShapeError
from .module import Module

__all__ = ["Residual"]


class Residual(Module):
    """y = block(x) + shortcut(x); shortcut=None is the identity."""

    def __init__(self, block, shortcut=None):
        super().__init__()
        if not isinstance(block, Module):
            raise TypeError(f"Residual: block must be a Module, got {type(block).__name__}")
        if shortcut is not None and not isinstance(shortcut, Module):
            raise TypeError(f"Residual: shortcut must be a Module or None, got "
                            f"{type(shortcut).__name__}")
        self.block = block
        if shortcut is not None:
            self.shortcut = shortcut
        else:
            self.register_module("shortcut", None)

    def forward(self, input):
        y = self.block(input)
        s = input if self.shortcut is None else self.shortcut(input)
        if tuple(y.shape) != tuple(s.shape):
            what = "the input" if self.shortcut is None else f"the shortcut {self.shortcut!r}"
            block = repr(self.block).replace("\n", " ")
            if len(block) > 120:
                block = block[:117] + "..."
            raise ShapeError(f"Residual: the block {block} maps input of shape "
                             f"{tuple(input.shape)} to shape {tuple(y.shape)}, but {what} has "
                             f"shape {tuple(s.shape)}; both branches must give the same "
                             f"shape (use a projection shortcut to change it)")
        return y + s
