"""Adagrad with lr decay, weight decay and an initial accumulator value (torch.optim.Adagrad)."""
from .. import _C
from . import _functional as F
from .optimizer import Optimizer, _nonneg

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    @staticmethod
    def _validate(group):
        _nonneg(group, "lr", "learning rate")
        _nonneg(group, "lr_decay", "lr_decay value")
        _nonneg(group, "weight_decay", "weight_decay value")
        _nonneg(group, "initial_accumulator_value", "initial_accumulator_value value")
        _nonneg(group, "eps", "epsilon value")

    def _group_added(self, gi):
        # torch creates Adagrad's state ({"step": 0, "sum": init}) at construction.
        group, fl = self.param_groups[gi], self._flat[gi]
        for i in range(len(fl.params)):
            self._fill_state(group, fl, i, fresh=True)

    def _state_spec(self, group):
        return [("sum", group["initial_accumulator_value"])]

    def _update(self, group, params, grads, states, steps):
        F.adagrad(params, grads, states["sum"], steps, lr=group["lr"],
                  weight_decay=group["weight_decay"], lr_decay=group["lr_decay"],
                  eps=group["eps"], maximize=group["maximize"])

    def _update_record(self, group, fl, step):
        return (_C.UPDATE_ADAGRAD, fl.param, fl.grad, (fl.buffers["sum"],),
                F.adagrad_scalars(step, lr=group["lr"], lr_decay=group["lr_decay"],
                                  weight_decay=group["weight_decay"], eps=group["eps"]),
                (group["maximize"],))
