"""GroupNorm on the GPU: the `_C` group_norm_forward / group_norm_backward contract
(csrc/norm_group.c), re-exported by norm.py (the family in FAMILIES).

x[N, C, S] in G groups of Cg = C/G channels; one block owns a (sample, group) row of
D = Cg*S contiguous values and reduces it in double by a fixed tree (_norm_rows.py); the
backward's per-(n, c) sums go to the caller's float64 workspace ws[2*N*C] as in the C, and
dweight/dbias add them over samples in order, one thread per channel. Per-element work is
float32 in torch's CPU order. Not here: strided or channels-last input, float64, accumulation
into gradient buffers (the C overwrites them; so does this).
"""
import math

import numpy as np
from numba import cuda, float32, float64, int64

from . import _launch
from ._checks import need
from ._norm_rows import (F0, F1, NT, _blocks, _dsums_range, _fill_f32, _flat, _opt,
                         _sqdev_range, _sum_range)

__all__ = ["group_norm_forward", "group_norm_backward"]


# ---------------------------------------------------------------------- GroupNorm kernels
@cuda.jit
def _gn_forward(out, mean, rstd, x, weight, has_w, bias, has_b, M, G, Cg, S, eps):
    """One block per (sample, group) row of D = Cg*S values: y = x * sc + sh with
    sc = r * w[c], sh = b[c] - sc * m (torch's CPU order)."""
    sh = cuda.shared.array(NT, float64)
    tid = cuda.threadIdx.x
    D = Cg * S
    for r in range(cuda.blockIdx.x, M, cuda.gridDim.x):
        m = 0.0
        rr = 1.0 / math.sqrt(eps)
        if D > 0:
            m = _sum_range(sh, x, r, 0, D, D, 0, tid) / D
            rr = 1.0 / math.sqrt(_sqdev_range(sh, x, r, 0, D, D, 0, m, tid) / D + eps)
        mf = float32(m)
        rf = float32(rr)
        if tid == 0:
            mean[r] = mf
            rstd[r] = rf
        c0 = (r % G) * Cg
        base = r * D
        for j in range(tid, D, NT):
            c = c0 + j // S
            sc = rf * (weight[c] if has_w else F1)
            s0 = (bias[c] if has_b else F0) - sc * mf
            out[base + j] = x[base + j] * sc + s0


