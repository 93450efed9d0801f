"""Loss kernels of the CUDA table: value and gradient in one pass, the `_C` loss contract.

Same names, arguments and semantics as nnfast/_C_loss.pxi over csrc/loss.c (and `bad_label`
of nnfast/_C_step.pxi): flat contiguous float32 CudaArrays (int64 class labels), None for an
output or weight that is absent. Where _C returns the reduced loss as a Python float, these
return it as a 0-d float32 CudaArray, written on the device (no host sync); `bad_label` is
the exception: the functional raises on a bad label, so it returns a host int. The class
kernels do not re-check labels (the _C wrappers do, on the host): a label out of range that
reaches them gives a NaN loss and a NaN gradient row, never an out-of-bounds access.

Determinism: no float atomics. Every launch has a grid fixed by the problem size; each
thread sums its items in order, each block folds its threads in a fixed shared-memory tree
(float64, as the C accumulates in double) into one partial per block, and a one-block
`_finish` kernel folds the partials in a fixed tree (skipped when the grid is one block).
The divisor of a class-weighted mean (sum of weight[target] over kept positions) is its own
one-block reduction launched first (folded into the main kernel when that is one block).

Layouts: pointwise and BCE losses grid-stride over elements; class losses use one thread
per position (o, j) of the [outer, C, inner] layout, walking its C classes at stride inner
(coalesced across j), except cross entropy with inner == 1 and many classes, where one block
takes each row and its threads split the classes. NLL writes its whole gradient (zeros
included) element by element, so there is no separate zero fill.

Not here: kl_div, poisson_nll and the other losses of _functional_loss_extra.py (NumPy
there, built from the Tensor ops that the elementwise and reduce families provide).
"""
import math

import numpy as np
from numba import cuda, types

from . import _launch
from ._block import block_fold, block_sum, larger, smaller
from ._checks import need, need_all
from .array import CudaArray, empty, zeros

__all__ = ["pointwise_loss", "cross_entropy_loss", "nll_loss", "cross_entropy_prob_loss",
           "bce_loss", "bce_logits_loss", "bad_label"]

SIM = _launch.SIM
THREADS = _launch.THREADS          # threads per block (a power of two: the trees halve it)
# inner == 1 cross entropy takes a block per row from this many classes on (a thread per
# row leaves a block's threads idle-waiting on one long serial row)
ROW_MIN_C = 8 if SIM else 128
ROW_BLOCKS = 2 if SIM else 1024
LABEL_BLOCKS = 2 if SIM else 64
# Up to this many items (elements, positions) one block does all: one launch instead of
# three (divisor, kernel, _finish) for the small batches where launches are the cost
ONE_BLOCK_MAX = THREADS if SIM else 16 * THREADS

F0, F1, F2, FHALF = np.float32(0), np.float32(1), np.float32(2), np.float32(0.5)
FM100, F1EM12 = np.float32(-100), np.float32(1e-12)
NEG_INF32, NAN32 = np.float32(-np.inf), np.float32(np.nan)
NONE, MEAN, SUM = 0, 1, 2           # = NF_REDUCTION_* (csrc/nnfast.h)
_KINDS = ("mse", "l1", "huber", "smooth_l1", "bce", "bce_logits")

_cache = {}
_ABSENT = None


def _kernel_factory(make):
    """make(*params) -> kernel function; jitted once per parameter tuple (block sizes)."""
    def get(*params):
        key = (make.__name__,) + params
        k = _cache.get(key)
        if k is None:
            k = _cache[key] = cuda.jit(make(*params))
        return k
    get.__name__ = make.__name__
    return get


# ===================================================================== block trees

@cuda.jit(device=True, inline=True)
def _block_sum(sh, v):
    """Sum of v over all the block's threads (_block.py's tree); every thread gets it."""
    return block_sum(sh, v, cuda.threadIdx.x, cuda.blockDim.x)


@cuda.jit(device=True, inline=True)
def _block_max(sh, v):
    return block_fold(sh, v, cuda.threadIdx.x, cuda.blockDim.x, larger)


