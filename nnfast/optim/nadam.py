"""NAdam (torch.optim.NAdam): Adam with Nesterov momentum and a momentum-decay schedule; with
decoupled_weight_decay=True, NAdamW. Its per-parameter mu_product is 0-d state, as in torch."""
from .. import _C
from . import _functional_extra as F
from .optimizer import Optimizer, _check_adam_hparams, _nonneg

__all__ = ["NAdam"]


class NAdam(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable)
        super().__init__(params, defaults)

    @staticmethod
    def _validate(group):
        _check_adam_hparams(group)
        _nonneg(group, "momentum_decay", "momentum_decay value")

    def _scalar_spec(self, group):
        return [("mu_product", 1.0)]

    def _state_spec(self, group):
        return [("exp_avg", 0.0), ("exp_avg_sq", 0.0)]

    def _kw(self, group):
        beta1, beta2 = group["betas"]
        return dict(beta1=beta1, beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
                    eps=group["eps"], momentum_decay=group["momentum_decay"],
                    decoupled_weight_decay=group["decoupled_weight_decay"])

    def _update(self, group, params, grads, states, steps):
        F.nadam(params, grads, states["exp_avg"], states["exp_avg_sq"], states["mu_product"],
                steps, maximize=group["maximize"], **self._kw(group))

    def _update_record(self, group, fl, step):
        mu_product = fl.scalars["mu_product"]
        sc, mu_product[...] = F.nadam_scalars(step, mu_product[0], **self._kw(group))
        decoupled = group["decoupled_weight_decay"] and group["weight_decay"] != 0
        b = fl.buffers
        return (_C.UPDATE_NADAM, fl.param, fl.grad, (b["exp_avg"], b["exp_avg_sq"]), sc,
                (group["maximize"], decoupled))
