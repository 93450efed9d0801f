"""ASGD (torch.optim.ASGD): averaged SGD. Per-parameter eta and mu are 0-d state, as in torch;
state["ax"] is the running average of the parameter."""
from .. import _C
from . import _functional_extra as F
from .optimizer import Optimizer, _nonneg

__all__ = ["ASGD"]


class ASGD(Optimizer):
    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0,
                 foreach=None, maximize=False, differentiable=False, capturable=False):
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        foreach=foreach, maximize=maximize, differentiable=differentiable,
                        capturable=capturable)
        super().__init__(params, defaults)

    @staticmethod
    def _validate(group):
        _nonneg(group, "lr", "learning rate")
        _nonneg(group, "weight_decay", "weight_decay value")

    def _scalar_spec(self, group):
        return [("eta", group["lr"]), ("mu", 1.0)]

    def _state_spec(self, group):
        return [("ax", 0.0)]

    def _kw(self, group):
        return dict(lambd=group["lambd"], lr=group["lr"], t0=group["t0"], alpha=group["alpha"],
                    weight_decay=group["weight_decay"])

    def _update(self, group, params, grads, states, steps):
        F.asgd(params, grads, states["ax"], states["mu"], states["eta"], steps,
               maximize=group["maximize"], **self._kw(group))

    def _update_record(self, group, fl, step):
        eta, mu = fl.scalars["eta"], fl.scalars["mu"]
        sc, flags, (eta[...], mu[...]) = F.asgd_scalars(step, eta[0], mu[0], **self._kw(group))
        return (_C.UPDATE_ASGD, fl.param, fl.grad, (fl.buffers["ax"],), sc,
                (group["maximize"],) + tuple(flags))