@cuda.jit(device=True, inline=True)
def _weight_sum(sh, target, w, npos, C, ignore):
    """sum over kept positions of weight[target] (their count without weight), by one block
    (csrc/loss.c target_weight_sum: the divisor of reduction='mean'). A label out of range
    (the caller's bad_label check skipped) adds NaN instead of reading out of bounds."""
    acc = 0.0
    i = cuda.threadIdx.x
    while i < npos:
        y = target[i]
        if y != ignore:
            if y < 0 or y >= C:
                acc += math.nan
            else:
                acc += np.float64(w[y]) if len(w) != 0 else 1.0
        i += cuda.blockDim.x
    return _block_sum(sh, acc)


@cuda.jit(device=True, inline=True)
def _class_weight_total(sh, w, C):
    """Wall = sum_c weight[c] (C without weight), by one block."""
    if len(w) == 0:
        return np.float64(C)
    acc = 0.0
    c = cuda.threadIdx.x
    while c < C:
        acc += np.float64(w[c])
        c += cuda.blockDim.x
    return _block_sum(sh, acc)


@cuda.jit(device=True, inline=True)
def _store(res, part, total, mul, div, W):
    """Thread 0: the block's partial, or, for a one-block grid, the finished value."""
    if cuda.threadIdx.x == 0:
        if cuda.gridDim.x == 1:
            res[0] = np.float32(total / W) if div else np.float32(total * mul)
        else:
            part[cuda.blockIdx.x] = total


@_kernel_factory
def _finish_kernel(threads):
    def finish(part, nparts, res, mul, stats, div):
        sh = cuda.shared.array(threads, types.float64)
        acc = 0.0
        i = cuda.threadIdx.x
        while i < nparts:
            acc += part[i]
            i += cuda.blockDim.x
        total = _block_sum(sh, acc)
        if cuda.threadIdx.x == 0:
            res[0] = np.float32(total / stats[0]) if div else np.float32(total * mul)
    return finish


@_kernel_factory
def _weight_sum_kernel(threads):
    def wsum(target, w, npos, C, ignore, stats):
        sh = cuda.shared.array(threads, types.float64)
        W = _weight_sum(sh, target, w, npos, C, ignore)
        if cuda.threadIdx.x == 0:
            stats[0] = W
    return wsum


# ===================================================================== pointwise and BCE

# Each returns (loss, dinput, dtarget) of one element, in csrc/loss.c's float32 arithmetic.
@cuda.jit(device=True, inline=True)
def _mse(x, y, w, q, has_q, p, scale):
    d = x - y
    g = (F2 * d) * w
    return (d * d) * w, scale * g, -scale * g


@cuda.jit(device=True, inline=True)
def _l1(x, y, w, q, has_q, p, scale):
    d = x - y
    g = (F1 if d > F0 else (-F1 if d < F0 else F0)) * w
    return abs(d) * w, scale * g, -scale * g


@cuda.jit(device=True, inline=True)
def _huber(x, y, w, q, has_q, p, scale):
    d = x - y
    a = abs(d)
    l = FHALF * d * d if a < p else p * (a - FHALF * p)
    g = (-p if d < -p else (p if d > p else d)) * w
    return l * w, scale * g, -scale * g


@cuda.jit(device=True, inline=True)
def _smooth_l1(x, y, w, q, has_q, p, scale):
    d = x - y
    a = abs(d)
    inv_p = F1 / p
    l = FHALF * d * d * inv_p if a < p else a - FHALF * p
    g = (-F1 if d <= -p else (F1 if d >= p else d * inv_p)) * w
    return l * w, scale * g, -scale * g


@cuda.jit(device=True, inline=True)
def _bce(x, y, w, q, has_q, p, scale):
    # log(0) = -inf clamps to -100; tested first, since the simulator's log raises at 0
    lx = max(math.log(x), FM100) if x > F0 else FM100
    l1x = max(math.log(F1 - x), FM100) if x < F1 else FM100
    l = -w * (y * lx + (F1 - y) * l1x)
    dx = scale * w * (x - y) / max((F1 - x) * x, F1EM12)
    return l, dx, scale * w * (l1x - lx)


