"""Random tensors: rand, randn, randint, randperm, normal, bernoulli, multinomial, their *_like
twins, and the in-place samplers of Tensor (uniform_, normal_, bernoulli_, random_,
exponential_, geometric_, log_normal_, cauchy_).

Every function takes `generator=` (an nnfast.Generator or any NumPy Generator; by default
nnfast's global one, which nnfast.manual_seed seeds). Distributions are PyTorch's; the streams
are NumPy's, so values differ from torch's for the same seed.
"""
import numpy as np

from ..backend import table_of
from .. import autograd as ag
from .. import random as _random
from ..tensor import _LEAF_INPLACE, Tensor, _as_dtype, get_default_dtype, int64
from .core import _bind, _result, _unbroadcast, _write_out
from .creation import _finish, _place, _size, _size_kw, placed

_state = ag._state


def _gen(generator):
    if generator is None:
        return _random.default_generator()
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be an nnfast.Generator, got {type(generator).__name__}")


def _uniform01(g, shape, dtype):
    """Uniform [0, 1) in dtype: drawn in float32/float64 directly (a float64 draw rounded to
    float32 can reach 1.0), other float types clipped below 1 after the cast."""
    if dtype in (np.float32, np.float64):
        return g.random(shape, dtype=dtype)
    out = g.random(shape, dtype=np.float32).astype(dtype)
    return np.minimum(out, np.nextafter(dtype.type(1), dtype.type(0)))


def _float_dtype(dtype, who):
    dtype = _as_dtype(dtype) or get_default_dtype()
    if dtype.kind not in "fc":
        raise NotImplementedError(f'"{who}" not implemented for \'{dtype}\'')
    return dtype


def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None,
         requires_grad=False, pin_memory=False, **kw):
    size = _size_kw(size, kw, "rand")
    _place(device)
    dtype = _float_dtype(dtype or (out.dtype if out is not None else None), "check_uniform_bounds")
    return _finish(_uniform01(_gen(generator), _size(size, "rand"), dtype), out, requires_grad,
                   "rand")


def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None,
          requires_grad=False, pin_memory=False, **kw):
    size = _size_kw(size, kw, "randn")
    _place(device)
    dtype = _float_dtype(dtype or (out.dtype if out is not None else None), "normal_kernel_cpu")
    g = _gen(generator)
    shape = _size(size, "randn")
    arr = g.standard_normal(shape, dtype=dtype) if dtype in (np.float32, np.float64) else \
        g.standard_normal(shape).astype(dtype)
    return _finish(arr, out, requires_grad, "randn")


def _integers(g, low, high, shape, dtype):
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    return g.integers(low, high, shape).astype(dtype)


def randint(low=0, high=None, size=None, *, generator=None, out=None, dtype=None,
            layout=None, device=None, requires_grad=False, pin_memory=False):
    """Integers in [low, high): randint(high, size) or randint(low, high, size), as torch."""
    _place(device)
    if size is None and isinstance(high, (tuple, list)):
        high, size = None, high   # the two-argument form randint(high, size)
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing the required argument 'size'")
    dtype = _as_dtype(dtype) or (out.dtype if out is not None else int64)
    arr = _integers(_gen(generator), int(low), int(high), _size((size,), "randint"), dtype)
    return _finish(arr, out, requires_grad, "randint")


def randperm(n, *, generator=None, out=None, dtype=None, layout=None, device=None,
             requires_grad=False, pin_memory=False):
    _place(device)
    if n < 0:
        raise RuntimeError(f"n must be non-negative, got {n}")
    dtype = _as_dtype(dtype) or (out.dtype if out is not None else int64)
    return _finish(_gen(generator).permutation(int(n)).astype(dtype), out, requires_grad,
                   "randperm")


def _like(fn):
    def make(input, *, dtype=None, layout=None, device=None, requires_grad=False,
             memory_format=None, generator=None):
        return fn(input.shape, dtype=dtype or input.dtype, device=device,
                  requires_grad=requires_grad, generator=generator)
    make.__name__ = make.__qualname__ = fn.__name__ + "_like"
    return make


rand_like, randn_like = _like(rand), _like(randn)


