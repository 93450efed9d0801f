"""RAdam (torch.optim.RAdam): Adam with the variance of the adaptive learning rate rectified;
with decoupled_weight_decay=True, RAdamW."""
from .. import _C
from . import _functional_extra as F
from .optimizer import Optimizer, _check_adam_hparams

__all__ = ["RAdam"]


class RAdam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        decoupled_weight_decay=decoupled_weight_decay,
                        differentiable=differentiable)
        super().__init__(params, defaults)

    @staticmethod
    def _validate(group):
        _check_adam_hparams(group)

    def _state_spec(self, group):
        return [("exp_avg", 0.0), ("exp_avg_sq", 0.0)]

    def _kw(self, group):
        beta1, beta2 = group["betas"]
        return dict(beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
                    eps=group["eps"], decoupled_weight_decay=group["decoupled_weight_decay"])

    def _update(self, group, params, grads, states, steps):
        F.radam(params, grads, states["exp_avg"], states["exp_avg_sq"], steps,
                maximize=group["maximize"], **self._kw(group))

    def _update_record(self, group, fl, step):
        sc, flags = F.radam_scalars(step, **self._kw(group))
        b = fl.buffers
        return (_C.UPDATE_RADAM, fl.param, fl.grad, (b["exp_avg"], b["exp_avg_sq"]), sc,
                (group["maximize"],) + tuple(flags))