@cuda.jit(device=True, inline=True)
def _bce_logits(x, y, w, q, has_q, p, scale):
    e = math.exp(-abs(x))
    sp = math.log1p(e)                  # log1p(exp(-|x|))
    ls = min(x, F0) - sp                # log_sigmoid(x)
    l = w * ((F1 - y) * x - (F1 + (q - F1) * y) * ls)
    sig = F1 / (F1 + e) if x >= F0 else e / (F1 + e)
    qy = q * y
    dx = scale * w * ((qy + F1 - y) * sig - qy)
    g = (min(-x, F0) - sp) - q * ls if has_q else -x
    return l, dx, scale * w * g


_ELEMENT_FNS = dict(zip(_KINDS, (_mse, _l1, _huber, _smooth_l1, _bce, _bce_logits)))


@_kernel_factory
def _elementwise_kernel(kind, threads):
    fn = _ELEMENT_FNS[kind]

    def elementwise(out, dinput, dtarget, x, y, w, wp, q, qp, n, scale, p, part, res,
                    mul):
        sh = cuda.shared.array(threads, types.float64)
        has_out, has_dx, has_dt = len(out) != 0, len(dinput) != 0, len(dtarget) != 0
        has_w, has_q = len(w) != 0, len(q) != 0
        acc = 0.0
        i = cuda.grid(1)
        while i < n:
            wi = F1
            if has_w:
                wi = w[i if wp == n else i % wp]
            qi = F1
            if has_q:
                qi = q[i if qp == n else i % qp]
            l, dx, dt = fn(x[i], y[i], wi, qi, has_q, p, scale)
            if has_out:
                out[i] = l
            if has_dx:
                dinput[i] = dx
            if has_dt:
                dtarget[i] = dt
            acc += np.float64(l)
            i += cuda.gridsize(1)
        total = _block_sum(sh, acc)
        _store(res, part, total, mul, False, 1.0)
    return elementwise


# ===================================================================== class losses

@_kernel_factory
def _ce_positions_kernel(threads):
    """Cross entropy, one thread per position (o, j); classes at stride inner."""
    def ce_positions(out, dinput, x, target, w, outer, C, inner, ignore, eps, mean,
                     stats, part, res):
        sh = cuda.shared.array(threads, types.float64)
        has_out, has_dx, has_w = len(out) != 0, len(dinput) != 0, len(w) != 0
        npos = outer * inner
        W = 1.0
        if mean:
            W = _weight_sum(sh, target, w, npos, C, ignore) if cuda.gridDim.x == 1 \
                else stats[0]
        scale = 1.0 / W
        wall = _class_weight_total(sh, w, C)
        b = eps / C
        bs = np.float32(scale * b)
        acc = 0.0
        pos = cuda.grid(1)
        while pos < npos:
            o = pos // inner
            base = o * C * inner + (pos - o * inner)
            y = target[pos]
            if y == ignore or y < 0 or y >= C:   # ignored: 0; out of range: NaN
                fill = F0 if y == ignore else NAN32
                acc += np.float64(fill)
                if has_out:
                    out[pos] = fill
                if has_dx:
                    for c in range(C):
                        dinput[base + c * inner] = fill
                pos += cuda.gridsize(1)
                continue
            m = NEG_INF32
            for c in range(C):
                m = max(m, x[base + c * inner])
            s = 0.0
            sx = 0.0
            for c in range(C):
                v = x[base + c * inner]
                s += np.float64(math.exp(v - m))
                if eps != 0.0:
                    sx += (np.float64(w[c]) if has_w else 1.0) * np.float64(v)
            lse = np.float64(m) + math.log(s)
            wy = np.float64(w[y]) if has_w else 1.0
            loss = (1.0 - eps) * wy * (lse - np.float64(x[base + y * inner])) + \
                b * (wall * lse - sx)
            if has_out:
                out[pos] = np.float32(loss)
            acc += loss
            if has_dx:
                a = np.float32(scale * ((1.0 - eps) * wy + b * wall))
                inv_s = np.float32(1.0 / s)
                hit = np.float32(scale * (1.0 - eps) * wy)
                for c in range(C):
                    p = np.float32(math.exp(x[base + c * inner] - m)) * inv_s
                    g = a * p - bs * (w[c] if has_w else F1)
                    if c == y:
                        g -= hit
                    dinput[base + c * inner] = g
            pos += cuda.gridsize(1)
        total = _block_sum(sh, acc)
        _store(res, part, total, 1.0, mean, W)
    return ce_positions