def randint_like(input, low=0, high=None, *, dtype=None, layout=None, device=None,
                 requires_grad=False, memory_format=None, generator=None):
    if high is None:
        low, high = 0, low
    return randint(low, high, input.shape, dtype=dtype or input.dtype, device=device,
                   requires_grad=requires_grad, generator=generator)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None,
           layout=None, device=None, requires_grad=False, pin_memory=False):
    """Normal draws with the given mean and std (numbers or tensors, broadcast); the result is
    differentiable in tensor means and stds (mean + std * noise)."""
    _place(device)
    g = _gen(generator)
    mt, st = isinstance(mean, Tensor), isinstance(std, Tensor)
    if st and std._storage.size and std._storage.min() < 0 or not st and std < 0:
        bad = std._storage.min() if st else std
        raise RuntimeError(f"normal expects std >= 0.0, but found std {bad}")
    if not mt and not st:
        if size is None:
            raise TypeError("normal(): with a number mean and std, 'size' is required")
        dt = _float_dtype(dtype or (out.dtype if out is not None else None), "normal_kernel_cpu")
        shape = _size((size,), "normal")
        noise = g.standard_normal(shape).astype(dt)
        return _finish(noise * dt.type(std) + dt.type(mean), out, requires_grad, "normal")
    m = mean if mt else Tensor._make(np.asarray(mean, (std.dtype)))
    s = std if st else Tensor._make(np.asarray(std, m.dtype))
    if m.dtype.kind != "f" or s.dtype.kind != "f":
        raise NotImplementedError(f'"normal_kernel_cpu" not implemented for '
                                  f"'{(m if m.dtype.kind != 'f' else s).dtype}'")
    from .binary import _check_broadcast
    if m.shape != s.shape and m.numel() > 0 and s.numel() > 0 and mt and st:
        _check_broadcast(m.shape, s.shape)
    md, sd = m._storage, s._storage
    dt = np.promote_types(md.dtype, sd.dtype) if mt and st else (md.dtype if mt else sd.dtype)
    shape = np.broadcast_shapes(md.shape, sd.shape)
    noise = g.standard_normal(shape).astype(dt)
    y = md + sd * noise

    def backward(gr):
        return (_unbroadcast(gr, md.shape).astype(md.dtype, copy=False) if mt else None,
                _unbroadcast(gr * noise, sd.shape).astype(sd.dtype, copy=False) if st else None)
    res = _result(y.astype(dt, copy=False), (m if mt else None, s if st else None), backward,
                  "Normal")
    return _write_out(res, out, "normal")


