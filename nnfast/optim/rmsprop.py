"""RMSprop, centered and/or with momentum (torch.optim.RMSprop)."""
from .. import _C
from . import _functional as F
from .optimizer import Optimizer, _nonneg

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    @staticmethod
    def _validate(group):
        _nonneg(group, "lr", "learning rate")
        _nonneg(group, "eps", "epsilon value")
        _nonneg(group, "momentum", "momentum value")
        _nonneg(group, "weight_decay", "weight_decay value")
        _nonneg(group, "alpha", "alpha value")

    def _state_spec(self, group):
        spec = [("square_avg", 0.0)]
        if group["momentum"] > 0:
            spec.append(("momentum_buffer", 0.0))
        if group["centered"]:
            spec.append(("grad_avg", 0.0))
        return spec

    def _update(self, group, params, grads, states, steps):
        F.rmsprop(params, grads, states["square_avg"], states.get("grad_avg"),
                  states.get("momentum_buffer"), lr=group["lr"], alpha=group["alpha"],
                  eps=group["eps"], weight_decay=group["weight_decay"],
                  momentum=group["momentum"], centered=group["centered"],
                  maximize=group["maximize"])

    def _update_record(self, group, fl, step):
        b = fl.buffers
        return (_C.UPDATE_RMSPROP, fl.param, fl.grad,
                (b["square_avg"], b["grad_avg"] if group["centered"] else None,
                 b["momentum_buffer"] if group["momentum"] > 0 else None),
                F.rmsprop_scalars(lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                                  weight_decay=group["weight_decay"],
                                  momentum=group["momentum"]),
                (group["maximize"],))