@_kernel_factory
def _ce_rows_kernel(threads):
    """Cross entropy with inner == 1: one block per row, its threads split the C logits."""
    def ce_rows(out, dinput, x, target, w, outer, C, inner, ignore, eps, mean, stats,
                part, res):
        sh = cuda.shared.array(threads, types.float64)
        shf = cuda.shared.array(threads, types.float32)
        has_out, has_dx, has_w = len(out) != 0, len(dinput) != 0, len(w) != 0
        t = cuda.threadIdx.x
        W = 1.0
        if mean:
            W = _weight_sum(sh, target, w, outer, C, ignore) if cuda.gridDim.x == 1 \
                else stats[0]
        scale = 1.0 / W
        wall = _class_weight_total(sh, w, C)
        b = eps / C
        bs = np.float32(scale * b)
        acc = 0.0                    # thread 0's running sum over this block's rows
        row = cuda.blockIdx.x
        while row < outer:           # the same trip count for every thread of the block
            base = row * C
            y = target[row]
            if y == ignore or y < 0 or y >= C:   # ignored: 0; out of range: NaN
                fill = F0 if y == ignore else NAN32
                if t == 0:
                    acc += np.float64(fill)
                    if has_out:
                        out[row] = fill
                if has_dx:
                    c = t
                    while c < C:
                        dinput[base + c] = fill
                        c += cuda.blockDim.x
                row += cuda.gridDim.x
                continue
            m = NEG_INF32
            c = t
            while c < C:
                m = max(m, x[base + c])
                c += cuda.blockDim.x
            m = _block_max(shf, m)
            s = 0.0
            sx = 0.0
            c = t
            while c < C:
                v = x[base + c]
                s += np.float64(math.exp(v - m))
                if eps != 0.0:
                    sx += (np.float64(w[c]) if has_w else 1.0) * np.float64(v)
                c += cuda.blockDim.x
            s = _block_sum(sh, s)
            if eps != 0.0:
                sx = _block_sum(sh, sx)
            lse = np.float64(m) + math.log(s)
            wy = np.float64(w[y]) if has_w else 1.0
            if t == 0:
                loss = (1.0 - eps) * wy * (lse - np.float64(x[base + y])) + \
                    b * (wall * lse - sx)
                if has_out:
                    out[row] = np.float32(loss)
                acc += loss
            if has_dx:
                a = np.float32(scale * ((1.0 - eps) * wy + b * wall))
                inv_s = np.float32(1.0 / s)
                hit = np.float32(scale * (1.0 - eps) * wy)
                c = t
                while c < C:
                    p = np.float32(math.exp(x[base + c] - m)) * inv_s
                    g = a * p - bs * (w[c] if has_w else F1)
                    if c == y:
                        g -= hit
                    dinput[base + c] = g
                    c += cuda.blockDim.x
            row += cuda.gridDim.x
        total = _block_sum(sh, acc)      # only thread 0's term is non-zero
        _store(res, part, total, 1.0, mean, W)
    return ce_rows


