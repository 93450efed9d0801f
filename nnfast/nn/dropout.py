"""Regularisation layers: Dropout, Dropout1d/2d/3d (PyTorch's torch.nn names and arguments)
and ActivityRegularization (Keras' layer of that name, with a PyTorch-loop contract).

Dropout layers are active only in training mode (module.train()); in eval mode they return
their input itself. The rule, random numbers and deviations are described in
nnfast/nn/_functional_dropout.py.
"""
from . import _functional_dropout as _FD
from .module import Module
from .utils import _check_coef, _penalty

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "ActivityRegularization"]


class _DropoutNd(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability p in training and scale the kept ones by 1/(1-p);
    identity in eval mode. Input: any shape."""

    def forward(self, input):
        return _FD.dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Zero whole channels (N, C, L) / (C, L) with probability p in training."""

    def forward(self, input):
        return _FD.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels (N, C, H, W) with probability p in training (3-D inputs: as torch,
    taken as (N, C, L) with a warning)."""

    def forward(self, input):
        return _FD.dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zero whole channels (N, C, D, H, W) / (C, D, H, W) with probability p in training."""

    def forward(self, input):
        return _FD.dropout3d(input, self.p, self.training, self.inplace)


class ActivityRegularization(Module):
    """Pass the input through unchanged and penalise its size: l1 * sum|a| + l2 * sum a^2.

    Contract (how the penalty reaches the loss):
    - forward(input) returns `input` itself. In training mode it also sets `self.penalty`,
      a differentiable 0-d Tensor: the penalty of THIS forward's input. Backward through
      `loss + layer.penalty` adds l1 * sign(a) + 2 * l2 * a (divided by the batch size, see
      below) to the input's gradient, on top of what flows through the output.
    - The penalty is not added to anything by itself. Add it to the loss:
          loss = criterion(model(x), y) + nn.utils.activity_penalty(model)
      activity_penalty(model) sums `penalty` over every ActivityRegularization layer in the
      model; nnfast's fit() loop does this for you.
    - Each forward replaces `penalty`: a layer called twice in one step counts only its
      last call (use one instance per call site). The tensor keeps the last step's graph
      alive until the next forward.
    - In eval mode the layer is a pure identity and `penalty` is None (a regulariser is a
      training-time term, like dropout): evaluation losses do not include it.

    Batch convention (reduction): "batchmean" (default) divides the summed penalty by the
    batch size input.shape[0] (1 for a 0-d input; an empty batch gives 0), so the penalty's
    weight relative to a mean-reduced loss does not depend on the batch size. This is what
    Keras' fit() does with activity regularisers (the layer sums; fit divides by the batch
    size). "sum" keeps the plain sum over all elements.

    Args:
        l1: weight of sum |a| (>= 0). l2: weight of sum a^2 (>= 0).
        reduction: "batchmean" (default) or "sum".
    """

    def __init__(self, l1=0.0, l2=0.0, reduction="batchmean"):
        super().__init__()
        self.l1 = _check_coef(l1, "ActivityRegularization: l1")
        self.l2 = _check_coef(l2, "ActivityRegularization: l2")
        if reduction not in ("batchmean", "sum"):
            raise ValueError(f"ActivityRegularization: reduction must be 'batchmean' or "
                             f"'sum', got {reduction!r}")
        self.reduction = reduction
        self.penalty = None

    def forward(self, input):
        if not self.training:
            self.penalty = None
            return input
        x = _FD._check_input(input, "ActivityRegularization")
        scale = 1.0
        if self.reduction == "batchmean" and x.ndim > 0:
            batch = x.shape[0]
            scale = 1.0 / batch if batch else 0.0
        self.penalty = _penalty([x], self.l1, self.l2, scale, "ActivityRegularization")
        return input

    def extra_repr(self):
        s = f"l1={self.l1}, l2={self.l2}"
        if self.reduction != "batchmean":
            s += f", reduction={self.reduction!r}"
        return s
