"""Adadelta (torch.optim.Adadelta): per-element learning rates from running averages of
squared gradients and squared updates."""
from .. import _C
from . import _functional_extra as F
from .optimizer import Optimizer, _nonneg

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    @staticmethod
    def _validate(group):
        _nonneg(group, "lr", "learning rate")
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {group['rho']}")
        _nonneg(group, "eps", "epsilon value")
        _nonneg(group, "weight_decay", "weight_decay value")

    def _state_spec(self, group):
        return [("square_avg", 0.0), ("acc_delta", 0.0)]

    def _update(self, group, params, grads, states, steps):
        F.adadelta(params, grads, states["square_avg"], states["acc_delta"], lr=group["lr"],
                   rho=group["rho"], eps=group["eps"], weight_decay=group["weight_decay"],
                   maximize=group["maximize"])

    def _update_record(self, group, fl, step):
        b = fl.buffers
        return (_C.UPDATE_ADADELTA, fl.param, fl.grad, (b["square_avg"], b["acc_delta"]),
                F.adadelta_scalars(lr=group["lr"], rho=group["rho"], eps=group["eps"],
                                   weight_decay=group["weight_decay"]),
                (group["maximize"],))
