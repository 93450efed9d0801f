"""BatchNorm, LayerNorm and (from norm_group.py) GroupNorm on the GPU: the `_C` norm kernels
(csrc/norm.c, csrc/norm_group.c) with the same names, arguments and numbers.

What it is: every statistic is a reduction over a "row" of values — a BatchNorm channel
(N runs of S values, stride C*S apart), a LayerNorm row (D contiguous values) or a GroupNorm
(sample, group) row (Cg*S contiguous values). One block owns a row and reduces it with a
fixed shared-memory tree (_norm_rows.py), in double as the C does (sums and the two-pass
variance), so the result does not depend on timing. Where rows are few and long (BatchNorm
over a handful of channels, LayerNorm's parameter gradients over many rows), the row is cut
into chunks: blocks write double partials to a scratch array and a second kernel adds them
in chunk order, still deterministic. (N, C) BatchNorm input, whose channels are adjacent in
memory, runs on blocks that own adjacent channels. Per-element work is float32 in the C's
formula order.

What it is not: strided input (callers pass contiguous float32), float64 (the NumPy
reference in nnfast/nn/_functional_norm.py), accumulation into gradient buffers (the C
overwrites dweight/dbias; so does this). `reference=True` of the BatchNorm kernels selects
the C's plain per-channel path; the paths here all sum in double, so it changes nothing.
NVVM may contract a*b+c into an FMA, so a result can differ from the C in its last bit.
"""
import math

import numpy as np
from numba import cuda, float32, float64, int64

from . import _launch
from ._norm_rows import (F0, F1, NT, SIM, _at, _block_sum, _blocks, _dsums_range, _fill_f32,
                         _flat, _opt, _sizes, _sqdev_range, _sum_range)
from .array import empty
from .norm_group import PTX_CHECKS as _GROUP_PTX_CHECKS
from .norm_group import group_norm_backward, group_norm_forward

__all__ = ["batch_norm_stats", "batch_norm_apply", "batch_norm_backward",
           "layer_norm_forward", "layer_norm_backward", "group_norm_forward",
           "group_norm_backward"]

TARGET_BLOCKS = 2 if SIM else 264      # rows fewer than this are cut into chunks ...
CHUNK_MIN = 4 if SIM else 8192         # ... of at least this many values
MAX_CHUNKS = 4 if SIM else 256
CW = 4 if SIM else 32                  # S == 1 BatchNorm: channels a block owns (adjacent) ...
RW = NT // CW                          # ... and the row-threads that split N


@cuda.jit(device=True, inline=True)
def _bn_finish(mean, invstd, rmean, has_rm, rvar, has_rv, c, m, sq, n, momentum, eps):
    """norm.c bn_finish: saved stats and the running-stat update, in double."""
    mean[c] = float32(m)
    invstd[c] = float32(1.0 / math.sqrt(sq / n + eps))
    if has_rm:
        rmean[c] = float32(momentum * m + (1.0 - momentum) * float64(rmean[c]))
    if has_rv and n > 1:
        rvar[c] = float32(momentum * (sq / (n - 1)) + (1.0 - momentum) * float64(rvar[c]))


# ---------------------------------------------------------------------- BatchNorm kernels
@cuda.jit
def _bn_stats_rows(mean, invstd, rmean, has_rm, rvar, has_rv, x, C, S, n, momentum, eps):
    """One block per channel: the two-pass moments and bn_finish."""
    sh = cuda.shared.array(NT, float64)
    tid = cuda.threadIdx.x
    for c in range(cuda.blockIdx.x, C, cuda.gridDim.x):
        m = _sum_range(sh, x, c, 0, n, S, C * S, tid) / n
        sq = _sqdev_range(sh, x, c, 0, n, S, C * S, m, tid)
        if tid == 0:
            _bn_finish(mean, invstd, rmean, has_rm, rvar, has_rv, c, m, sq, n, momentum, eps)


@cuda.jit
def _chunk_sums(ws, x, rows, S, RS, n, P, chunk):
    """Block q = (row, chunk): ws[q] = the chunk's sum, in double."""
    sh = cuda.shared.array(NT, float64)
    tid = cuda.threadIdx.x
    for q in range(cuda.blockIdx.x, rows * P, cuda.gridDim.x):
        r = q // P
        j0 = (q - r * P) * chunk
        t = _sum_range(sh, x, r, j0, min(n, j0 + chunk), S, RS, tid)
        if tid == 0:
            ws[q] = t


