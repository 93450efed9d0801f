"""Elementwise ufuncs on CudaArrays: what `np.add(a, b)`, `a += b`, `np.exp(x)` run when the
storage is on the GPU (np.where, np.clip and the other elementwise functions are in
elementwise_funcs.py, on the same machinery: `apply`).

NumPy semantics, decided on the host before any launch: result dtypes from the ufunc's own
loop resolution (`ufunc.resolve_dtypes`, so NumPy 2's weak Python scalars and every mixed
int/bool/float rule come out as NumPy's), broadcasting, `out=` (any strided view, aliasing
an input elementwise as `a += b` does), `dtype=`, 0-d and empty arrays. Python and NumPy
scalars travel as kernel arguments, never as device arrays; host ndarrays are uploaded.

Kernels: per (scalar function, operand pattern, layout) one generated grid-stride kernel,
cached; the scalar functions are in elementwise_math.py. Before launching, dimensions that
every operand walks contiguously are merged; when everything is then one contiguous run the
flat kernel indexes `buf[off + i]` with no div/mod per dimension (the common case of
same-shape contiguous operands), otherwise the strided kernel turns the flat index into one
offset per operand.

Unsupported here: ufuncs with two outputs (divmod, modf, frexp), `where=` masks of ufuncs,
float16 and complex dtypes (NotImplementedError naming them). Integer `power` with negative
exponents gives 0 (NumPy raises; a kernel cannot). Reductions (`np.add.reduce`, `.at`,
`.accumulate`) go to the hooks the reduce and index families register.
"""
import numbers

import numpy as np
from numba import cuda

from . import _launch, _strided
from .array import HOOKS, UFUNCS, CudaArray, empty, from_host, missing
from .elementwise_math import SCALAR

__all__ = []

_DEVICE_FNS = {}   # (key, loop dtypes) -> device function
_KERNELS = {}      # (device function, pattern, flat) -> kernel
_LOOPS = {}        # (ufunc, operand dtypes, signature) -> NumPy's loop dtypes
_CHECKED = set()   # (loop dtypes, result dtype, out dtype) found supported and castable
_OK_KINDS = "biuf"


# ---------------------------------------------------------------------- kernel factory
def _device_fn(key, dts):
    ck = (key, dts)
    fn = _DEVICE_FNS.get(ck)
    if fn is None:
        fn = _DEVICE_FNS[ck] = cuda.jit(device=True, inline=True)(SCALAR[key](dts))
    return fn


def _kernel(fn, pattern, flat):
    """The grid-stride kernel applying device function `fn` elementwise. `pattern` has one
    letter per input: 'a' an array (buffer, offset[, strides]), 's' a scalar argument."""
    ck = (fn, pattern, flat)
    k = _KERNELS.get(ck)
    if k is not None:
        return k
    params, loads, offs, steps = [], [], [], []
    for j, p in enumerate(pattern):
        if p == "s":
            params.append(f"s{j}")
            loads.append(f"s{j}")
        elif flat:
            params += [f"b{j}", f"o{j}"]
            loads.append(f"b{j}[o{j} + i]")
        else:
            params += [f"b{j}", f"o{j}", f"e{j}"]
            loads.append(f"b{j}[p{j}]")
            offs.append(f"p{j} = o{j}")
            steps.append(f"p{j} += k * e{j}[d]")
    call = f"fn({', '.join(loads)})"
    if flat:
        src = (f"def kern(ob, oo, n, {', '.join(params)}):\n"
               "    i = cuda.grid(1)\n"
               "    step = cuda.gridsize(1)\n"
               "    while i < n:\n"
               f"        ob[oo + i] = {call}\n"
               "        i += step\n")
    else:
        ind = "\n            "
        src = (f"def kern(ob, oo, oe, shape, n, {', '.join(params)}):\n"
               "    i = cuda.grid(1)\n"
               "    step = cuda.gridsize(1)\n"
               "    nd = len(shape)\n"
               "    while i < n:\n"
               "        r = i\n"
               "        po = oo\n"
               + "".join(f"        {o}\n" for o in offs) +
               "        for d in range(nd - 1, -1, -1):\n"
               "            m = shape[d]\n"
               "            k = r % m\n"
               "            r //= m\n"
               "            po += k * oe[d]" + "".join(ind + s for s in steps) + "\n"
               f"        ob[po] = {call}\n"
               "        i += step\n")
    ns = {"cuda": cuda, "fn": fn}
    exec(compile(src, f"<nnfast elementwise {pattern}{' flat' if flat else ''}>", "exec"), ns)
    k = _KERNELS[ck] = cuda.jit(ns["kern"])
    return k


