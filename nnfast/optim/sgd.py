"""SGD with momentum, dampening, Nesterov momentum, weight decay and maximize (torch.optim.SGD)."""
from .. import _C
from ..tensor import Tensor
from . import _functional as F
from .optimizer import Optimizer, _nonneg

__all__ = ["SGD"]


class SGD(Optimizer):
    _has_step = False   # torch's SGD state holds only "momentum_buffer"

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False, foreach=None, differentiable=False, fused=None):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        foreach=foreach, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    @staticmethod
    def _validate(group):
        _nonneg(group, "lr", "learning rate")
        _nonneg(group, "momentum", "momentum value")
        _nonneg(group, "weight_decay", "weight_decay value")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _state_spec(self, group):
        return [("momentum_buffer", 0.0)] if group["momentum"] != 0 else []

    def _step_group(self, group, fl):
        idx, fast = fl.gather()
        if not idx:
            return
        momentum = group["momentum"]
        # A momentum buffer starts as the gradient (torch); `first` marks those steps.
        first = [not fl.has_state[i] for i in idx]
        kw = dict(lr=group["lr"], weight_decay=group["weight_decay"], momentum=momentum,
                  dampening=group["dampening"], nesterov=group["nesterov"],
                  maximize=group["maximize"])
        if momentum != 0:
            buf = fl.buffer("momentum_buffer")
        if fast and (all(first) or not any(first)):
            F.sgd([fl.param], [fl.grad], [buf if momentum != 0 else None], first=[first[0]],
                  **kw)
        else:
            F.sgd([fl.params[i]._storage for i in idx], [fl.params[i].grad._storage for i in idx],
                  [fl.view(buf, i) if momentum != 0 else None for i in idx], first=first, **kw)
        if momentum != 0:
            for i, f in zip(idx, first):
                if f:
                    self.state[fl.params[i]]["momentum_buffer"] = Tensor._make(fl.view(buf, i))
                    fl.has_state[i] = True

    def _loaded(self, group, fl, i):
        st = self.state[fl.params[i]]
        fl.has_state[i] = st.get("momentum_buffer") is not None

    def _update_record(self, group, fl, step):
        momentum = group["momentum"]
        if momentum != 0 and not fl.has_state.all():
            return None     # a first step: the buffers start as the gradient, per parameter
        return (_C.UPDATE_SGD, fl.param, fl.grad,
                (fl.buffer("momentum_buffer") if momentum != 0 else None,),
                F.sgd_scalars(lr=group["lr"], weight_decay=group["weight_decay"],
                              momentum=momentum, dampening=group["dampening"]),
                (group["nesterov"], group["maximize"], False))
