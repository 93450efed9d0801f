"""Module: the base of layers, with PyTorch's registration, traversal and state_dict rules."""
from collections import OrderedDict

import numpy as np

from .._missing import attribute_error
from ..device import check_available
from ..device import device as _device
from ..tensor import Tensor, _parse_to
from ..utils.hooks import RemovableHandle
from . import _hooks, _state_dict
from ._state_dict import EXTRA_STATE as _EXTRA_STATE
from ._state_dict import IncompatibleKeys, _IncompatibleKeys  # noqa: F401
from .parameter import Buffer, Parameter

# [True] while hooks on every module may exist (the same list as nnfast/nn/_hooks.py's)
_G_ON = _hooks.global_on
_HOOK_STORES = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                "_backward_pre_hooks")
_HOOK_SETS = ("_forward_hooks_with_kwargs", "_forward_pre_hooks_with_kwargs")


class LayerName:
    """A layer's name for its messages ("Conv2d(3, 8, kernel_size=(3, 3), ...)"), formatted
    only when a message is: a layer's call hands one to its functional as `_who`, because
    formatting the name on every call cost more than the call's own checks."""
    __slots__ = ("layer",)

    def __init__(self, layer):
        self.layer = layer

    def __str__(self):
        return self.layer._who()

    def __format__(self, spec):
        return format(self.layer._who(), spec)