def _collapse(shape, ests):
    """Drop size-1 dimensions and merge neighbours every operand walks contiguously."""
    dims = [(n, [e[d] for e in ests]) for d, n in enumerate(shape) if n != 1]
    if not dims:
        return (1,), [(1,) for _ in ests]
    merged = [dims[0]]
    for n, st in dims[1:]:
        pn, pst = merged[-1]
        if all(ps == s * n for ps, s in zip(pst, st)):
            merged[-1] = (pn * n, st)
        else:
            merged.append((n, st))
    shape = tuple(n for n, _ in merged)
    return shape, [tuple(st[j] for _, st in merged) for j in range(len(ests))]


def _launch_map(fn, out, operands):
    """out[...] = fn(*operands) elementwise: operands are CudaArrays (already of the loop
    dtypes, broadcastable to out.shape) or scalars."""
    n = out.size
    if n == 0:
        return out
    shape = out.shape
    pattern = ""
    flat = out.is_contiguous
    for x in operands:
        if isinstance(x, CudaArray):
            pattern += "a"
            if flat and (x.shape != shape or not x.is_contiguous):
                flat = False
        else:
            pattern += "s"
    if flat:            # same shape, all contiguous: no layout work at all
        args = [out._block.buf, out._off, n]
        for x in operands:
            if isinstance(x, CudaArray):
                args += [x._block.buf, x._off]
            else:
                args.append(x)
    else:
        arrays = [x for x in operands if isinstance(x, CudaArray)]
        ests = [tuple(out._est)] + [_strided.operand(a, shape)[2] for a in arrays]
        shape, ests = _collapse(shape, ests)
        flat = len(shape) == 1 and all(e[0] == 1 for e in ests)
        args = [out._block.buf, out._off] + ([n] if flat else [ests[0], shape, n])
        it = iter(ests[1:])
        for x in operands:
            if isinstance(x, CudaArray):
                e = next(it)
                args += [x._block.buf, x._off] if flat else [x._block.buf, x._off, e]
            else:
                args.append(x)
    threads = _launch.THREADS
    if _launch.SIM:   # each simulated thread costs milliseconds: no more than the work
        threads = max(1, min(threads, n))
    _kernel(fn, pattern, flat)[_launch.grid(n, threads)](*args)
    return out


# ---------------------------------------------------------------------- operands
def _is_weak(x):
    return type(x) in (int, float, bool)


def as_operand(x):
    """A CudaArray, a NumPy scalar, or a Python scalar (kept weak for dtype resolution)."""
    if isinstance(x, CudaArray) or _is_weak(x) or isinstance(x, np.generic):
        return x
    if isinstance(x, numbers.Number):
        return x
    arr = np.asarray(x)
    if arr.ndim == 0:
        return arr[()]
    return from_host(arr)


def check_dtype(dt, what):
    if dt.kind not in _OK_KINDS or dt == np.float16:
        raise missing(f"{what} on {dt} arrays")


def _dtype_arg(x):
    if isinstance(x, CudaArray):
        return x.dtype
    if type(x) is bool:     # not weak in NumPy 2: the bool dtype itself
        return np.dtype(np.bool_)
    if _is_weak(x):
        return type(x)
    return np.asarray(x).dtype


