"""Module.__call__ when hooks are registered: forward pre-hooks, forward hooks, full
backward hooks and backward pre-hooks, with torch's calling conventions.

Module.__call__ comes here only when one of the module's hook dicts is non-empty, so a
model without hooks pays one dict test per call.

Full backward hooks wrap the module's one tensor input and its one tensor output in identity
autograd nodes: the output's node sees grad_output, the input's node grad_input (which the
hook may replace). Modules with several tensor inputs or outputs are refused with a clear
error; PyTorch supports them (a multi-output identity node nnfast's tape does not have).
"""
import threading
from collections import OrderedDict

import numpy as np

from ..tensor import Tensor
from ..utils.hooks import RemovableHandle

__all__ = ["call_with_hooks", "register_module_forward_pre_hook",
           "register_module_forward_hook", "register_module_full_backward_hook",
           "register_module_full_backward_pre_hook"]

# hooks on every module (torch.nn.modules.module.register_module_*); they run before each
# module's own
global_forward_pre_hooks = OrderedDict()
global_forward_hooks = OrderedDict()
global_forward_hooks_with_kwargs = set()
global_backward_hooks = OrderedDict()
global_backward_pre_hooks = OrderedDict()
global_on = [False]   # set on registering one, cleared by call_with_hooks when none is left
on_first_hook = []    # called once, when the process registers its first hook of any kind
_hooks_seen = [False]
# global_on is cleared when no global hook is left and set when one is added; both under
# this lock, or a thread that found none left could clear it just after another thread
# added one, and that hook would never run
_switch = threading.Lock()


def hook_registered():
    """Switch Module calls to the hook-checking path, the first time any hook is added."""
    if not _hooks_seen[0]:
        with _switch:   # a second thread's hook waits until calls do check for hooks
            if not _hooks_seen[0]:
                for f in on_first_hook:
                    f()
                _hooks_seen[0] = True


def _add_global(store, hook, kwargs_set=None):
    handle = RemovableHandle(store, extra_dict=[kwargs_set] if kwargs_set is not None else None)
    if kwargs_set is not None:
        kwargs_set.add(handle.id)
    with _switch:
        store[handle.id] = hook
        global_on[0] = True
    hook_registered()
    return handle


def register_module_forward_pre_hook(hook):
    return _add_global(global_forward_pre_hooks, hook)


def register_module_forward_hook(hook, *, with_kwargs=False, always_call=False):
    return _add_global(global_forward_hooks, hook,
                       global_forward_hooks_with_kwargs if with_kwargs else None)


def register_module_full_backward_hook(hook):
    return _add_global(global_backward_hooks, hook)


def register_module_full_backward_pre_hook(hook):
    return _add_global(global_backward_pre_hooks, hook)


def any_global():
    return bool(global_forward_pre_hooks or global_forward_hooks or global_backward_hooks
                or global_backward_pre_hooks)


def _backward_hooks(module):
    return list(global_backward_hooks.values()) + list(module._backward_hooks.values())


def _backward_pre_hooks(module):
    return list(global_backward_pre_hooks.values()) + list(module._backward_pre_hooks.values())


def call_with_hooks(module, args, kwargs):
    if global_on[0] and not any_global():
        with _switch:
            if not any_global():
                global_on[0] = False
    if not (module._forward_pre_hooks or module._forward_hooks or module._backward_hooks
            or module._backward_pre_hooks):
        module.__dict__.pop("_hooked", None)
        if not global_on[0]:
            return module.forward(*args, **kwargs)
    pre_kw = module._forward_pre_hooks_with_kwargs
    pre = list(global_forward_pre_hooks.items()) + list(module._forward_pre_hooks.items())
    for hid, hook in pre:
        if hid in pre_kw:
            res = hook(module, args, kwargs)
            if res is not None:
                if not (isinstance(res, tuple) and len(res) == 2):
                    raise RuntimeError("forward pre-hook must return None or a tuple of "
                                       f"(new_args, new_kwargs), but got {res}.")
                args, kwargs = res
        else:
            res = hook(module, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
    bw = None
    if module._backward_hooks or module._backward_pre_hooks or global_backward_hooks \
            or global_backward_pre_hooks:
        bw = _BackwardHookState(module)
        if module._backward_hooks or global_backward_hooks:
            args = bw.wrap_inputs(args)
    out = module.forward(*args, **kwargs)
    fw_kw = module._forward_hooks_with_kwargs | global_forward_hooks_with_kwargs
    for hid, hook in list(global_forward_hooks.items()) + list(module._forward_hooks.items()):
        res = hook(module, args, kwargs, out) if hid in fw_kw else hook(module, args, out)
        if res is not None:
            out = res
    if bw is not None:
        out = bw.wrap_output(out)
    return out


def _identity(x, backward, name):
    from .._ops.core import _result
    return _result(x._storage, (x,), backward, name)._view_of(x)


class _BackwardHookState:
    """One call's worth of full-backward-hook bookkeeping."""

    def __init__(self, module):
        self.module = module
        self.grad_output = None
        self.input_needs_grad = False

    def wrap_inputs(self, args):
        tensors = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        if len(tensors) > 1:
            raise NotImplementedError(
                f"register_full_backward_hook: {self.module._get_name()} was called with "
                f"{len(tensors)} tensor inputs; nnfast's backward hooks support modules with "
                "one tensor input (PyTorch's support several)")
        if not tensors or not args[tensors[0]].requires_grad:
            return args
        i = tensors[0]
        self.input_needs_grad = True
        wrapped = _identity(args[i], self._input_backward, "BackwardHookFunction")
        return args[:i] + (wrapped,) + args[i + 1:]

    def wrap_output(self, out):
        if not isinstance(out, Tensor):
            raise NotImplementedError(
                f"register_full_backward_hook: {self.module._get_name()} returned "
                f"{type(out).__name__}; nnfast's backward hooks support modules returning one "
                "Tensor")
        if not out.requires_grad:
            return out
        return _identity(out, self._output_backward, "BackwardHookFunction")

    def _run(self, grad_input):
        grad_in = (None if grad_input is None else Tensor._make(grad_input),)
        for hook in _backward_hooks(self.module):
            res = hook(self.module, grad_in, self.grad_output)
            if res is not None:
                res = res if isinstance(res, (tuple, list)) else (res,)
                if len(res) != 1:
                    raise RuntimeError(f"backward hook returned {len(res)} gradients for "
                                       "1 input")
                grad_in = tuple(res)
        g = grad_in[0]
        return None if g is None else np.asarray(g._storage if isinstance(g, Tensor) else g)

    def _output_backward(self, g):
        gout = (Tensor._make(g),)
        for hook in _backward_pre_hooks(self.module):
            res = hook(self.module, gout)
            if res is not None:
                res = res if isinstance(res, (tuple, list)) else (res,)
                if len(res) != 1 or not isinstance(res[0], Tensor) or res[0].shape != g.shape:
                    raise RuntimeError("backward pre-hook must return None or a tuple of one "
                                       f"gradient of shape {tuple(g.shape)}")
                gout = tuple(res)
        g = gout[0]._storage
        self.grad_output = gout
        if (self.module._backward_hooks or global_backward_hooks) and not self.input_needs_grad:
            self._run(None)
        return (g,)

    def _input_backward(self, g):
        return (self._run(g),)