class Module:
    training = True

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        for name in _HOOK_STORES:
            object.__setattr__(self, name, OrderedDict())
        for name in _HOOK_SETS:
            object.__setattr__(self, name, set())

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._remove_from(name, keep=params)
            params[name] = value
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._remove_from(name, keep=self._modules)
            self._modules[name] = value
        elif isinstance(value, Buffer):
            if params is None:
                raise AttributeError("cannot assign buffer before Module.__init__() call")
            self.register_buffer(name, Tensor._make(value._storage), value.persistent)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(nnfast.nn.Parameter or None expected)")
            params[name] = None
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}'")
            self._modules[name] = None
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}'")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _remove_from(self, name, keep=None):
        """Forget `name` everywhere except in the store `keep`, where re-assigning the key
        keeps its position (so replacing a child or parameter keeps the traversal order)."""
        for d in (self.__dict__, self._parameters, self._buffers, self._modules):
            if d is not keep and name in d:
                del d[name]
        if keep is not self._buffers:
            self._non_persistent_buffers.discard(name)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            s = d.get(store)
            if s is not None and name in s:
                return s[name]
        if not hasattr(type(self), name):
            raise attribute_error(self, name, "torch.nn.Module")   # says when torch has it
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def _check_new_name(self, name, what, store):
        if not isinstance(name, str):
            raise TypeError(f"{what} name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError(f"{what} name can't contain \".\"")
        if name == "":
            raise KeyError(f"{what} name can't be empty string \"\"")
        if name not in store and hasattr(self, name):
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name, param):
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_new_name(name, "parameter", self._parameters)
        if "." in name or name == "":
            raise KeyError(f"parameter name can't contain '.' or be empty: {name!r}")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter "
                            f"'{name}' (nnfast.nn.Parameter or None required)")
        self._remove_from(name, keep=self._parameters)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_new_name(name, "buffer", self._buffers)
        if "." in name or name == "":
            raise KeyError(f"buffer name can't contain '.' or be empty: {name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor._make(np.asarray(tensor))
        self._remove_from(name, keep=self._buffers)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_new_name(name, "module", self._modules)
        if "." in name or name == "":
            raise KeyError(f"module name can't contain '.' or be empty: {name!r}")
        self._remove_from(name, keep=self._modules)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        mod = self
        if target == "":
            return mod
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def set_submodule(self, target, module, strict=False):
        if not isinstance(module, Module):
            raise ValueError(f"`module` is not an nn.Module, found {type(module)}")
        if target == "":
            raise ValueError("Cannot set the submodule without a target name!")
        path, _, name = target.rpartition(".")
        parent = self.get_submodule(path)
        if hasattr(parent, name):
            if not isinstance(getattr(parent, name), Module):
                raise AttributeError(f"`{name}` is not an nn.Module")
        elif strict:
            raise AttributeError(f"{parent._get_name()} has no attribute `{name}`")
        setattr(parent, name, module)

    def _get_member(self, target, store, what):
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        if name not in getattr(mod, store):
            raise AttributeError(f"`{name}` is not {what}")
        return getattr(mod, store)[name]

    def get_parameter(self, target):
        return self._get_member(target, "_parameters", "an nn.Parameter")

    def get_buffer(self, target):
        return self._get_member(target, "_buffers", "a buffer")

    # ------------------------------------------------------------ traversal
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, getter, prefix="", recurse=True, remove_duplicate=True):
        memo = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for k, v in getter(m).items():
                if v is None or (remove_duplicate and id(v) in memo):
                    continue
                if remove_duplicate:
                    memo.add(id(v))
                yield mprefix + ("." if mprefix else "") + k, v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members(lambda m: m._parameters, prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members(lambda m: m._buffers, prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ------------------------------------------------------------ modes
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        object.__setattr__(self, "training", mode)
        for m in self.children():
            m.train(mode)   # through each child's own train(), which may be overridden
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad._storage[...] = 0

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ dtypes and devices
    def _cast(self, dtype, kinds="f"):
        """Every parameter and buffer of a kind in `kinds` becomes `dtype`, in place: the
        tensor objects stay (an optimizer holding them keeps working); their arrays and
        gradients are converted."""
        for m in self.modules():
            m.__dict__.pop("_fused_chain", None)   # a chain captured its parameters' dtype
            for store in (m._parameters, m._buffers):
                for t in store.values():
                    if t is not None and t.dtype.kind in kinds and t.dtype != dtype:
                        t._storage = t._storage.astype(dtype)
                        t._grad_buf = None
                        if t.grad is not None:
                            t.grad = Tensor._make(t.grad._storage.astype(dtype))
        return self

    def float(self):
        return self._cast(np.dtype(np.float32))

    def double(self):
        return self._cast(np.dtype(np.float64))

    def half(self):
        return self._cast(np.dtype(np.float16))

    def bfloat16(self):
        raise TypeError("nnfast has no bfloat16 tensors yet (PyTorch's Module.bfloat16); "
                        "use float()")

    def type(self, dst_type):
        return self._cast(np.dtype(dst_type), kinds="fiub")

    def _move(self, dev):
        """Every parameter and buffer moves to device dev, in place (the tensor objects
        stay, as in torch: an optimizer made afterwards sees them there)."""
        dev = check_available(dev, "module")
        from ..backend import move
        for m in self.modules():
            m.__dict__.pop("_fused_chain", None)   # a chain captured its parameters' device
            for store in (m._parameters, m._buffers):
                for t in store.values():
                    if t is None or t.device.type == dev.type:
                        continue
                    t._storage = move(t._storage, dev)
                    t._grad_buf = None
                    if t.grad is not None:
                        t.grad = Tensor._make(move(t.grad._storage, dev))
        return self

    def to(self, *args, **kwargs):
        """to(device), to(dtype), to(device, dtype, non_blocking), to(tensor), as torch:
        parameters and buffers move to the device; a dtype converts the floating ones."""
        dev, dtype, _ = _parse_to(args, kwargs)
        if dev is not None:
            self._move(dev)
        if dtype is None:
            return self
        if dtype.kind not in "fc":
            raise TypeError("nn.Module.to only accepts floating point or complex dtypes, "
                            f"but got desired dtype={dtype}")
        return self._cast(dtype)

    def cpu(self):
        return self._move(_device("cpu"))

    def cuda(self, device=None):
        return self._move(_device("cuda", device) if isinstance(device, int)
                          else _device(device or "cuda"))

    def share_memory(self):
        return self

    def to_empty(self, *, device, recurse=True):
        check_available(_device(device) if not isinstance(device, int)
                        else _device("cuda", device), "module")
        return self

    # ------------------------------------------------------------ state
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                destination[prefix + name] = b if keep_vars else b.detach()
        if type(self).get_extra_state is not Module.get_extra_state:
            destination[prefix + _EXTRA_STATE] = self.get_extra_state()

    def get_extra_state(self):
        """Extra state a module adds to its state_dict: override with set_extra_state."""
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never "
                           "be called: override get_extra_state() in the module to save it")

    def set_extra_state(self, state):
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never "
                           "be called: override set_extra_state() to load extra state")

    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        """Parameters and persistent buffers by dotted name, as in PyTorch.

        Values are tensors sharing storage with the module (detached unless keep_vars)."""
        if args:   # torch's deprecated positional form: (destination, prefix, keep_vars)
            destination = args[0]
            prefix = args[1] if len(args) > 1 else prefix
            keep_vars = args[2] if len(args) > 2 else keep_vars
        if destination is None:
            destination = OrderedDict()
        _state_dict.save(self, destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".",
                             keep_vars=keep_vars)
        return _state_dict.post(self, destination, prefix)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy values into this module's parameters and buffers, in place.

        Accepts nnfast tensors, torch tensors and NumPy arrays. Copying in place keeps any
        optimizer's flat buffers valid (assign=True instead makes the module hold the given
        tensors, as torch). Unlike PyTorch, a load that raises changes nothing: every value
        is checked before the first is copied (nnfast/nn/_state_dict.py)."""
        return _state_dict.load(self, state_dict, strict, assign, Module)

    # state-dict hooks, torch's signatures (nnfast/nn/_state_dict.py)
    def _add_state_hook(self, store, entry):
        d = self.__dict__.setdefault(store, OrderedDict())
        handle = RemovableHandle(d)
        d[handle.id] = entry
        return handle

    def register_state_dict_pre_hook(self, hook):
        return self._add_state_hook("_state_dict_pre_hooks", hook)

    def register_state_dict_post_hook(self, hook):
        return self._add_state_hook("_state_dict_hooks", (hook, False))

    def _register_state_dict_hook(self, hook):
        return self._add_state_hook("_state_dict_hooks", (hook, True))

    def register_load_state_dict_pre_hook(self, hook):
        return self._add_state_hook("_load_state_dict_pre_hooks", (hook, True))

    def _register_load_state_dict_pre_hook(self, hook, with_module=False):
        return self._add_state_hook("_load_state_dict_pre_hooks", (hook, with_module))

    def register_load_state_dict_post_hook(self, hook):
        return self._add_state_hook("_load_state_dict_post_hooks", hook)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_fused_chain", None)   # Sequential's run-time cache (workspaces, C plans)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        # pickles from before hooks existed
        for name in _HOOK_STORES:
            self.__dict__.setdefault(name, OrderedDict())
        for name in _HOOK_SETS:
            self.__dict__.setdefault(name, set())
        self.__dict__.setdefault("_non_persistent_buffers", set())
        if "_hooked" in self.__dict__:   # unpickled with hooks, maybe in a fresh process
            _hooks.hook_registered()

    # ------------------------------------------------------------ hooks
    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """hook(module, args) -> None or new args; with_kwargs: hook(module, args, kwargs) ->
        None or (args, kwargs). Runs before forward."""
        return self._add_hook("_forward_pre_hooks", hook, prepend,
                              "_forward_pre_hooks_with_kwargs" if with_kwargs else None)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False,
                              always_call=False):
        """hook(module, args, output) -> None or a new output; with_kwargs: hook(module, args,
        kwargs, output). Runs after forward."""
        return self._add_hook("_forward_hooks", hook, prepend,
                              "_forward_hooks_with_kwargs" if with_kwargs else None)

    def register_full_backward_hook(self, hook, prepend=False):
        """hook(module, grad_input, grad_output) -> None or a new grad_input, called once the
        gradients with respect to the module's inputs are computed."""
        return self._add_hook("_backward_hooks", hook, prepend, None)

    def register_full_backward_pre_hook(self, hook, prepend=False):
        """hook(module, grad_output) -> None or a new grad_output, called when the gradients
        with respect to the module's output arrive, before the module's backward."""
        return self._add_hook("_backward_pre_hooks", hook, prepend, None)

    def register_backward_hook(self, hook):
        return self.register_full_backward_hook(hook)

    def _add_hook(self, store_name, hook, prepend, kwargs_set):
        store = getattr(self, store_name)
        extra = [getattr(self, kwargs_set)] if kwargs_set else []
        handle = RemovableHandle(store, extra_dict=extra)
        store[handle.id] = hook
        self.__dict__["_hooked"] = True
        _hooks.hook_registered()
        if kwargs_set:
            extra[0].add(handle.id)
        if prepend:
            store.move_to_end(handle.id, last=False)
        return handle

    # ------------------------------------------------------------ call and print
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  '"forward" function')

    def __call__(self, *args, **kwargs):
        # Until the process registers its first hook, a call is just forward; from then on
        # Module.__call__ is _call_checking_hooks (nnfast/nn/_hooks.py switches it).
        return self.forward(*args, **kwargs)

    def _call_checking_hooks(self, *args, **kwargs):
        # "_hooked" is set when a hook is added and cleared by call_with_hooks once all are
        # gone: one test per call on the hook-free path
        if "_hooked" in self.__dict__ or _G_ON[0]:
            return _hooks.call_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)

    def _has_hooks(self):
        d = self.__dict__
        return bool(d["_forward_pre_hooks"] or d["_forward_hooks"] or d["_backward_hooks"]
                    or d["_backward_pre_hooks"]) or _hooks.any_global()

    def extra_repr(self):
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines = extra.split("\n")
        for name, m in self._modules.items():
            mod = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {mod}")
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __dir__(self):
        return sorted(set(object.__dir__(self)) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))


PLAIN_CALL = Module.__call__   # before any hook (Sequential's fused path tells the two apart)

# the first hook anywhere makes every call check for hooks (see Module.__call__)
_hooks.on_first_hook.append(
    lambda: setattr(Module, "__call__", Module._call_checking_hooks))