def _cast(x, dt):
    """Operand x as loop dtype dt: arrays are converted on the device, scalars on the host."""
    if isinstance(x, CudaArray):
        return x if x.dtype == dt else x.astype(dt)
    return dt.type(x)


def _same_layout(a, out):
    est = _strided.operand(a, out.shape)[2]
    return a._off == out._off and all(e == o for e, o, n in zip(est, out._est, out.shape)
                                      if n != 1)


def unalias(operands, out):
    """Copy any input that shares out's memory other than element for element (NumPy
    copies overlapping inputs too); `a += b` (same layout) needs no copy."""
    res = []
    for x in operands:
        if (isinstance(x, CudaArray) and out is not None and x._block is out._block
                and x.size and not _same_layout(x, out)):
            x = x.copy()
        res.append(x)
    return res


def _result_shape(operands, out):
    shapes = [x.shape for x in operands if isinstance(x, CudaArray)]
    if out is not None:
        shapes.append(out.shape)
    if not shapes:
        return ()
    if all(sh == shapes[0] for sh in shapes):
        return shapes[0]          # the common case, without broadcast_shapes' cost
    shape = np.broadcast_shapes(*shapes)
    if out is not None and shape != out.shape:
        raise ValueError(f"non-broadcastable output operand with shape {out.shape} doesn't "
                         f"match the broadcast shape {shape}")
    return shape


def _out_arg(out):
    if isinstance(out, tuple):
        if len(out) != 1:
            raise missing("ufuncs with more than one output")
        out = out[0]
    if out is not None and not isinstance(out, CudaArray):
        raise TypeError("out= of a CUDA elementwise op must be a CUDA array")
    return out


def apply(key, operands, loop_dts, res_dt, out=None, name=None):
    """Run elementwise op `key` (a ufunc or a SCALAR name) over operands cast to loop_dts,
    into `out` (checked: same_kind cast from res_dt) or a new array of res_dt."""
    name = name or getattr(key, "__name__", key)
    loop_dts = tuple(loop_dts)
    ck = (loop_dts, res_dt, None if out is None else out.dtype)
    if ck not in _CHECKED:
        for dt in loop_dts + (res_dt,):
            check_dtype(dt, f"numpy.{name}")
        if out is not None:
            check_dtype(out.dtype, f"numpy.{name}")
            if not np.can_cast(res_dt, out.dtype, "same_kind"):
                raise TypeError(f"Cannot cast ufunc '{name}' output from {res_dt!r} to "
                                f"{out.dtype!r} with casting rule 'same_kind'")
        _CHECKED.add(ck)
    shape = _result_shape(operands, out)
    ops = [_cast(x, dt) for x, dt in zip(operands, loop_dts)]
    if out is None:
        out = empty(shape, res_dt)
    else:
        ops = unalias(ops, out)
    _launch.record(f"numpy.{name}")
    return _launch_map(_device_fn(key, loop_dts), out, ops)


# ---------------------------------------------------------------------- ufuncs
def _ufunc_call(ufunc, inputs, kwargs):
    out = _out_arg(kwargs.pop("out", None))
    dtype = kwargs.pop("dtype", None)
    casting = kwargs.pop("casting", "same_kind")
    where = kwargs.pop("where", True)
    kwargs.pop("order", None)
    kwargs.pop("subok", None)
    sig = kwargs.pop("signature", None)
    if kwargs:
        raise TypeError(f"{ufunc.__name__}() got unexpected keyword arguments "
                        f"{sorted(kwargs)}")
    if where is not True:
        raise missing(f"numpy.{ufunc.__name__}(..., where=mask)")
    if casting not in ("same_kind", "unsafe", "safe", "no", "equiv"):
        raise ValueError(f"casting must be one of 'no', 'equiv', 'safe', 'same_kind', or "
                         f"'unsafe' (got {casting!r})")
    operands = [as_operand(x) for x in inputs]
    if sig is None and dtype is not None:
        sig = (None,) * ufunc.nin + (np.dtype(dtype),)
    elif isinstance(sig, (str, np.dtype, type)):
        sig = (None,) * ufunc.nin + (np.dtype(sig),)
    dts = tuple(_dtype_arg(x) for x in operands) + (None,)
    ck = (ufunc, dts, sig)
    loop = _LOOPS.get(ck)
    if loop is None:
        loop = ufunc.resolve_dtypes(dts, signature=sig) if sig is not None else \
            ufunc.resolve_dtypes(dts)
        _LOOPS[ck] = loop
    res_dt = loop[-1]
    if out is not None and casting == "unsafe":
        res_dt = out.dtype
    return apply(ufunc, operands, loop[:ufunc.nin], res_dt, out, ufunc.__name__)