@cuda.jit
def _chunk_sqdevs(ws2, ws, x, rows, S, RS, n, P, chunk):
    """ws2[q] = the chunk's sum of squared deviations from its row's mean (the row sum is
    added from ws in chunk order, so every block of a row sees the same mean)."""
    sh = cuda.shared.array(NT, float64)
    tid = cuda.threadIdx.x
    for q in range(cuda.blockIdx.x, rows * P, cuda.gridDim.x):
        r = q // P
        s = 0.0
        for p in range(P):
            s += ws[r * P + p]
        m = s / n
        j0 = (q - r * P) * chunk
        t = _sqdev_range(sh, x, r, j0, min(n, j0 + chunk), S, RS, m, tid)
        if tid == 0:
            ws2[q] = t


@cuda.jit
def _bn_stats_finish(mean, invstd, rmean, has_rm, rvar, has_rv, ws, ws2, C, P, n, momentum, eps):
    """One thread per channel: add the chunk partials in order, then bn_finish."""
    for c in range(cuda.grid(1), C, cuda.gridsize(1)):
        s = 0.0
        sq = 0.0
        for p in range(P):
            s += ws[c * P + p]
            sq += ws2[c * P + p]
        _bn_finish(mean, invstd, rmean, has_rm, rvar, has_rv, c, s / n, sq, n, momentum, eps)


