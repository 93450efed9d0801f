"""Optimizer: the base of nnfast's optimizers, with PyTorch's param_groups / state / state_dict.

Flat buffers (DESIGN.md). When a parameter group is added, its parameters are copied into one
contiguous buffer and each Parameter's `.data` becomes a view into it; a matching gradient
buffer is made and each parameter's `_grad_buf` is a Tensor on its slice, so backward writes
gradients straight into it (autograd.grad_sink / _accumulate_leaf). Optimizer state
(exp_avg, momentum_buffer, ...) lives in flat per-group buffers too, created on first use;
`optimizer.state[p]` exposes per-parameter views with torch's keys, and `state[p]["step"]` is a
0-d view into a per-group float32 array of step counts (torch keeps one count per parameter).
Other 0-d state (NAdam's mu_product, ASGD's eta and mu; `_scalar_spec`) lives the same way in
per-group float32 arrays, `fl.scalars[key]`.

step() makes ONE fused C call per group when every parameter has a gradient living in the flat
gradient buffer, the parameters still live in the flat buffer and all step counts agree; when
not (a gradient is None -> that parameter is skipped as torch skips it; a gradient assigned by
hand; a parameter whose .data was replaced), it falls back to one call per parameter with a
gradient, on the slices. State views must be modified in place (assigning a new array to
`state[p]["exp_avg"]` detaches it from the buffer the update reads).
"""
import copy
from collections import defaultdict

import numpy as np

from .. import autograd as ag
from ..backend import cpu
from ..backend import table_of
from ..tensor import Tensor, to_numpy

__all__ = ["Optimizer"]

_F32 = np.dtype(np.float32)


class _FlatGroup:
    """Contiguous storage of one parameter group: parameters, gradients and optimizer state."""

    def __init__(self, params):
        dtypes = {p._storage.dtype for p in params}
        if len(dtypes) > 1:
            raise TypeError("all parameters of a parameter group must have the same dtype "
                            f"(got {sorted(str(d) for d in dtypes)}); put parameters of "
                            "different dtypes in separate parameter groups")
        dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
        if dtype.kind != "f":
            raise TypeError(f"optimizer can only optimize floating-point tensors, got {dtype}")
        self.params = list(params)
        self.dtype = dtype
        self.shapes = [p._storage.shape for p in params]
        self.sizes = [int(p._storage.size) for p in params]
        self.offsets = [int(o) for o in np.cumsum([0] + self.sizes[:-1])] if params else []
        total = int(sum(self.sizes))
        self.numel = total
        # the flat buffers live on the parameters' device (all of a group on one)
        K = table_of(*[p._storage for p in params])
        self.param = K.empty(total, dtype)
        self.grad = K.zeros(total, dtype)
        self.views, self.gviews = [], []
        for i, p in enumerate(params):
            v = self.view(self.param, i)
            v[...] = p._storage
            p._storage = v
            gv = self.view(self.grad, i)
            p._grad_buf = Tensor._make(gv)   # the .grad that backward hands out
            if p.grad is not None:
                gv[...] = p.grad._storage
                p.grad = p._grad_buf
            self.views.append(v)
            self.gviews.append(gv)
        self.buffers = {}                                   # state name -> flat array
        self.step = np.zeros(len(params), np.float32)       # per-parameter step counts
        self.scalars = {}   # per-parameter 0-d state (NAdam's mu_product): name -> float32[n]
        self.has_state = np.zeros(len(params), bool)
        self.spec = None   # state keys the last step used (None: check them next step)
        self.all_idx = list(range(len(params)))

    def view(self, flat, i):
        o = self.offsets[i]
        return flat[o:o + self.sizes[i]].reshape(self.shapes[i])

    def step_view(self, i):
        return self.step[i:i + 1].reshape(())

    def scalar(self, name):
        a = self.scalars.get(name)
        if a is None:
            a = self.scalars[name] = np.zeros(len(self.params), np.float32)
        return a

    def scalar_view(self, name, i):
        return self.scalar(name)[i:i + 1].reshape(())

    def scalars_agree(self):
        """Whether every per-parameter scalar state holds one value across the group."""
        for a in self.scalars.values():
            if len(a) > 1 and not _all_equal(a.tolist()):
                return False
        return True

    def buffer(self, name, fill=0.0):
        b = self.buffers.get(name)
        if b is None:
            b = table_of(self.param).full(self.numel, fill, self.dtype)
            self.buffers[name] = b
        return b

    def gather(self):
        """(indices of parameters with a gradient, whether the one-call fast path applies)."""
        # The common case first, in one cheap pass: every gradient is the flat buffer's view
        # and every parameter still lives in the flat buffer.
        for p, v, gv in zip(self.params, self.views, self.gviews):
            g = p.grad
            if g is None or g._storage is not gv or p._storage is not v:
                break
        else:
            return self.all_idx, True
        idx = []
        fast = True
        for i, p in enumerate(self.params):
            g = p.grad
            if g is None:
                fast = False
                continue
            idx.append(i)
            if fast and (g._storage is not self.gviews[i] or p._storage is not self.views[i]):
                fast = False
            elif g._storage.shape != p._storage.shape:
                raise RuntimeError(f"parameter {i} of the group has shape {p._storage.shape} but its "
                                   f"gradient has shape {g._storage.shape}")
        return idx, fast