def bernoulli(input, p=None, *, generator=None, out=None):
    """0/1 draws, 1 with probability input (or p), in input's dtype."""
    x = input
    if not isinstance(x, Tensor):
        raise TypeError(f"bernoulli(): argument 'input' must be Tensor, not {type(x).__name__}")
    if x.dtype.kind != "f":
        raise NotImplementedError(f'"bernoulli_tensor_cpu_p_" not implemented for '
                                  f"'{x.dtype}'")
    probs = x._storage if p is None else np.full(x.shape, p, float)
    if probs.size and not ((probs >= 0) & (probs <= 1)).all():
        raise RuntimeError("bernoulli: the probabilities must be in [0, 1]; got values outside")
    arr = (_gen(generator).random(x.shape) < probs).astype(x.dtype)
    if arr.__class__ is not x._storage.__class__:   # drawn on the host: onto x's device
        arr = table_of(x._storage).asarray(arr)
    return _write_out(Tensor._make(arr), out, "bernoulli")


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    """Indices drawn from each row's (unnormalised) non-negative weights."""
    x = input
    if x.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if x.dtype.kind != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: "
                           f"{x.dtype}")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    xd = x._storage
    if xd.__class__ is not np.ndarray:   # drawn on the host, as on the CPU: the same draws
        xd = table_of(xd).to_host(xd)
    w = xd.astype(np.float64).reshape(-1, x.shape[-1])
    if not np.isfinite(w).all() or (w < 0).any():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if not replacement and num_samples > w.shape[1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    g = _gen(generator)
    rows = []
    for row in w:
        total = row.sum()
        if total <= 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        if not replacement and np.count_nonzero(row) < num_samples:
            raise RuntimeError("invalid multinomial distribution (with replacement=False, not "
                               "enough non-negative category to sample)")
        rows.append(g.choice(row.size, num_samples, replace=replacement, p=row / total))
    arr = np.array(rows, dtype=np.int64).reshape(x.shape[:-1] + (num_samples,))
    if xd is not x._storage:
        arr = table_of(x._storage).from_host(arr)
    return _write_out(Tensor._make(arr), out, "multinomial")


def poisson(input, generator=None):
    x = input
    return Tensor._make(_gen(generator).poisson(x._storage).astype(x.dtype))


# ===================================================================== in-place samplers

def _overwrite(self, arr):
    """self <- arr (random values): PyTorch's in-place rules, no gradient to the old value."""
    if _state.grad_enabled and self.requires_grad and self._node is None:
        raise RuntimeError(_LEAF_INPLACE)
    self._storage[...] = arr
    if self._node is not None:
        self._detach_history("Random")
    self._bump()
    return self


def _need_float(self, who):
    if self.dtype.kind not in "fc":
        raise NotImplementedError(f'"{who}" not implemented for \'{self.dtype}\'')


def _from_to(args, kwargs, defaults):
    """(from, to) from positional arguments or torch's keyword names 'from' and 'to'."""
    a, b = (list(args) + list(defaults[len(args):]))[:2]
    return kwargs.pop("from", a), kwargs.pop("to", b)


def _uniform_(self, *args, generator=None, **kwargs):
    lo, hi = _from_to(args, kwargs, (0.0, 1.0))
    _need_float(self, "check_uniform_bounds")
    if lo > hi:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={lo} > to={hi}")
    u = _uniform01(_gen(generator), self.shape, self.dtype)
    return _overwrite(self, lo + (hi - lo) * u)


def _normal_(self, mean=0.0, std=1.0, *, generator=None):
    _need_float(self, "normal_kernel_cpu")
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    return _overwrite(self, mean + std * _gen(generator).standard_normal(self.shape))


def _bernoulli_(self, p=0.5, *, generator=None):
    probs = p._storage if isinstance(p, Tensor) else p
    a = probs if isinstance(p, Tensor) else np.asarray(probs)   # any device
    if ((a < 0) | (a > 1)).any():
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    return _overwrite(self, _gen(generator).random(self.shape) < probs)


def _random_(self, *args, generator=None, **kwargs):
    """random_(): [0, 2^mantissa] for floats, [0, max] for ints; random_(to), random_(from, to)."""
    lo, hi = _from_to(args, kwargs, (None, None))
    if lo is not None and hi is None and not args[1:]:
        lo, hi = 0, lo
    if lo is None:
        dt = self.dtype
        lo = 0
        if dt.kind == "f":
            hi = 2 ** (np.finfo(dt).nmant + 1) + 1
        elif dt.kind == "b":
            hi = 2
        else:
            hi = int(np.iinfo(dt).max) + 1 if dt.itemsize < 8 else int(np.iinfo(dt).max)
    return _overwrite(self, _integers(_gen(generator), int(lo), int(hi), self.shape, self.dtype))


def _exponential_(self, lambd=1.0, *, generator=None):
    _need_float(self, "exponential_cpu")
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    return _overwrite(self, _gen(generator).exponential(1.0 / lambd, self.shape))


def _geometric_(self, p, *, generator=None):
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    return _overwrite(self, _gen(generator).geometric(p, self.shape))


def _log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    _need_float(self, "log_normal_cpu")
    if not std > 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    return _overwrite(self, _gen(generator).lognormal(mean, std, self.shape))


def _cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    _need_float(self, "cauchy_cpu")
    return _overwrite(self, median + sigma * _gen(generator).standard_cauchy(self.shape))


_bind({"uniform_": _uniform_, "normal_": _normal_, "bernoulli_": _bernoulli_,
       "random_": _random_, "exponential_": _exponential_, "geometric_": _geometric_,
       "log_normal_": _log_normal_, "cauchy_": _cauchy_,
       "bernoulli": bernoulli, "multinomial": multinomial})

# device=: drawn on the host from the same generator, then moved (same numbers everywhere)
rand, randn, randint, randperm, normal = (placed(f) for f in (rand, randn, randint, randperm,
                                                              normal))
rand_like, randn_like, randint_like = (placed(f, like=True) for f in (rand_like, randn_like,
                                                                      randint_like))

PUBLIC = {f.__name__: f for f in (rand, randn, randint, randperm, normal, bernoulli,
                                  multinomial, poisson, rand_like, randn_like, randint_like)}