@cuda.jit
def _bn_apply(out, x, mean, invstd, weight, has_w, bias, has_b, C, S, total):
    """out = x * alpha + beta, alpha = invstd * w, beta = b - mean * alpha (torch's order)."""
    for i in range(cuda.grid(1), total, cuda.gridsize(1)):
        c = (i // S) % C
        a = invstd[c] * (weight[c] if has_w else F1)
        b = (bias[c] if has_b else F0) - mean[c] * a
        out[i] = x[i] * a + b


@cuda.jit(device=True, inline=True)
def _bn_bcoeffs(dweight, has_dw, dbias, has_db, invstd, weight, has_w, c, sdy, sdyx, n,
                training, write):
    """norm.c bn_bcoeffs: (k, gm, iw) of dx = (dy - gm - (x - mean) * k) * iw."""
    inv = float64(invstd[c])
    k = float32(sdyx * inv * inv / n) if training else F0
    gm = float32(sdy / n) if training else F0
    iw = invstd[c] * (weight[c] if has_w else F1)
    if write:
        if has_dw:
            dweight[c] = float32(sdyx * inv)
        if has_db:
            dbias[c] = float32(sdy)
    return k, gm, iw


@cuda.jit
def _bn_backward_rows(dinp, has_dx, dweight, has_dw, dbias, has_db, dout, x, mean, invstd,
                      weight, has_w, C, S, n, training):
    """One block per channel: the two gradient sums, the coefficients, then dx."""
    sh = cuda.shared.array(NT, float64)
    tid = cuda.threadIdx.x
    for c in range(cuda.blockIdx.x, C, cuda.gridDim.x):
        sdy, sdyx = _dsums_range(sh, dout, x, c, 0, n, S, C * S, float64(mean[c]), tid)
        k, gm, iw = _bn_bcoeffs(dweight, has_dw, dbias, has_db, invstd, weight, has_w, c,
                                sdy, sdyx, n, training, tid == 0)
        if has_dx:
            mf = mean[c]
            for j in range(tid, n, NT):
                i = _at(c, j, S, C * S)
                dinp[i] = (dout[i] - gm - (x[i] - mf) * k) * iw


@cuda.jit
def _chunk_dsums(ws, dy, x, mean, rows, S, RS, n, P, chunk):
    """Block q = (row, chunk): ws[q], ws[rows*P + q] = the chunk's (sum dy, sum dy*(x-m))."""
    sh = cuda.shared.array(NT, float64)
    tid = cuda.threadIdx.x
    for q in range(cuda.blockIdx.x, rows * P, cuda.gridDim.x):
        r = q // P
        j0 = (q - r * P) * chunk
        a, b = _dsums_range(sh, dy, x, r, j0, min(n, j0 + chunk), S, RS, float64(mean[r]), tid)
        if tid == 0:
            ws[q] = a
            ws[rows * P + q] = b


@cuda.jit
def _bn_backward_finish(coef, dweight, has_dw, dbias, has_db, ws, invstd, weight, has_w, C, P,
                        n, training):
    """One thread per channel: chunk partials in order -> dweight, dbias and coef[3, C]."""
    for c in range(cuda.grid(1), C, cuda.gridsize(1)):
        sdy = 0.0
        sdyx = 0.0
        for p in range(P):
            sdy += ws[c * P + p]
            sdyx += ws[C * P + c * P + p]
        k, gm, iw = _bn_bcoeffs(dweight, has_dw, dbias, has_db, invstd, weight, has_w, c,
                                sdy, sdyx, n, training, True)
        coef[c] = k
        coef[C + c] = gm
        coef[2 * C + c] = iw


@cuda.jit
def _bn_dx(dinp, dout, x, mean, coef, C, S, total):
    for i in range(cuda.grid(1), total, cuda.gridsize(1)):
        c = (i // S) % C
        dinp[i] = (dout[i] - coef[C + c] - (x[i] - mean[c]) * coef[c]) * coef[2 * C + c]


# BatchNorm of (N, C) input (S == 1): a channel's values are C apart, so a block per channel
# would read one value per cache line; these blocks own CW adjacent channels instead (a warp
# reads a contiguous run of a row) and their RW row-threads split the N rows.
@cuda.jit(device=True, inline=True)
def _col_sum(shc, v, cx, ry):
    """Sum of v over the RW row-threads of column cx by a fixed tree (all of them get it)."""
    shc[ry, cx] = v
    cuda.syncthreads()
    step = RW // 2
    while step > 0:
        if ry < step:
            shc[ry, cx] += shc[ry + step, cx]
        cuda.syncthreads()
        step //= 2
    tot = shc[0, cx]
    cuda.syncthreads()
    return tot


@cuda.jit
def _bn_stats_cols(mean, invstd, rmean, has_rm, rvar, has_rv, x, N, C, momentum, eps):
    shc = cuda.shared.array((RW, CW), float64)
    cx = cuda.threadIdx.x % CW
    ry = cuda.threadIdx.x // CW
    for grp in range(cuda.blockIdx.x, (C + CW - 1) // CW, cuda.gridDim.x):
        c = grp * CW + cx
        s = 0.0
        if c < C:
            for b in range(ry, N, RW):
                s += float64(x[b * C + c])
        m = _col_sum(shc, s, cx, ry) / N
        s = 0.0
        if c < C:
            for b in range(ry, N, RW):
                d = float64(x[b * C + c]) - m
                s += d * d
        sq = _col_sum(shc, s, cx, ry)
        if ry == 0 and c < C:
            _bn_finish(mean, invstd, rmean, has_rm, rvar, has_rv, c, m, sq, N, momentum, eps)


@cuda.jit
def _bn_backward_cols(dinp, has_dx, dweight, has_dw, dbias, has_db, dout, x, mean, invstd,
                      weight, has_w, N, C, training):
    shc = cuda.shared.array((RW, CW), float64)
    cx = cuda.threadIdx.x % CW
    ry = cuda.threadIdx.x // CW
    for grp in range(cuda.blockIdx.x, (C + CW - 1) // CW, cuda.gridDim.x):
        c = grp * CW + cx
        ok = c < C
        m = float64(mean[c]) if ok else 0.0
        a = 0.0
        t = 0.0
        if ok:
            for b in range(ry, N, RW):
                g = float64(dout[b * C + c])
                a += g
                t += g * (float64(x[b * C + c]) - m)
        sdy = _col_sum(shc, a, cx, ry)
        sdyx = _col_sum(shc, t, cx, ry)
        if ok:
            k, gm, iw = _bn_bcoeffs(dweight, has_dw, dbias, has_db, invstd, weight, has_w, c,
                                    sdy, sdyx, N, training, ry == 0)
            if has_dx:
                mf = mean[c]
                for b in range(ry, N, RW):
                    i = b * C + c
                    dinp[i] = (dout[i] - gm - (x[i] - mf) * k) * iw


# ---------------------------------------------------------------------- LayerNorm kernels
@cuda.jit
def _ln_forward(out, mean, rstd, x, weight, has_w, bias, has_b, M, D, eps):
    """One block per row: double moments, then y = (x * r + (-r * m)) * w + b."""
    sh = cuda.shared.array(NT, float64)
    tid = cuda.threadIdx.x
    for r in range(cuda.blockIdx.x, M, cuda.gridDim.x):
        m = _sum_range(sh, x, r, 0, D, D, 0, tid) / D
        var = _sqdev_range(sh, x, r, 0, D, D, 0, m, tid) / D
        rs = float32(1.0 / math.sqrt(var + eps))
        mf = float32(m)
        if tid == 0:
            mean[r] = mf
            rstd[r] = rs
        shift = -rs * mf
        base = r * D
        for j in range(tid, D, NT):
            y = x[base + j] * rs + shift
            if has_w:
                y = y * weight[j]
            if has_b:
                y = y + bias[j]
            out[base + j] = y


@cuda.jit
def _ln_backward_dx(dinp, dout, x, mean, rstd, weight, has_w, M, D):
    """One block per row: dx = a * dy * w + b * x + c (norm.c nf_layer_norm_backward)."""
    sh = cuda.shared.array(NT, float64)
    tid = cuda.threadIdx.x
    for r in range(cuda.blockIdx.x, M, cuda.gridDim.x):
        base = r * D
        ds = 0.0
        db = 0.0
        for j in range(tid, D, NT):
            g = float64(dout[base + j]) * (float64(weight[j]) if has_w else 1.0)
            ds += g * float64(x[base + j])
            db += g
        ds = _block_sum(sh, ds, tid)
        db = _block_sum(sh, db, tid)
        rr = float64(rstd[r])
        m = float64(mean[r])
        inv_d = 1.0 / D
        b = (db * m - ds) * rr * rr * rr * inv_d
        c = -b * m - db * rr * inv_d
        af = float32(rr)
        bf = float32(b)
        cf = float32(c)
        for j in range(tid, D, NT):
            if has_w:
                dinp[base + j] = af * dout[base + j] * weight[j] + bf * x[base + j] + cf
            else:
                dinp[base + j] = af * dout[base + j] + bf * x[base + j] + cf


@cuda.jit
def _ln_dwb_partial(ws, dout, x, mean, rstd, M, D, rows_per):
    """Thread (chunk p, column j): ws[p, j], ws[P + p, j] = the chunk's sums of
    dy * ((x - m) * r) and dy, in double and in row order (col_ln_dwb)."""
    P = (M + rows_per - 1) // rows_per
    for q in range(cuda.grid(1), P * D, cuda.gridsize(1)):
        p = q // D
        j = q - p * D
        aw = 0.0
        ab = 0.0
        for i in range(p * rows_per, min(M, (p + 1) * rows_per)):
            g = float64(dout[i * D + j])
            aw += g * ((float64(x[i * D + j]) - float64(mean[i])) * float64(rstd[i]))
            ab += g
        ws[q] = aw
        ws[P * D + q] = ab


@cuda.jit
def _ln_dwb_finish(dweight, has_dw, dbias, has_db, ws, P, D):
    for j in range(cuda.grid(1), D, cuda.gridsize(1)):
        aw = 0.0
        ab = 0.0
        for p in range(P):
            aw += ws[p * D + j]
            ab += ws[P * D + p * D + j]
        if has_dw:
            dweight[j] = float32(aw)
        if has_db:
            dbias[j] = float32(ab)


# ---------------------------------------------------------------------- host side
def _chunking(rows, n):
    """(P, chunk): chunks per row so that few long rows still fill the GPU."""
    if rows >= TARGET_BLOCKS or n < 2 * CHUNK_MIN:
        return 1, max(n, 1)
    P = min(MAX_CHUNKS, n // CHUNK_MIN, -(-TARGET_BLOCKS // rows))
    chunk = -(-n // P)
    return -(-n // chunk), chunk


def batch_norm_stats(mean, invstd, running_mean, running_var, x, N, C, S, momentum, eps,
                     reference=False):
    """Per-channel mean/invstd of x[N,C,S]; updates running_mean/var (or None) in place."""
    who = "batch_norm_stats"
    _sizes(who, N=N, C=C, S=S)
    xf = _flat(x, who, "x", N * C * S)
    mf = _flat(mean, who, "mean", C)
    isf = _flat(invstd, who, "invstd", C)
    rm, has_rm = _opt(running_mean, who, "running_mean", C)
    rv, has_rv = _opt(running_var, who, "running_var", C)
    n = N * S
    if N * C * S == 0:
        return
    P, chunk = _chunking(C, n)
    if P == 1 and S == 1 and C >= CW:
        _bn_stats_cols[_blocks(-(-C // CW)), NT](mf, isf, rm, has_rm, rv, has_rv, xf, N, C,
                                                 float(momentum), float(eps))
        return
    if P == 1:
        _bn_stats_rows[_blocks(C), NT](mf, isf, rm, has_rm, rv, has_rv, xf, C, S, n,
                                       float(momentum), float(eps))
        return
    scratch = empty(2 * C * P, np.float64)   # held until the launches are queued
    ws1, ws2 = scratch.flat[:C * P], scratch.flat[C * P:]
    _chunk_sums[_blocks(C * P), NT](ws1, xf, C, S, C * S, n, P, chunk)
    _chunk_sqdevs[_blocks(C * P), NT](ws2, ws1, xf, C, S, C * S, n, P, chunk)
    _bn_stats_finish[_launch.grid(C)](mf, isf, rm, has_rm, rv, has_rv, ws1, ws2, C, P, n,
                                      float(momentum), float(eps))


def batch_norm_apply(out, x, mean, invstd, weight, bias, N, C, S, reference=False):
    """out = x * alpha[c] + beta[c] over [N,C,S] (weight/bias may be None)."""
    who = "batch_norm_apply"
    _sizes(who, N=N, C=C, S=S)
    total = N * C * S
    xf = _flat(x, who, "x", total)
    of = _flat(out, who, "out", total)
    mf = _flat(mean, who, "mean", C)
    isf = _flat(invstd, who, "invstd", C)
    wf, has_w = _opt(weight, who, "weight", C)
    bf, has_b = _opt(bias, who, "bias", C)
    if total == 0:
        return
    _bn_apply[_launch.grid(total)](of, xf, mf, isf, wf, has_w, bf, has_b, C, S, total)


def batch_norm_backward(dinp, dweight, dbias, dout, x, mean, invstd, weight, N, C, S, training,
                        reference=False):
    """dinp/dweight/dbias (each or None) of batch_norm_apply with the forward's stats."""
    who = "batch_norm_backward"
    _sizes(who, N=N, C=C, S=S)
    total = N * C * S
    dof = _flat(dout, who, "dout", total)
    xf = _flat(x, who, "x", total)
    mf = _flat(mean, who, "mean", C)
    isf = _flat(invstd, who, "invstd", C)
    dxf, has_dx = _opt(dinp, who, "dinp", total)
    dwf, has_dw = _opt(dweight, who, "dweight", C)
    dbf, has_db = _opt(dbias, who, "dbias", C)
    wf, has_w = _opt(weight, who, "weight", C)
    if C == 0:
        return
    n = N * S
    if n == 0:   # no values: zero parameter gradients, nothing else to write
        for f, has in ((dwf, has_dw), (dbf, has_db)):
            if has:
                _fill_f32[_launch.grid(C)](f, C, np.float32(0))
        return
    tr = 1 if training else 0
    P, chunk = _chunking(C, n)
    if P == 1 and S == 1 and C >= CW:
        _bn_backward_cols[_blocks(-(-C // CW)), NT](dxf, has_dx, dwf, has_dw, dbf, has_db, dof,
                                                    xf, mf, isf, wf, has_w, N, C, tr)
        return
    if P == 1:
        _bn_backward_rows[_blocks(C), NT](dxf, has_dx, dwf, has_dw, dbf, has_db, dof, xf, mf,
                                          isf, wf, has_w, C, S, n, tr)
        return
    ws_a, coef_a = empty(2 * C * P, np.float64), empty(3 * C, np.float32)   # held: in use
    ws, coef = ws_a.flat, coef_a.flat
    _chunk_dsums[_blocks(C * P), NT](ws, dof, xf, mf, C, S, C * S, n, P, chunk)
    _bn_backward_finish[_launch.grid(C)](coef, dwf, has_dw, dbf, has_db, ws, isf, wf, has_w, C,
                                         P, n, tr)
    if has_dx:
        _bn_dx[_launch.grid(total)](dxf, dof, xf, mf, coef, C, S, total)


def layer_norm_forward(out, mean, rstd, x, weight, bias, M, D, eps):
    """out = normalised rows of x[M,D] (* weight + bias); mean[M], rstd[M] written."""
    who = "layer_norm_forward"
    _sizes(who, M=M, D=D)
    xf = _flat(x, who, "x", M * D)
    of = _flat(out, who, "out", M * D)
    mf = _flat(mean, who, "mean", M)
    rf = _flat(rstd, who, "rstd", M)
    wf, has_w = _opt(weight, who, "weight", D)
    bf, has_b = _opt(bias, who, "bias", D)
    if M * D == 0:
        return
    _ln_forward[_blocks(M), NT](of, mf, rf, xf, wf, has_w, bf, has_b, M, D, float(eps))


def layer_norm_backward(dinp, dweight, dbias, dout, x, mean, rstd, weight, M, D):
    """dinp/dweight/dbias (each or None) of layer_norm_forward."""
    who = "layer_norm_backward"
    _sizes(who, M=M, D=D)
    dof = _flat(dout, who, "dout", M * D)
    xf = _flat(x, who, "x", M * D)
    mf = _flat(mean, who, "mean", M)
    rf = _flat(rstd, who, "rstd", M)
    dxf, has_dx = _opt(dinp, who, "dinp", M * D)
    dwf, has_dw = _opt(dweight, who, "dweight", D)
    dbf, has_db = _opt(dbias, who, "dbias", D)
    wf, has_w = _opt(weight, who, "weight", D)
    if D == 0:
        return
    if M == 0:
        for f, has in ((dwf, has_dw), (dbf, has_db)):
            if has:
                _fill_f32[_launch.grid(D)](f, D, np.float32(0))
        return
    if has_dx:
        _ln_backward_dx[_blocks(M), NT](dxf, dof, xf, mf, rf, wf, has_w, M, D)
    if has_dw or has_db:
        # columns are threads; when columns are few, rows are cut into chunks (2nd pass)
        P = 1 if D >= TARGET_BLOCKS * NT or M < 2 * CHUNK_MIN else min(
            MAX_CHUNKS, M // CHUNK_MIN, -(-TARGET_BLOCKS * NT // D))
        rows_per = -(-M // P)
        P = -(-M // rows_per)
        ws_a = empty(2 * P * D, np.float64)
        ws = ws_a.flat
        _ln_dwb_partial[_launch.grid(P * D)](ws, dof, xf, mf, rf, M, D, rows_per)
        _ln_dwb_finish[_launch.grid(D)](dwf, has_dw, dbf, has_db, ws, P, D)


# ---------------------------------------------------------------------- PTX checks
def _ptx_checks():
    f32, f64, i64 = float32[::1], float64[::1], int64
    b = int64     # the present/training flags are Python ints
    return [
        (_bn_stats_rows, (f32, f32, f32, b, f32, b, f32, i64, i64, i64, float64, float64)),
        (_bn_stats_cols, (f32, f32, f32, b, f32, b, f32, i64, i64, float64, float64)),
        (_bn_backward_cols, (f32, b, f32, b, f32, b, f32, f32, f32, f32, f32, b, i64, i64, b)),
        (_chunk_sums, (f64, f32, i64, i64, i64, i64, i64, i64)),
        (_chunk_sqdevs, (f64, f64, f32, i64, i64, i64, i64, i64, i64)),
        (_bn_stats_finish, (f32, f32, f32, b, f32, b, f64, f64, i64, i64, i64, float64, float64)),
        (_bn_apply, (f32, f32, f32, f32, f32, b, f32, b, i64, i64, i64)),
        (_bn_backward_rows, (f32, b, f32, b, f32, b, f32, f32, f32, f32, f32, b, i64, i64, i64,
                             b)),
        (_chunk_dsums, (f64, f32, f32, f32, i64, i64, i64, i64, i64, i64)),
        (_bn_backward_finish, (f32, f32, b, f32, b, f64, f32, f32, b, i64, i64, i64, b)),
        (_bn_dx, (f32, f32, f32, f32, f32, i64, i64, i64)),
        (_ln_forward, (f32, f32, f32, f32, f32, b, f32, b, i64, i64, float64)),
        (_ln_backward_dx, (f32, f32, f32, f32, f32, f32, b, i64, i64)),
        (_ln_dwb_partial, (f64, f32, f32, f32, f32, i64, i64, i64)),
        (_ln_dwb_finish, (f32, b, f32, b, f64, i64, i64)),
    ]


PTX_CHECKS = _ptx_checks() + _GROUP_PTX_CHECKS