class Optimizer:
    """Base class: subclasses set `_state_spec(group)` and `_update(...)` (or `_step_group`)."""

    _has_step = True   # whether state[p] carries a "step" count (SGD's does not)

    def __init__(self, params, defaults):
        # hyperparameters are checked before the parameters, as torch does
        self._validate(defaults)
        _check_torch_flags(defaults)
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        self._flat = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + type(params).__name__)
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ hooks for subclasses
    @staticmethod
    def _validate(group):
        """Raise ValueError for an invalid hyper-parameter of a (defaults-filled) group."""

    def _state_spec(self, group):
        """[(state key, initial fill value)] in torch's key order, for this group's options."""
        return []

    def _scalar_spec(self, group):
        """[(state key, initial value)] of per-parameter 0-d float32 states (NAdam's
        mu_product, ASGD's eta and mu), in torch's key order; they come after "step" and
        before the _state_spec buffers. _update gets them as one-element arrays to advance
        in place (one per parameter, or the group's first when the whole group steps at
        once; the others are then set to it)."""
        return []

    def _update(self, group, params, grads, states, steps):
        raise NotImplementedError

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names and len(names) != len(params):
            raise ValueError("all optimizer params should be with/without names. "
                             "Some param names are missing")
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + type(p).__module__ + "." + type(p).__name__)
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        param_group["params"] = params
        if names:
            param_group["param_names"] = names
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        for g in self.param_groups:
            if ("param_names" in param_group) != ("param_names" in g):
                raise ValueError("all optimizer param groups should be with/without names")
        self._validate(param_group)
        self._flat.append(_FlatGroup(params))
        self.param_groups.append(param_group)
        self._group_added(len(self.param_groups) - 1)

    def _group_added(self, gi):
        """Called after a group is added (Adagrad creates its state eagerly, as torch does)."""

    # ------------------------------------------------------------------ state
    def _fill_state(self, group, fl, i, fresh):
        """Create (fresh) or complete parameter i's state views with the spec's fill values."""
        st = self.state[fl.params[i]]
        if fresh:
            st.clear()
            fl.step[i] = 0
        if self._has_step and "step" not in st:
            st["step"] = Tensor._make(fl.step_view(i))
        for key, init in self._scalar_spec(group):
            if key not in st or st[key] is None:
                fl.scalar(key)[i] = init
                st[key] = Tensor._make(fl.scalar_view(key, i))
        for key, fill in self._state_spec(group):
            if key not in st or st[key] is None:
                v = fl.view(fl.buffer(key), i)
                v[...] = fill
                st[key] = Tensor._make(v)
        fl.has_state[i] = True

    # ------------------------------------------------------------------ step
    def step(self, closure=None):
        """One update of every group; returns closure() (re-evaluated with grad on) if given."""
        loss = None
        if closure is not None:
            with ag.enable_grad():
                loss = closure()
        for group, fl in zip(self.param_groups, self._flat):
            self._step_group(group, fl)
        return loss

    def _step_group(self, group, fl):
        idx, fast = fl.gather()
        if not idx:
            return
        if not fast and fl.params and fl.params[0]._storage.__class__ is not \
                fl.param.__class__:
            fl = self._relocate(fl)   # the model moved to another device since
            idx, fast = fl.gather()
        has_state = fl.has_state
        if not (fast and False not in has_state.tolist()):   # (tolist: no NumPy bool per item)
            for i in idx:
                if not has_state[i]:
                    self._fill_state(group, fl, i, fresh=True)
        spec = self._state_spec(group)
        keys = tuple([k for k, _ in spec])
        if keys != fl.spec:   # an option switched on since (e.g. amsgrad): complete the state
            for i in np.flatnonzero(fl.has_state):
                self._fill_state(group, fl, i, fresh=False)
            fl.spec = keys
        steps = fl.step
        scalars = fl.scalars
        # (all step counts equal: checked on a list, cheaper than two NumPy reductions)
        counts = steps.tolist()
        if fast and _all_equal(counts) and (not scalars or fl.scalars_agree()):
            steps.fill(_F32.type(counts[0] + 1))   # (float32 counts, as += 1 rounds them)
            if not scalars and fl.dtype == _F32 and fl.param.__class__ is np.ndarray and \
                    self._one_update():
                # the group's one C update as compile_step's call runs it: the same kernel
                # and arguments as _update's, without its per-call Python
                rec = self._update_record(group, fl, steps[0])
                if rec is not None:
                    cpu.run_update(rec)
                    return
            states = {k: [fl.buffers[k]] for k, _ in spec}
            for k, a in scalars.items():
                states[k] = [a[:1]]
            self._update(group, [fl.param], [fl.grad], states, [steps[0]])
            for a in scalars.values():
                a[1:] = a[0]
        else:
            steps[idx] += 1
            views = {k: [fl.view(fl.buffers[k], i) for i in idx] for k, _ in spec}
            for k, a in scalars.items():
                views[k] = [a[i:i + 1] for i in idx]
            params = [fl.params[i]._storage for i in idx]
            grads = [fl.params[i].grad._storage for i in idx]
            self._update(group, params, grads, views, [steps[i] for i in idx])

    def _one_update(self):
        """Whether this optimizer's step is what _update_record describes (class-wide)."""
        fusable = _FUSABLE.get(type(self))
        if fusable is None:
            fusable = _FUSABLE[type(self)] = _step_is_one_update(type(self))
        return fusable

    def _relocate(self, fl):
        """A new flat group on the device the parameters now live on (model.to(device) after
        the optimizer was made, which torch allows), with the state carried over."""
        from .. import backend
        new = _FlatGroup(fl.params)
        K = table_of(new.param)
        for name, b in fl.buffers.items():
            new.buffers[name] = K.from_host(backend.table_of(b).to_host(b))
        new.step[...] = fl.step
        new.has_state[...] = fl.has_state
        new.scalars = {k: v.copy() for k, v in fl.scalars.items()}
        new.spec = fl.spec
        i = self._flat.index(fl)
        self._flat[i] = new
        for j, p in enumerate(fl.params):   # state entries now view the new buffers
            st = self.state.get(p)
            if not st:
                continue
            if "step" in st:
                st["step"] = Tensor._make(new.step_view(j))
            for key in new.scalars:
                if key in st:
                    st[key] = Tensor._make(new.scalar_view(key, j))
            for key, b in new.buffers.items():
                if key in st:
                    st[key] = Tensor._make(new.view(b, j))
        return new

    # ------------------------------------------------------------------ compile_step's step
    def _update_record(self, group, fl, step):
        """The one C update (an nf_update record: kind, param, grad, states, floats, ints)
        that step() would make for this group on its flat buffers, with `step` the step count
        after the increment; None when step() would do anything else."""
        return None

    def _take_step_records(self):
        """step(), handed to nnfast.compile_step's C call as update records: when step()
        would make exactly one C update per group on the flat buffers, advance the step counts
        as step() does and return the records (run them, or call _undo_step_records);
        otherwise None, with nothing changed, and step() must run."""
        if not self._one_update():
            return None
        records, counted = [], []
        # per-parameter scalar state that _update_record advances as step() would; put back
        # if the records do not run
        self._scalars_before = [(fl, {k: a.copy() for k, a in fl.scalars.items()})
                                for fl in self._flat if fl.scalars]
        for group, fl in zip(self.param_groups, self._flat):
            if not fl.params:
                continue
            if fl.dtype != _F32:
                return None
            idx, fast = fl.gather()
            if not fast or len(idx) != len(fl.params):
                return None
            step = None
            if self._has_step:
                # step()'s one-call path: every count equal, state made, spec current
                counts = fl.step.tolist()
                if (not _all_equal(counts) or False in fl.has_state.tolist()
                        or fl.spec != tuple([k for k, _ in self._state_spec(group)])
                        or not fl.scalars_agree()):
                    self._restore_scalars()
                    return None
                step = _F32.type(counts[0] + 1)   # as the float32 count's += 1 rounds
                counted.append((fl, step))
            if fl.numel == 0:
                if fl.scalars:    # step() would still advance the 0-d state: let it
                    self._restore_scalars()
                    return None
                continue      # nothing to update; step() only counts the step
            rec = self._update_record(group, fl, step)
            if rec is None:
                self._restore_scalars()
                return None
            records.append(rec)
        for fl, step in counted:
            fl.step.fill(step)
        return records

    def _undo_step_records(self):
        """Take back _take_step_records' bookkeeping (the records did not run)."""
        if self._has_step:
            for fl in self._flat:
                fl.step -= 1
        self._restore_scalars()

    def _restore_scalars(self):
        for fl, saved in getattr(self, "_scalars_before", ()):
            for k, a in saved.items():
                fl.scalars[k][...] = a
        self._scalars_before = ()

    def zero_grad(self, set_to_none=True):
        """Reset gradients: to None (default), or to zero with one fill of each flat buffer."""
        for fl in self._flat:
            if set_to_none:
                for p in fl.params:
                    p.grad = None
                continue
            memset = False
            for i, p in enumerate(fl.params):
                g = p.grad
                if g is None:
                    continue
                if g._storage is fl.gviews[i]:
                    memset = True
                else:
                    g._node = None
                    g.requires_grad = False
                    g._storage[...] = 0
            if memset:
                fl.grad.fill(0)

    # ------------------------------------------------------------------ state_dict
    def state_dict(self):
        """{'state': {index: {...}}, 'param_groups': [{..., 'params': [indices]}]} as torch.

        State values are copies (nnfast Tensors), so the dict is a snapshot."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, st in self.state.items():
            if id(p) in index and st:
                state[index[id(p)]] = {k: (Tensor._make(v._storage.copy()) if isinstance(v, Tensor)
                                           else copy.deepcopy(v)) for k, v in st.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state_dict from nnfast or torch.optim (torch tensors are converted), copying
        the values into this optimizer's flat buffers."""
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        groups = self.param_groups
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        where = {}
        for gi, s in enumerate(saved_groups):
            for i, k in enumerate(s["params"]):
                where[k] = (gi, i)
        for k, saved in state_dict["state"].items():
            if k not in where:
                continue
            gi, i = where[k]
            p = self._flat[gi].params[i]
            for key, value in saved.items():
                if key == "step" or value is None or np.ndim(to_numpy(value)) == 0:
                    continue
                shape = to_numpy(value).shape
                if shape != p._storage.shape:
                    raise ValueError(f"loaded state '{key}' for parameter {k} has shape "
                                     f"{shape}, the parameter has shape {p._storage.shape}")
        self.state = defaultdict(dict)
        for fl in self._flat:
            fl.has_state[:] = False
            fl.step[:] = 0
            fl.spec = None
        for group, saved in zip(groups, saved_groups):
            params, names = group["params"], group.get("param_names")
            group.clear()
            group.update(saved)
            group["params"] = params
            if names is not None and "param_names" not in saved:
                group["param_names"] = names
            for name, default in self.defaults.items():
                group.setdefault(name, default)
        self._after_load()
        for k, saved in state_dict["state"].items():
            if k not in where:
                continue
            gi, i = where[k]
            self._load_param_state(groups[gi], self._flat[gi], i, saved)

    def _after_load(self):
        """Fix-ups of loaded group options (AdamW forces decoupled_weight_decay)."""

    def _load_param_state(self, group, fl, i, saved):
        st = self.state[fl.params[i]]
        spec = dict(self._state_spec(group))
        scalar_keys = dict(self._scalar_spec(group))
        for key, value in saved.items():
            if key == "step":
                fl.step[i] = float(to_numpy(value))
                if self._has_step:
                    st["step"] = Tensor._make(fl.step_view(i))
            elif key in scalar_keys and value is not None:
                fl.scalar(key)[i] = float(to_numpy(value))
                st[key] = Tensor._make(fl.scalar_view(key, i))
            elif value is None:
                continue
            elif isinstance(value, Tensor) or hasattr(value, "detach") or isinstance(
                    value, np.ndarray):
                arr = to_numpy(value)
                if arr.ndim == 0 and key not in spec:
                    st[key] = Tensor._make(np.array(arr))
                    continue
                v = fl.view(fl.buffer(key), i)
                np.copyto(v, arr, casting="unsafe")
                st[key] = Tensor._make(v)
            else:
                st[key] = copy.deepcopy(value)
        if st:
            self._loaded(group, fl, i)

    def _loaded(self, group, fl, i):
        """Mark a parameter's loaded state live (completing keys the saved state lacked)."""
        self._fill_state(group, fl, i, fresh=False)

    # ------------------------------------------------------------------ printing
    def __repr__(self):
        s = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}"
            for key in sorted(group):
                if key != "params":
                    s += f"\n    {key}: {group[key]}"
        return s + "\n)"


