"""Adam (and, with decoupled_weight_decay=True, AdamW), with amsgrad and maximize (torch.optim.Adam)."""
from .. import _C
from . import _functional as F
from .optimizer import Optimizer, _check_adam_hparams

__all__ = ["Adam"]


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize, foreach=foreach,
                        capturable=capturable, differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    @staticmethod
    def _validate(group):
        _check_adam_hparams(group)

    def _state_spec(self, group):
        spec = [("exp_avg", 0.0), ("exp_avg_sq", 0.0)]
        if group["amsgrad"]:
            spec.append(("max_exp_avg_sq", 0.0))
        return spec

    def _update(self, group, params, grads, states, steps):
        beta1, beta2 = group["betas"]
        F.adam(params, grads, states["exp_avg"], states["exp_avg_sq"],
               states.get("max_exp_avg_sq"), steps, amsgrad=group["amsgrad"], beta1=beta1,
               beta2=beta2, lr=group["lr"], weight_decay=group["weight_decay"],
               eps=group["eps"], maximize=group["maximize"],
               decoupled_weight_decay=group.get("decoupled_weight_decay", False))

    def _update_record(self, group, fl, step):
        beta1, beta2 = group["betas"]
        b = fl.buffers
        return (_C.UPDATE_ADAM, fl.param, fl.grad,
                (b["exp_avg"], b["exp_avg_sq"], b.get("max_exp_avg_sq") if group["amsgrad"]
                 else None),
                F.adam_scalars(step, beta1=beta1, beta2=beta2, lr=group["lr"],
                               weight_decay=group["weight_decay"], eps=group["eps"],
                               decoupled_weight_decay=group.get("decoupled_weight_decay",
                                                                False)),
                (group["maximize"],))