@_kernel_factory
def _nll_kernel(threads):
    """NLL on log-probabilities: the gradient element-wise over [outer, C, inner] (zero off
    the target class), then the loss per position."""
    def nll(out, dinput, x, target, w, outer, C, inner, ignore, mean, stats, part, res):
        sh = cuda.shared.array(threads, types.float64)
        has_out, has_dx, has_w = len(out) != 0, len(dinput) != 0, len(w) != 0
        npos = outer * inner
        W = 1.0
        if mean:
            W = _weight_sum(sh, target, w, npos, C, ignore) if cuda.gridDim.x == 1 \
                else stats[0]
        scale = 1.0 / W
        if has_dx:
            k = cuda.grid(1)
            slab = C * inner
            while k < npos * C:
                o = k // slab
                r = k - o * slab
                c = r // inner
                y = target[o * inner + (r - c * inner)]
                g = F0
                if y == c and y != ignore:
                    g = np.float32(-np.float64(w[y] if has_w else F1) * scale)
                dinput[k] = g
                k += cuda.gridsize(1)
        acc = 0.0
        pos = cuda.grid(1)
        while pos < npos:
            y = target[pos]
            l = F0
            if y != ignore and (y < 0 or y >= C):
                l = NAN32
            elif y != ignore:
                o = pos // inner
                wy = w[y] if has_w else F1
                l = -wy * x[(o * C + y) * inner + (pos - o * inner)]
            if has_out:
                out[pos] = l
            acc += np.float64(l)
            pos += cuda.gridsize(1)
        total = _block_sum(sh, acc)
        _store(res, part, total, 1.0, mean, W)
    return nll


@_kernel_factory
def _ce_prob_kernel(threads):
    """Cross entropy with class-probability targets, one thread per position."""
    def ce_prob(out, dinput, dtarget, x, t, w, outer, C, inner, eps, scale, part, res):
        sh = cuda.shared.array(threads, types.float64)
        has_out, has_dx, has_dt = len(out) != 0, len(dinput) != 0, len(dtarget) != 0
        has_w = len(w) != 0
        npos = outer * inner
        b = eps / C
        fscale = np.float32(scale)
        acc = 0.0
        pos = cuda.grid(1)
        while pos < npos:
            o = pos // inner
            base = o * C * inner + (pos - o * inner)
            m = NEG_INF32
            for c in range(C):
                m = max(m, x[base + c * inner])
            s = 0.0
            for c in range(C):
                s += np.float64(math.exp(x[base + c * inner] - m))
            lse = np.float64(m) + math.log(s)
            l = 0.0
            wt_sum = 0.0
            for c in range(C):
                k = base + c * inner
                wt = (np.float64(w[c]) if has_w else 1.0) * \
                    ((1.0 - eps) * np.float64(t[k]) + b)
                l -= wt * (np.float64(x[k]) - lse)
                wt_sum += wt
            if has_out:
                out[pos] = np.float32(l)
            acc += l
            if has_dx:
                inv_s = np.float32(1.0 / s)
                a = np.float32(scale * wt_sum)
                for c in range(C):
                    k = base + c * inner
                    tc = np.float32((1.0 - eps) * np.float64(t[k]) + b)
                    wc = w[c] if has_w else F1
                    dinput[k] = a * np.float32(math.exp(x[k] - m)) * inv_s - \
                        fscale * wc * tc
            if has_dt:
                for c in range(C):
                    k = base + c * inner
                    wc = np.float64(w[c]) if has_w else 1.0
                    dtarget[k] = np.float32(-scale * (1.0 - eps) * wc *
                                            (np.float64(x[k]) - lse))
            pos += cuda.gridsize(1)
        total = _block_sum(sh, acc)
        _store(res, part, total, scale, False, 1.0)
    return ce_prob


@_kernel_factory
def _bad_label_kernel(threads):
    """Per block, the smallest index of a label outside [0, C) and != ignore (n if none)."""
    def bad_label_k(target, n, C, ignore, part):
        sh = cuda.shared.array(threads, types.int64)
        t = cuda.threadIdx.x
        first = n
        i = cuda.grid(1)
        while i < n:              # increasing i: the thread's first hit is its smallest
            y = target[i]
            if (y < 0 or y >= C) and y != ignore:
                first = i
                break
            i += cuda.gridsize(1)
        first = block_fold(sh, first, t, cuda.blockDim.x, smaller)
        if t == 0:
            part[cuda.blockIdx.x] = first
    return bad_label_k


# ===================================================================== host side