def _ufunc_entry(ufunc):
    def entry(method, *inputs, **kwargs):
        if method == "__call__":
            return _ufunc_call(ufunc, inputs, kwargs)
        hook = HOOKS.get("ufunc_" + method)
        if hook is None:
            raise missing(f"numpy.{ufunc.__name__}.{method}")
        return hook(ufunc, *inputs, **kwargs)
    entry.__name__ = f"cuda_{ufunc.__name__}"
    return entry


UFUNC_NAMES = [k for k in SCALAR if isinstance(k, np.ufunc)]
for _u in UFUNC_NAMES:
    UFUNCS[_u] = _ufunc_entry(_u)

# ---------------------------------------------------------------------- PTX checks
PTX_CHECKS = []


def _ptx_entries():
    f32, i64 = np.float32, np.int64
    flat = ptx_entry

    def strided(key, dts, out_dt, nd, pattern):
        return ptx_entry(key, dts, out_dt, pattern, nd)

    return [
        flat(np.exp, (f32,), f32, "a"),
        flat(np.log1p, (f32,), f32, "a"),
        flat(np.tanh, (f32,), f32, "a"),
        flat(np.rint, (f32,), f32, "a"),
        flat(np.add, (f32, f32), f32, "aa"),
        flat(np.multiply, (f32, f32), f32, "as"),
        flat(np.power, (f32, f32), f32, "as"),
        flat(np.logaddexp, (f32, f32), f32, "aa"),
        flat(np.maximum, (f32, f32), f32, "as"),
        strided(np.add, (f32, f32), f32, 2, "aa"),
        strided(np.true_divide, (f32, f32), f32, 2, "aa"),
        strided(np.greater, (f32, f32), np.bool_, 2, "as"),
        flat(np.less_equal, (f32, f32), np.bool_, "aa"),
        flat(np.floor_divide, (i64, i64), i64, "aa"),
        flat(np.remainder, (i64, i64), i64, "as"),
        flat(np.floor_divide, (f32, f32), f32, "aa"),
        flat(np.right_shift, (i64, i64), i64, "aa"),
        flat(np.power, (i64, i64), i64, "aa"),
        flat(np.float_power, (np.float64, np.float64), np.float64, "aa"),
    ]


def ptx_entry(key, dts, out_dt, pattern, nd=None):
    """(kernel, signature) of op `key` over loop dtypes dts, for a family's PTX_CHECKS: the
    flat kernel, or the strided one over nd dimensions; 'a' array / 's' scalar operands."""
    from numba import types as t
    nb = {np.dtype(d): getattr(t, n) for d, n in ((np.float32, "float32"),
                                                 (np.float64, "float64"),
                                                 (np.int64, "int64"), (np.bool_, "boolean"))}
    dts = tuple(np.dtype(d) for d in dts)
    tup = None if nd is None else t.UniTuple(t.int64, nd)
    sig = [nb[np.dtype(out_dt)][::1], t.int64]
    sig += [t.int64] if nd is None else [tup, tup, t.int64]
    for p, d in zip(pattern, dts):
        if p == "s":
            sig.append(nb[d])
        else:
            sig += [nb[d][::1], t.int64] + ([] if nd is None else [tup])
    return (_kernel(_device_fn(key, dts), pattern, nd is None), tuple(sig))


PTX_CHECKS = _ptx_entries()
