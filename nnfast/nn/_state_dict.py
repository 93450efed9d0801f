"""Module.load_state_dict's work, and the state-dict hooks of torch's Module.

Loading is checked before it copies: every key and shape is held against the module first,
and nothing is written when something is wrong (PyTorch may have copied part of a state dict
when it raises). Load post-hooks run after the copy, as in PyTorch, and may clear the
missing/unexpected lists before strict mode judges them; with such hooks a strict failure
comes after the copy.

Hooks, with torch's signatures:
  state_dict pre-hook    hook(module, prefix, keep_vars)
  state_dict post-hook   hook(module, state_dict, prefix, local_metadata) -> None
                         (_register_state_dict_hook's may return a new dict)
  load pre-hook          hook(module, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs)
  load post-hook         hook(module, incompatible_keys)
"""
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from ..tensor import Size, Tensor, to_numpy

EXTRA_STATE = "_extra_state"
IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class _IncompatibleKeys(IncompatibleKeys):
    """What load_state_dict returns: (missing_keys, unexpected_keys), printed as torch's."""
    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def own_slots(root, base):
    """(key, module, store, name) for every parameter, persistent buffer and extra state;
    store is None for extra state."""
    out = []
    for mprefix, m in root.named_modules(remove_duplicate=False):
        dot = mprefix + "." if mprefix else ""
        for name, p in m._parameters.items():
            if p is not None:
                out.append((dot + name, m, m._parameters, name))
        for name, b in m._buffers.items():
            if b is not None and name not in m._non_persistent_buffers:
                out.append((dot + name, m, m._buffers, name))
        if type(m).get_extra_state is not base.get_extra_state:
            out.append((dot + EXTRA_STATE, m, None, EXTRA_STATE))
    return out


def _hooks(m, store):
    return list(m.__dict__.get(store, {}).values())


def _run_load_pre_hooks(root, state_dict, strict, missing, unexpected, errors):
    for mprefix, m in root.named_modules(remove_duplicate=False):
        prefix = mprefix + "." if mprefix else ""
        for hook, with_module in _hooks(m, "_load_state_dict_pre_hooks"):
            args = (state_dict, prefix, {}, strict, missing, unexpected, errors)
            hook(m, *args) if with_module else hook(*args)


def load(root, state_dict, strict, assign, base):
    from .parameter import Parameter
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
    hooked = any(m.__dict__.get("_load_state_dict_pre_hooks")
                 or m.__dict__.get("_load_state_dict_post_hooks") for m in root.modules())
    hook_missing, hook_unexpected, errors = [], [], []
    if hooked:
        state_dict = OrderedDict(state_dict)   # pre-hooks may rename keys in this copy
        _run_load_pre_hooks(root, state_dict, strict, hook_missing, hook_unexpected, errors)
    slots = {}
    for key, m, store, name in own_slots(root, base):
        slots.setdefault(key, (m, store, name))
    missing = [k for k in slots if k not in state_dict] + hook_missing
    unexpected = [k for k in state_dict if k not in slots] + hook_unexpected
    todo = []
    for k, (m, store, name) in slots.items():
        if k not in state_dict:
            continue
        if store is None:   # extra state: handed to the module's set_extra_state
            todo.append((m, None, None, state_dict[k]))
            continue
        target = store[name]
        value = to_numpy(state_dict[k])
        if value.shape != target._storage.shape:
            errors.append(f"size mismatch for {k}: copying a param with shape "
                          f"{Size(value.shape)!r} from checkpoint, the shape in current "
                          f"model is {Size(target._storage.shape)!r}.")
            continue
        todo.append((store, name, target, value))
    result = _IncompatibleKeys(missing, unexpected)
    if not hooked:
        _judge(root, result, errors, strict)
    elif errors:
        _judge(root, _IncompatibleKeys([], []), errors, strict)
    for store, name, target, value in todo:
        if name is None:
            store.set_extra_state(value)
        elif assign:
            arr = np.array(value, copy=True)
            if isinstance(target, Parameter):
                store[name] = Parameter(Tensor._make(arr), target.requires_grad)
            else:
                store[name] = Tensor._make(arr)
        else:
            np.copyto(target._storage, value, casting="unsafe")
    if hooked:
        for m in root.modules():
            for hook in _hooks(m, "_load_state_dict_post_hooks"):
                if hook(m, result) is not None:
                    raise RuntimeError("load_state_dict post hook should return None")
        _judge(root, result, [], strict)
    return result


def _judge(root, result, errors, strict):
    errors = list(errors)
    if strict:
        if result.unexpected_keys:
            errors.insert(0, "Unexpected key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in result.unexpected_keys) + ". ")
        if result.missing_keys:
            errors.insert(0, "Missing key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in result.missing_keys) + ". ")
    if errors:
        raise RuntimeError(f"Error(s) in loading state_dict for {type(root).__name__}:\n\t"
                           + "\n\t".join(errors))


def save(module, destination, prefix, keep_vars):
    """One module's part of state_dict, with its hooks (children: the caller recurses)."""
    for hook in _hooks(module, "_state_dict_pre_hooks"):
        hook(module, prefix, keep_vars)
    module._save_to_state_dict(destination, prefix, keep_vars)


def post(module, destination, prefix):
    for hook, returns in _hooks(module, "_state_dict_hooks"):
        res = hook(module, destination, prefix, {})
        if res is not None:
            if not returns:
                raise RuntimeError("state_dict post-hook must return None")
            destination = res
    return destination