def _absent_arrays():
    """The stand-ins for a None array: 0-element device arrays (kernels test the length),
    made on first use (a CUDA context must exist); one tuple, so racing threads each get
    a consistent pair."""
    global _ABSENT
    if _ABSENT is None:
        _ABSENT = (cuda.device_array(0, np.float32), cuda.device_array(0, np.float64))
    return _ABSENT


def _absent_f32():
    return _absent_arrays()[0]


def _absent_f64():
    return _absent_arrays()[1]


def _flat(a, n, who, what, dtype=np.float32, period=False):
    """The Numba view of an optional contiguous CudaArray of n elements (or, with period, of
    a size that divides n), checked as the _C wrappers check theirs; None -> 0 elements."""
    if a is None:
        return _absent_f32()
    if not isinstance(a, CudaArray):
        raise TypeError(f"{who}: {what} must be a CUDA array, got {type(a).__name__}")
    if a.dtype != dtype:
        raise ValueError(f"{who}: {what} has dtype {a.dtype}, expected {np.dtype(dtype)}")
    if not a.is_contiguous:
        raise ValueError(f"{who}: {what} must be contiguous")
    if period:
        if a.size == 0 or n % a.size != 0:
            raise ValueError(f"{who}: {what} of {a.size} elements does not tile {n}")
    elif a.size != n:
        raise ValueError(f"{who}: {what} has {a.size} elements, expected {n}")
    return a.flat


class _Scratch:
    """float64 scratch of a call (per-block partials, the mean's divisor), held until the
    call's last launch is queued: a pooled block freed earlier could be handed to the next
    scratch of the same call (later calls are ordered after these launches on the stream)."""

    def __init__(self, blocks, mean_divisor):
        self.part_arr = empty(blocks, np.float64) if blocks > 1 else None
        self.stats_arr = empty(1, np.float64) if mean_divisor else None
        self.part = self.part_arr.flat if blocks > 1 else _absent_f64()
        self.stats = self.stats_arr.flat if mean_divisor else _absent_f64()


def _grid(n):
    """(blocks, threads) of a grid-stride loss kernel over n items."""
    return (1, THREADS) if n <= ONE_BLOCK_MAX else _launch.grid(n)


def _finished(scratch, blocks, res, mul, div):
    """Fold a multi-block kernel's partials into res (a one-block grid wrote res itself)."""
    if blocks > 1:
        _finish_kernel(THREADS)[1, THREADS](scratch.part, blocks, res.flat, float(mul),
                                            scratch.stats, int(div))
    return res


def _elementwise(kind, who, out, dinput, dtarget, input, target, weight, wperiod, pos_weight,
                 qperiod, scale, param):
    n = input.size
    x = _flat(input, n, who, "input")
    y = _flat(target, n, who, "target")
    o = _flat(out, n, who, "out")
    dx = _flat(dinput, n, who, "dinput")
    dt = _flat(dtarget, n, who, "dtarget")
    if n == 0:
        return zeros((), np.float32)
    w = _flat(weight, n, who, "weight", period=wperiod)
    q = _flat(pos_weight, n, who, "pos_weight", period=True)
    wp = weight.size if weight is not None else 1
    qp = pos_weight.size if pos_weight is not None else 1
    blocks, threads = _grid(n)
    scratch = _Scratch(blocks, False)
    res = empty((), np.float32)
    scale32 = np.float32(scale)
    _elementwise_kernel(kind, threads)[blocks, threads](
        o, dx, dt, x, y, w, wp, q, qp, n, scale32, np.float32(param), scratch.part,
        res.flat, float(scale32))
    return _finished(scratch, blocks, res, float(scale32), False)


_POINTWISE_KINDS = ("mse", "l1", "huber", "smooth_l1")