@cuda.jit
def _gn_dsums(ws, dout, x, mean, NC, C, G, Cg, S):
    """One block per (n, c) run of S values: ws[nc] = sum dy, ws[NC + nc] = sum dy*(x-m)."""
    sh = cuda.shared.array(NT, float64)
    tid = cuda.threadIdx.x
    for nc in range(cuda.blockIdx.x, NC, cuda.gridDim.x):
        row = (nc // C) * G + (nc % C) // Cg
        a, b = _dsums_range(sh, dout, x, nc, 0, S, S, 0, float64(mean[row]), tid)
        if tid == 0:
            ws[nc] = a
            ws[NC + nc] = b


@cuda.jit
def _gn_dx(dinp, ws, dout, x, mean, rstd, weight, has_w, NC, C, G, Cg, S):
    """One block per (n, g) row: dx = (r * w[c]) * dy + k * x + q (norm_group.c)."""
    D = Cg * S
    for i in range(cuda.blockIdx.x, NC // Cg, cuda.gridDim.x):
        n = i // G
        c0 = (i % G) * Cg
        A = 0.0
        B = 0.0
        for j in range(Cg):     # every thread adds the few channel sums in the same order
            w = float64(weight[c0 + j]) if has_w else 1.0
            A += w * ws[NC + n * C + c0 + j]
            B += w * ws[n * C + c0 + j]
        rr = float64(rstd[i])
        m = float64(mean[i])
        k = -rr * rr * rr * A / D if D > 0 else 0.0
        q = -k * m - rr * B / D if D > 0 else 0.0
        kf = float32(k)
        qf = float32(q)
        base = i * D
        for e in range(cuda.threadIdx.x, D, cuda.blockDim.x):
            c = c0 + e // S
            a = rstd[i] * (weight[c] if has_w else F1)
            dinp[base + e] = a * dout[base + e] + kf * x[base + e] + qf


@cuda.jit
def _gn_dwb(dweight, has_dw, dbias, has_db, ws, rstd, N, C, G, Cg):
    """One thread per channel, samples in order (as the C)."""
    NC = N * C
    for c in range(cuda.grid(1), C, cuda.gridsize(1)):
        sw = 0.0
        sb = 0.0
        for n in range(N):
            sw += ws[NC + n * C + c] * float64(rstd[n * G + c // Cg])
            sb += ws[n * C + c]
        if has_dw:
            dweight[c] = float32(sw)
        if has_db:
            dbias[c] = float32(sb)


# ---------------------------------------------------------------------- host side
def _gn_sizes(who, N, C, S, G):
    if N < 0 or C < 0 or S < 0 or G < 1 or C % G:
        raise ValueError(f"{who}: bad sizes N={N} C={C} S={S} G={G}")


def group_norm_forward(out, mean, rstd, x, weight, bias, N, C, S, G, eps):
    """out = group-normalised x[N,C,S] * weight[c] + bias[c]; mean/rstd[N*G] written."""
    who = "group_norm_forward"
    _gn_sizes(who, N, C, S, G)
    xf = _flat(x, who, "x", N * C * S)
    of = _flat(out, who, "out", N * C * S)
    mf = _flat(mean, who, "mean", N * G)
    rf = _flat(rstd, who, "rstd", N * G)
    wf, has_w = _opt(weight, who, "weight", C)
    bf, has_b = _opt(bias, who, "bias", C)
    if N * C == 0:
        return
    _gn_forward[_blocks(N * G), NT](of, mf, rf, xf, wf, has_w, bf, has_b, N * G, G, C // G, S,
                                    float(eps))


def group_norm_backward(dinp, dweight, dbias, ws, dout, x, mean, rstd, weight, N, C, S, G):
    """dinp/dweight/dbias (each or None) of group_norm_forward; ws: 2*N*C doubles."""
    who = "group_norm_backward"
    _gn_sizes(who, N, C, S, G)
    dof = _flat(dout, who, "dout", N * C * S)
    xf = _flat(x, who, "x", N * C * S)
    mf = _flat(mean, who, "mean", N * G)
    rf = _flat(rstd, who, "rstd", N * G)
    need(who, "ws", ws, np.float64)
    if ws.size < 2 * N * C:
        raise ValueError(f"{who}: workspace ws of {ws.size} doubles, needs {2 * N * C}")
    dxf, has_dx = _opt(dinp, who, "dinp", N * C * S)
    dwf, has_dw = _opt(dweight, who, "dweight", C)
    dbf, has_db = _opt(dbias, who, "dbias", C)
    wf, has_w = _opt(weight, who, "weight", C)
    if C == 0:
        return
    if N == 0:
        for f, has in ((dwf, has_dw), (dbf, has_db)):
            if has:
                _fill_f32[_launch.grid(C)](f, C, np.float32(0))
        return
    NC, Cg = N * C, C // G
    wsf = ws.flat
    _gn_dsums[_blocks(NC), NT](wsf, dof, xf, mf, NC, C, G, Cg, S)
    if has_dx and S > 0:
        _gn_dx[_blocks(N * G), NT](dxf, wsf, dof, xf, mf, rf, wf, has_w, NC, C, G, Cg, S)
    if has_dw or has_db:
        _gn_dwb[_launch.grid(C)](dwf, has_dw, dbf, has_db, wsf, rf, N, C, G, Cg)


# ---------------------------------------------------------------------- PTX checks
def _ptx_checks():
    f32, f64, i64 = float32[::1], float64[::1], int64
    b = int64     # the present flags are Python ints
    return [
        (_gn_forward, (f32, f32, f32, f32, f32, b, f32, b, i64, i64, i64, i64, float64)),
        (_gn_dsums, (f64, f32, f32, f32, i64, i64, i64, i64, i64)),
        (_gn_dx, (f32, f64, f32, f32, f32, f32, f32, b, i64, i64, i64, i64, i64)),
        (_gn_dwb, (f32, b, f32, b, f64, f32, i64, i64, i64, i64)),
        (_fill_f32, (f32, i64, float32)),
    ]


PTX_CHECKS = _ptx_checks()
