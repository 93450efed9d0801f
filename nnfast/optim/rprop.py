"""Rprop (torch.optim.Rprop): resilient backpropagation, per-element step sizes grown or shrunk
by the sign agreement of successive gradients."""
from .. import _C
from . import _functional_extra as F
from .optimizer import Optimizer, _nonneg

__all__ = ["Rprop"]


class Rprop(Optimizer):
    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), foreach=foreach,
                        maximize=maximize, differentiable=differentiable, capturable=capturable)
        super().__init__(params, defaults)

    @staticmethod
    def _validate(group):
        _nonneg(group, "lr", "learning rate")
        etas = group["etas"]
        if len(etas) != 2 or len(group["step_sizes"]) != 2:
            raise ValueError(f"etas and step_sizes must be pairs, got {etas!r} and "
                             f"{group['step_sizes']!r}")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")

    def _state_spec(self, group):
        return [("prev", 0.0), ("step_size", group["lr"])]

    def _kw(self, group):
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        return dict(etaminus=etaminus, etaplus=etaplus, step_size_min=step_size_min,
                    step_size_max=step_size_max)

    def _update(self, group, params, grads, states, steps):
        F.rprop(params, grads, states["prev"], states["step_size"], maximize=group["maximize"],
                **self._kw(group))

    def _update_record(self, group, fl, step):
        k = self._kw(group)
        b = fl.buffers
        return (_C.UPDATE_RPROP, fl.param, fl.grad, (b["prev"], b["step_size"]),
                (k["etaminus"], k["etaplus"], k["step_size_min"], k["step_size_max"]),
                (group["maximize"],))
