"""Embedding on the GPU: the row gather and its deterministic scatter-add backward.

Same names and arguments as nnfast._C (nnfast/_C_rnn.pxi, csrc/rnn.c):
  embedding_forward(out[N, D], weight[V, D], idx[N])
  embedding_backward(dweight[V, D], dout[N, D], idx[N], scale[V] or None, padding_idx)
with idx int64 (or int32) on the device; a host ndarray of indices is accepted too (copied up,
and range-checked on the host as the C does, IndexError).

The backward is C's loop `for n: dweight[idx[n]] += scale[idx[n]] * dout[n]` (padding_idx
skipped), which sums each row's contributions in index order. Float atomics would sum them
in whatever order threads arrive, so instead the indices are grouped by row first, with
integer work only (deterministic whatever the timing):
  1. count   counts[k] = occurrences of row k          (integer atomics: an exact sum)
  2. scan    offsets = exclusive prefix sum of counts  (one block, fixed order)
  3. fill    order[offsets[k] + slot] = n              (slot from an integer atomic: any order)
  4. sort    each row's segment of order ascending     (so the order is n's order again)
  5. sum     one thread per (row, column) adds its row's dout rows in index order
Step 5 rounds the product before the add (never fused), as the C does, so dweight equals the
C's bit for bit.

Indices on the device are not range-checked (that would need a host sync): the kernels never
touch memory out of bounds; an out-of-range index gives a NaN row forward and is skipped
backward. The functional checks indices where they are on the host.
"""
import numpy as np
from numba import cuda, float32, int32, int64

from . import _launch
from ._checks import no_overlap
from .array import CudaArray, empty, from_host, zeros
from .optim import _add, _mul

__all__ = ["embedding_forward", "embedding_backward"]

NAN = np.float32(np.nan)
ONE = np.float32(1.0)
SCAN_THREADS = 16 if _launch.SIM else 1024


@cuda.jit
def _gather_kernel(out, weight, idx, N, D, V):
    e = cuda.grid(1)
    step = cuda.gridsize(1)
    total = N * D
    while e < total:
        n = e // D
        j = e - n * D
        k = idx[n]
        out[e] = weight[k * D + j] if 0 <= k < V else NAN
        e += step


@cuda.jit
def _count_kernel(idx, N, V, padding_idx, counts):
    n = cuda.grid(1)
    step = cuda.gridsize(1)
    while n < N:
        k = idx[n]
        if 0 <= k < V and k != padding_idx:
            cuda.atomic.add(counts, k, 1)
        n += step


_scans = {}


def _scan_kernel(threads):
    """One block: offsets[0:V+1] = exclusive prefix sums of counts[0:V], `threads` at a time
    (a Hillis-Steele scan in shared memory per chunk, the running total carried between)."""
    k = _scans.get(threads)
    if k is not None:
        return k

    def scan(counts, V, offsets):
        sh = cuda.shared.array(threads, int32)
        t = cuda.threadIdx.x
        carry = 0
        base = 0
        while base < V:
            i = base + t
            v = counts[i] if i < V else 0
            sh[t] = v
            cuda.syncthreads()
            d = 1
            while d < threads:
                left = sh[t - d] if t >= d else 0
                cuda.syncthreads()
                sh[t] += left
                cuda.syncthreads()
                d *= 2
            if i < V:
                offsets[i] = carry + sh[t] - v
            carry += sh[threads - 1]
            cuda.syncthreads()      # everyone has read sh before the next chunk writes it
            base += threads
        if t == 0:
            offsets[V] = carry

    k = _scans[threads] = cuda.jit(scan)
    return k


@cuda.jit
def _fill_kernel(idx, N, V, padding_idx, offsets, cursor, order):
    n = cuda.grid(1)
    step = cuda.gridsize(1)
    while n < N:
        k = idx[n]
        if 0 <= k < V and k != padding_idx:
            slot = cuda.atomic.add(cursor, k, 1)
            order[offsets[k] + slot] = n
        n += step


@cuda.jit
def _sort_segments_kernel(offsets, V, order):
    # one thread per row: Shell sort (Knuth's gaps) of its segment; rows are mostly short,
    # a frequent one costs O(L^1.5), not the O(L^2) of insertion sort
    k = cuda.grid(1)
    step = cuda.gridsize(1)
    while k < V:
        lo = offsets[k]
        hi = offsets[k + 1]
        length = hi - lo
        if length > 1:
            gap = 1
            while gap < length // 3:
                gap = 3 * gap + 1
            while gap >= 1:
                a = lo + gap
                while a < hi:
                    v = order[a]
                    b = a
                    while b - gap >= lo and order[b - gap] > v:
                        order[b] = order[b - gap]
                        b -= gap
                    order[b] = v
                    a += 1
                gap //= 3
        k += step


@cuda.jit
def _accumulate_kernel(dweight, dout, order, offsets, scale, has_scale, V, D):
    e = cuda.grid(1)
    step = cuda.gridsize(1)
    total = V * D
    while e < total:
        k = e // D
        j = e - k * D
        lo = offsets[k]
        hi = offsets[k + 1]
        if lo < hi:
            s = scale[k] if has_scale else ONE
            acc = dweight[e]
            for t in range(lo, hi):
                acc = _add(acc, _mul(s, dout[order[t] * D + j]))
            dweight[e] = acc
        e += step