_FUSABLE = {}   # optimizer class -> _step_is_one_update(class)


def _step_is_one_update(cls):
    """Whether cls's step() is the one that _update_record describes: the class that
    defines _update_record also defines (or inherits from Optimizer) the step machinery."""
    owner = _definer(cls, "_update_record")
    return (owner is not Optimizer and cls.step is Optimizer.step
            and _definer(cls, "_update") in (Optimizer, owner)
            and _definer(cls, "_step_group") in (Optimizer, owner))


def _definer(cls, name):
    """The class in cls's MRO whose body defines attribute `name` (None if none does)."""
    for c in cls.__mro__:
        if name in c.__dict__:
            return c
    return None


def _all_equal(values):
    return values.count(values[0]) == len(values)


def _check_torch_flags(defaults):
    """torch's foreach/fused/capturable/differentiable flags: accepted, checked, no effect
    (nnfast's step is always one fused loop per group)."""
    if defaults.get("differentiable"):
        raise NotImplementedError("differentiable=True is not supported by nnfast optimizers")
    if defaults.get("fused") and defaults.get("foreach"):
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def _nonneg(group, key, what):
    v = group[key]
    if not 0.0 <= v:
        raise ValueError(f"Invalid {what}: {v}")


def _check_betas(group):
    """torch's checks of a (beta1, beta2) pair: each in [0, 1)."""
    betas = group["betas"]
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for k in range(2):
        if not 0.0 <= betas[k] < 1.0:
            raise ValueError(f"Invalid beta parameter at index {k}: {betas[k]}")


def _check_adam_hparams(group):
    """torch's checks shared by the Adam family (Adam, AdamW, Adamax, NAdam, RAdam)."""
    _nonneg(group, "lr", "learning rate")
    _nonneg(group, "eps", "epsilon value")
    _check_betas(group)
    _nonneg(group, "weight_decay", "weight_decay value")