def pointwise_loss(kind, out, dinput, dtarget, input, target, weight, scale, param=1.0):
    """MSE / L1 / Huber(param=delta) / SmoothL1(param=beta) over flat arrays; returns the
    reduced value scale * sum(w * loss) as a 0-d float32 CudaArray."""
    if kind not in _POINTWISE_KINDS:
        raise KeyError(kind)
    need_all("pointwise_loss", dtype=None, input=input, target=target)
    if target.size != input.size:
        raise ValueError(f"pointwise_loss: input has {input.size} elements, target "
                         f"{target.size}")
    if kind == "smooth_l1" and weight is not None:
        raise ValueError("pointwise_loss: smooth_l1 takes no weight")
    return _elementwise(kind, "pointwise_loss", out, dinput, dtarget, input, target, weight,
                        False, None, 1, scale, param)


def bce_loss(out, dinput, dtarget, input, target, weight, scale):
    """BCE on probabilities; weight (or None) repeats with period len(weight)."""
    need_all("bce_loss", dtype=None, input=input, target=target)
    if target.size != input.size:
        raise ValueError(f"bce_loss: input has {input.size} elements, target {target.size}")
    return _elementwise("bce", "bce_loss", out, dinput, dtarget, input, target, weight, True,
                        None, 1, scale, 1.0)


def bce_logits_loss(out, dinput, dtarget, input, target, weight, pos_weight, scale):
    """BCE with logits; weight and pos_weight (or None) repeat with their own periods."""
    need_all("bce_logits_loss", dtype=None, input=input, target=target)
    if target.size != input.size:
        raise ValueError(f"bce_logits_loss: input has {input.size} elements, target "
                         f"{target.size}")
    return _elementwise("bce_logits", "bce_logits_loss", out, dinput, dtarget, input, target,
                        weight, True, pos_weight, 1, scale, 1.0)


def _class_operands(who, out, dinput, input, target, weight, outer, C, inner, tdtype):
    need(who, "input", input, None)      # dtypes: _flat's messages, below
    need(who, "target", target, None)
    if outer < 0 or inner < 0:
        raise ValueError(f"{who}: negative size outer={outer} inner={inner}")
    npos = outer * inner
    tsize = npos if tdtype == np.int64 else npos * C
    if input.size != npos * C or target.size != tsize or C < 1:
        raise ValueError(f"{who}: input {input.size}, target {target.size} for outer={outer} "
                         f"C={C} inner={inner}")
    return (npos, _flat(out, npos, who, "out"), _flat(dinput, npos * C, who, "dinput"),
            _flat(input, npos * C, who, "input"), _flat(target, tsize, who, "target", tdtype),
            _flat(weight, C, who, "weight"))


def _class_scratch(mean, blocks, t, w, npos, C, ignore_index):
    """Scratch of a class loss; for a mean over more than one block, the divisor is reduced
    first by one block (a one-block kernel reduces it itself)."""
    scratch = _Scratch(blocks, mean and blocks > 1)
    if mean and blocks > 1:
        _weight_sum_kernel(THREADS)[1, THREADS](t, w, npos, C, int(ignore_index),
                                                scratch.stats)
    return scratch


def cross_entropy_loss(out, dinput, input, target, weight, outer, C, inner, ignore_index,
                       reduction, label_smoothing):
    """Fused log-softmax + NLL over input[outer*C*inner] (layout [outer, C, inner]),
    target[outer*inner] class indices (validated by the caller with bad_label: a label out
    of range here gives a NaN loss, never an out-of-bounds read)."""
    who = "cross_entropy_loss"
    npos, o, dx, x, t, w = _class_operands(who, out, dinput, input, target, weight, outer, C,
                                           inner, np.int64)
    if npos == 0:
        return zeros((), np.float32)
    mean = int(reduction == MEAN)
    eps = float(np.float32(label_smoothing))
    if inner == 1 and C >= ROW_MIN_C:
        kernel, blocks, threads = _ce_rows_kernel(THREADS), min(outer, ROW_BLOCKS), THREADS
    else:
        blocks, threads = _grid(npos)
        kernel = _ce_positions_kernel(threads)
    scratch = _class_scratch(mean, blocks, t, w, npos, C, ignore_index)
    res = empty((), np.float32)
    kernel[blocks, threads](o, dx, x, t, w, outer, C, inner, int(ignore_index), eps, mean,
                            scratch.stats, scratch.part, res.flat)
    return _finished(scratch, blocks, res, 1.0, mean)


