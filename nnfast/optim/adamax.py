"""Adamax (torch.optim.Adamax): Adam with the infinity norm in place of the second moment."""
from .. import _C
from . import _functional_extra as F
from .optimizer import Optimizer, _check_adam_hparams

__all__ = ["Adamax"]


class Adamax(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)

    @staticmethod
    def _validate(group):
        _check_adam_hparams(group)

    def _state_spec(self, group):
        return [("exp_avg", 0.0), ("exp_inf", 0.0)]

    def _update(self, group, params, grads, states, steps):
        beta1, beta2 = group["betas"]
        F.adamax(params, grads, states["exp_avg"], states["exp_inf"], steps, beta1=beta1,
                 beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
                 eps=group["eps"], maximize=group["maximize"])

    def _update_record(self, group, fl, step):
        beta1, beta2 = group["betas"]
        b = fl.buffers
        return (_C.UPDATE_ADAMAX, fl.param, fl.grad, (b["exp_avg"], b["exp_inf"]),
                F.adamax_scalars(step, beta1=beta1, beta2=beta2, lr=group["lr"],
                                 weight_decay=group["weight_decay"], eps=group["eps"]),
                (group["maximize"],))