# ===================================================================== the table
def _matrix(a, name, who):
    if not isinstance(a, CudaArray):
        raise TypeError(f"{who}: {name} must be a CUDA array, got {type(a).__name__}")
    if a.dtype != np.float32 or a.ndim != 2 or not a.is_contiguous:
        raise ValueError(f"{who}: {name} must be a contiguous 2-D float32 array, got "
                         f"{a.dtype} {a.shape}")
    return a


def _indices(idx, V, who):
    """idx as a 1-D int device array; host indices are range-checked here (as the C does)."""
    if not isinstance(idx, CudaArray):
        idx = np.ascontiguousarray(idx)
        if idx.ndim != 1 or idx.dtype not in (np.int64, np.int32):
            raise ValueError(f"{who}: idx must be 1-D int64, got {idx.dtype} {idx.shape}")
        bad = np.flatnonzero((idx < 0) | (idx >= V))
        if bad.size:
            raise IndexError(f"{who}: idx: index {idx[bad[0]]} is out of range for {V} rows")
        idx = from_host(idx)
    if idx.ndim != 1 or idx.dtype not in (np.int64, np.int32) or not idx.is_contiguous:
        raise ValueError(f"{who}: idx must be 1-D int64, got {idx.dtype} {idx.shape}")
    return idx


def embedding_forward(out, weight, idx):
    """out[N, D] = weight[idx] (an out-of-range device index gives a NaN row)."""
    who = "embedding_forward"
    _matrix(out, "out", who)
    _matrix(weight, "weight", who)
    V, D = weight.shape
    idx = _indices(idx, V, who)
    no_overlap(who, {"out": out}, {"weight": weight, "idx": idx})
    N = idx.size
    if out.shape != (N, D):
        raise ValueError(f"{who}: out {out.shape}, expected ({N}, {D})")
    if N == 0 or D == 0:
        return
    _gather_kernel[_launch.grid(N * D)](out.flat, weight.flat, idx.flat, N, D, V)


def embedding_backward(dweight, dout, idx, scale, padding_idx):
    """dweight[idx[n]] += scale[idx[n]] * dout[n], skipping padding_idx (-1 for none), in
    index order per row (deterministic, equal to the C)."""
    who = "embedding_backward"
    _matrix(dweight, "dweight", who)
    _matrix(dout, "dout", who)
    V, D = dweight.shape
    idx = _indices(idx, V, who)
    N = idx.size
    if dout.shape != (N, D):
        raise ValueError(f"{who}: dout {dout.shape}, expected ({N}, {D})")
    if scale is not None:
        if not isinstance(scale, CudaArray):
            scale = from_host(np.asarray(scale, np.float32))
        if scale.dtype != np.float32 or scale.size != V or not scale.is_contiguous:
            raise ValueError(f"{who}: scale must have one float32 entry per embedding")
    no_overlap(who, {"dweight": dweight}, {"dout": dout, "idx": idx, "scale": scale})
    if N == 0 or D == 0 or V == 0:
        return
    pad = int(padding_idx)
    ix = idx.flat
    # scratch, held as CudaArrays until the launches are queued (a dropped one's block goes
    # back to the pool at once, and a later allocation here would alias it)
    ints = zeros((2 * V,), np.int32)            # counts, then the fill cursors
    offsets_a = empty((V + 1,), np.int32)       # the scan writes every entry
    order_a = empty((N,), np.int32)             # the fill writes every counted one
    counts, cursor = ints.flat[:V], ints.flat[V:]
    offsets, order = offsets_a.flat, order_a.flat
    grid_n = _launch.grid(N)
    _count_kernel[grid_n](ix, N, V, pad, counts)
    _scan_kernel(SCAN_THREADS)[1, SCAN_THREADS](counts, V, offsets)
    _fill_kernel[grid_n](ix, N, V, pad, offsets, cursor, order)
    _sort_segments_kernel[_launch.grid(V)](offsets, V, order)
    sc = dweight.flat if scale is None else scale.flat
    _accumulate_kernel[_launch.grid(V * D)](dweight.flat, dout.flat, order, offsets, sc,
                                            np.int32(scale is not None), V, D)


# ===================================================================== PTX checks
_A, _I32, _I64 = float32[::1], int32[::1], int64
PTX_CHECKS = [
    (_gather_kernel, (_A, _A, int64[::1], _I64, _I64, _I64)),
    (_count_kernel, (int64[::1], _I64, _I64, _I64, _I32)),
    (_scan_kernel(SCAN_THREADS), (_I32, _I64, _I32)),
    (_fill_kernel, (int64[::1], _I64, _I64, _I64, _I32, _I32, _I32)),
    (_sort_segments_kernel, (_I32, _I64, _I32)),
    (_accumulate_kernel, (_A, _A, _I32, _I32, _A, int32, _I64, _I64)),
]