def nll_loss(out, dinput, input, target, weight, outer, C, inner, ignore_index, reduction):
    """NLL on log-probabilities, same layout as cross_entropy_loss."""
    who = "nll_loss"
    npos, o, dx, x, t, w = _class_operands(who, out, dinput, input, target, weight, outer, C,
                                           inner, np.int64)
    if npos == 0:
        return zeros((), np.float32)
    mean = int(reduction == MEAN)
    blocks, threads = _grid(npos * C if dinput is not None else npos)
    scratch = _class_scratch(mean, blocks, t, w, npos, C, ignore_index)
    res = empty((), np.float32)
    _nll_kernel(threads)[blocks, threads](o, dx, x, t, w, outer, C, inner, int(ignore_index),
                                          mean, scratch.stats, scratch.part, res.flat)
    return _finished(scratch, blocks, res, 1.0, mean)


def cross_entropy_prob_loss(out, dinput, dtarget, input, target, weight, outer, C, inner,
                            reduction, label_smoothing):
    """Cross entropy with class-probability targets, layout [outer, C, inner]; a mean
    divides by the number of positions (as ATen)."""
    who = "cross_entropy_prob_loss"
    npos, o, dx, x, t, w = _class_operands(who, out, dinput, input, target, weight, outer, C,
                                           inner, np.float32)
    dt = _flat(dtarget, npos * C, who, "dtarget")
    if npos == 0:
        return zeros((), np.float32)
    scale = 1.0 / npos if reduction == MEAN else 1.0
    eps = float(np.float32(label_smoothing))
    blocks, threads = _grid(npos)
    scratch = _Scratch(blocks, False)
    res = empty((), np.float32)
    _ce_prob_kernel(threads)[blocks, threads](o, dx, dt, x, t, w, outer, C, inner, eps, scale,
                                              scratch.part, res.flat)
    return _finished(scratch, blocks, res, scale, False)


def bad_label(target, C, ignore_index):
    """Index of the first label of int64 target outside [0, C) and != ignore_index, or -1.
    A host int (it waits for the device): the functional raises on a bad label."""
    need("bad_label", "target", target, None)
    n = target.size
    if n == 0:
        return -1
    t = _flat(target, n, "bad_label", "target", np.int64)
    threads = THREADS
    blocks = min(LABEL_BLOCKS, (n + threads - 1) // threads)
    part = empty(blocks, np.int64)
    _bad_label_kernel(threads)[blocks, threads](t, n, int(C), int(ignore_index), part.flat)
    first = int(part.get().min())
    return -1 if first >= n else first


# ===================================================================== PTX checks

def _ptx_checks():
    """Every production kernel with the argument types the wrappers launch it with."""
    f32, f64, i64 = types.Array(types.float32, 1, "C"), types.Array(types.float64, 1, "C"), \
        types.Array(types.int64, 1, "C")
    n, s32, s64 = types.int64, types.float32, types.float64
    checks = [(_elementwise_kernel(kind, THREADS),
               (f32, f32, f32, f32, f32, f32, n, f32, n, n, s32, s32, f64, f32, s64))
              for kind in _KINDS]
    class_sig = (f32, f32, f32, i64, f32, n, n, n, n, s64, n, f64, f64, f32)
    checks += [
        (_finish_kernel(THREADS), (f64, n, f32, s64, f64, n)),
        (_weight_sum_kernel(THREADS), (i64, f32, n, n, n, f64)),
        (_ce_positions_kernel(THREADS), class_sig),
        (_ce_rows_kernel(THREADS), class_sig),
        (_nll_kernel(THREADS), (f32, f32, f32, i64, f32, n, n, n, n, n, f64, f64, f32)),
        (_ce_prob_kernel(THREADS), (f32, f32, f32, f32, f32, f32, n, n, n, s64, s64, f64,
                                    f32)),
        (_bad_label_kernel(THREADS), (i64, n, n, n, i64)),
    ]
    return checks


PTX_CHECKS = _ptx_checks()
