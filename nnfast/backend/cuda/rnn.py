"""Recurrent layers on the GPU (Elman RNN tanh/relu, LSTM, GRU): the `_C` rnn_layer_forward /
rnn_layer_backward contract (csrc/rnn.c) with the whole time loop on the device.

What it is, per layer and direction:
  forward:  the input projection of all T steps as one GEMM (gemm.py's),
            gates[T*B, G] = x[T*B, I] @ W_ih^T + b_ih; then ONE launch for the recurrence:
            each block owns batch rows and loops over time, threads over hidden units; a
            thread computes all gate rows of its unit (W_hh h_prev + b_hh, reading a copy of
            W_hh^T made once per call so that a warp's loads coalesce, then the fused gate
            math of rnn.c), so the only exchange between threads is h itself, kept in
            shared memory (double-buffered, one syncthreads a step) when H fits, read back
            from the output in global memory otherwise.
  backward: one launch for the reverse time loop (per step: the gate gradients of each unit,
            a syncthreads, then dh_prev = dgates @ W_hh with the gate-gradient row shared),
            then dW_hh, dW_ih, dx as GEMMs over all steps and the bias gradients as
            column sums (gemm.py's) — every output summed in a fixed order, no atomics.
Gate orders and formulas are PyTorch's, as in rnn.c (i, f, g, o for LSTM; r, z, n for GRU,
with h = n + z * (h_prev - n)); buffers and what they hold afterwards are the C's: gates holds
the activated gates (LSTM/GRU; the input projection for RNN), saved the cell state (LSTM) or
W_hn h + b_hn (GRU); dW/db are added into, dx overwritten or added, dh0/dc0 overwritten.

What it is not: a GEMM of its own (the matmuls are the GEMM family's), multi-layer or
bidirectional driving (nnfast/nn/_functional_rnn.py), float64. The forward's `ws` scratch is
checked but not needed here.
"""
import math

import numpy as np
from numba import cuda, float32, int64

from . import _launch
from ._checks import need
from .array import empty
from .gemm import _colsum_launch, _launch_gemm

__all__ = ["rnn_layer_forward", "rnn_layer_backward"]

RNN_TANH, RNN_RELU, RNN_LSTM, RNN_GRU = 0, 1, 2, 3
SIM = _launch.SIM
MAX_NT = 8 if SIM else 256         # threads of a recurrence block
H_SHARED = 8 if SIM else 4096      # largest H whose h (x2) lives in shared memory
G_SHARED = 16 if SIM else 8192      # largest G whose gate-gradient row lives in shared memory
F0 = np.float32(0.0)
F1 = np.float32(1.0)


def _n_gates(mode):
    return 4 if mode == RNN_LSTM else 3 if mode == RNN_GRU else 1


@cuda.jit(device=True, inline=True)
def _sigm(x):
    return F1 / (F1 + float32(math.exp(-x)))


@cuda.jit(device=True, inline=True)
def _tanh(x):
    return float32(math.tanh(x))


# ---------------------------------------------------------------------- matmul
def _matmul(ta, tb, c, oc, ldc, a, oa, lda, b, ob, ldb, M, N, K, acc, bias=None):
    """C[M,N] (+)= op(A) @ op(B) (+ bias[n]) by the GEMM family's kernel; op(A)[m,k] = A[k,m]
    if ta, op(B)[k,n] = B[n,k] if tb; each operand is (flat buffer, element offset, leading
    dimension)."""
    _launch_gemm(ta, tb, M, N, K, 1.0, a, oa, lda, 0, b, ob, ldb, 0, 1.0 if acc else 0.0,
                 c, oc, ldc, 0, bias=bias)


@cuda.jit
def _transpose(dst, src, R, C):
    """dst[C, R] = src[R, C]^T (W_hh, so that the forward's threads read it coalesced)."""
    for i in range(cuda.grid(1), R * C, cuda.gridsize(1)):
        r = i // C
        c = i - r * C
        dst[c * R + r] = src[i]


# ---------------------------------------------------------------------- the recurrences
_rec_cache = {}


def _threads(H):
    if SIM:
        return MAX_NT
    return min(MAX_NT, max(32, -(-H // 32) * 32))


def _forward_kernel(mode, nt, hs):
    """The whole forward time loop of one layer: block = batch rows, thread = hidden units.
    hs > 0: capacity of the shared double buffer for h (else h_prev is read from global)."""
    key = ("f", mode, nt, hs)
    k_ = _rec_cache.get(key)
    if k_ is not None:
        return k_
    NG = _n_gates(mode)
    SH = hs > 0
    cap = max(hs, 1)

    def kern(out, oo, ldo, hn, cn, gates, saved, w_t, b_hh, has_bhh, h0, c0, T, B, H,
             reverse):
        hsh = cuda.shared.array((2, cap), float32)
        tid = cuda.threadIdx.x
        G = NG * H
        for b in range(cuda.blockIdx.x, B, cuda.gridDim.x):
            if SH:
                for j in range(tid, H, nt):
                    hsh[0, j] = h0[b * H + j]
                cuda.syncthreads()
            cur = 0
            for s in range(T):
                t = T - 1 - s if reverse else s
                tp = t + 1 if reverse else t - 1
                src = h0
                off = b * H
                if s > 0:
                    src = out
                    off = oo + (tp * B + b) * ldo
                orow = oo + (t * B + b) * ldo
                for j in range(tid, H, nt):
                    a0 = F0
                    a1 = F0
                    a2 = F0
                    a3 = F0
                    for k in range(H):     # W_hh h_prev, each gate row of unit j
                        hk = hsh[cur, k] if SH else src[off + k]
                        wk = k * G + j    # w_t[k, q*H + j] = W_hh[q*H + j, k]
                        a0 += hk * w_t[wk]
                        if NG > 1:
                            a1 += hk * w_t[wk + H]
                            a2 += hk * w_t[wk + 2 * H]
                        if NG > 3:
                            a3 += hk * w_t[wk + 3 * H]
                    if has_bhh:           # + b_hh after the product (the GEMM's C operand)
                        a0 = a0 + b_hh[j]
                        if NG > 1:
                            a1 = a1 + b_hh[H + j]
                            a2 = a2 + b_hh[2 * H + j]
                        if NG > 3:
                            a3 = a3 + b_hh[3 * H + j]
                    gi = (t * B + b) * G + j
                    if NG == 1:           # rnn_step_f (gates keep the input projection)
                        v = gates[gi] + a0
                        if mode == RNN_RELU:
                            h = v if v > F0 else F0
                        else:
                            h = _tanh(v)
                    elif NG == 4:         # lstm_step_f
                        ig = _sigm(gates[gi] + a0)
                        fg = _sigm(gates[gi + H] + a1)
                        gc = _tanh(gates[gi + 2 * H] + a2)
                        og = _sigm(gates[gi + 3 * H] + a3)
                        cp = c0[b * H + j] if s == 0 else saved[(tp * B + b) * H + j]
                        cv = fg * cp + ig * gc
                        gates[gi] = ig
                        gates[gi + H] = fg
                        gates[gi + 2 * H] = gc
                        gates[gi + 3 * H] = og
                        saved[(t * B + b) * H + j] = cv
                        h = og * _tanh(cv)
                        if s == T - 1:
                            cn[b * H + j] = cv
                    else:                 # gru_step_f
                        rg = _sigm(gates[gi] + a0)
                        zg = _sigm(gates[gi + H] + a1)
                        nv = _tanh(gates[gi + 2 * H] + rg * a2)
                        gates[gi] = rg
                        gates[gi + H] = zg
                        gates[gi + 2 * H] = nv
                        saved[(t * B + b) * H + j] = a2
                        hp = hsh[cur, j] if SH else src[off + j]
                        h = nv + zg * (hp - nv)
                    out[orow + j] = h
                    if SH:
                        hsh[1 - cur, j] = h
                    if s == T - 1:
                        hn[b * H + j] = h
                cuda.syncthreads()        # step t's h complete before step t+1 reads it
                cur = 1 - cur

    kern.__name__ = kern.__qualname__ = f"rnn_forward_{mode}"
    k_ = _rec_cache[key] = cuda.jit(kern)
    return k_


def _backward_kernel(mode, nt, gs):
    """The reverse time loop of one layer: per step the gate gradients of each unit (the
    gate-backward kernels of rnn.c), then dh_prev = dgates_hidden @ W_hh. ws[0:BH] is dh,
    ws[BH:2BH] dc (LSTM); a unit's entries are only touched by the thread owning it.
    gs > 0: capacity of the shared row of hidden-side gate gradients (else read back)."""
    key = ("b", mode, nt, gs)
    k_ = _rec_cache.get(key)
    if k_ is not None:
        return k_
    NG = _n_gates(mode)
    SH = gs > 0
    cap = max(gs, 1)
    GRU = mode == RNN_GRU

    def kern(dg, dgh, ws, dout, oo, ldo, dhn, has_dhn, dcn, has_dcn, h0, c0, out, gates,
             saved, w_hh, dh0, has_dh0, dc0, has_dc0, T, B, H, reverse):
        sg = cuda.shared.array(cap, float32)
        tid = cuda.threadIdx.x
        G = NG * H
        BH = B * H
        dgr = dgh if GRU else dg
        for b in range(cuda.blockIdx.x, B, cuda.gridDim.x):
            for j in range(tid, H, nt):
                ws[b * H + j] = dhn[b * H + j] if has_dhn else F0
                if NG == 4:
                    ws[BH + b * H + j] = dcn[b * H + j] if has_dcn else F0
            for s in range(T - 1, -1, -1):
                t = T - 1 - s if reverse else s
                tp = t + 1 if reverse else t - 1
                orow = oo + (t * B + b) * ldo
                grow = (t * B + b) * G
                for j in range(tid, H, nt):
                    dhv = dout[orow + j] + ws[b * H + j]
                    gi = grow + j
                    if NG == 1:           # rnn_step_b
                        h = out[orow + j]
                        if mode == RNN_RELU:
                            d = dhv if h > F0 else F0
                        else:
                            d = dhv * (F1 - h * h)
                        dg[gi] = d
                        if SH:
                            sg[j] = d
                    elif NG == 4:         # lstm_step_b
                        ig = gates[gi]
                        fg = gates[gi + H]
                        gc = gates[gi + 2 * H]
                        og = gates[gi + 3 * H]
                        tc = _tanh(saved[(t * B + b) * H + j])
                        dcv = ws[BH + b * H + j] + dhv * og * (F1 - tc * tc)
                        cp = c0[b * H + j] if s == 0 else saved[(tp * B + b) * H + j]
                        d_o = dhv * tc * og * (F1 - og)
                        d_i = dcv * gc * ig * (F1 - ig)
                        d_g = dcv * ig * (F1 - gc * gc)
                        d_f = dcv * cp * fg * (F1 - fg)
                        ws[BH + b * H + j] = dcv * fg
                        dg[gi] = d_i
                        dg[gi + H] = d_f
                        dg[gi + 2 * H] = d_g
                        dg[gi + 3 * H] = d_o
                        if SH:
                            sg[j] = d_i
                            sg[H + j] = d_f
                            sg[2 * H + j] = d_g
                            sg[3 * H + j] = d_o
                    else:                 # gru_step_b
                        rg = gates[gi]
                        zg = gates[gi + H]
                        nv = gates[gi + 2 * H]
                        hl = saved[(t * B + b) * H + j]
                        hp = h0[b * H + j] if s == 0 else out[oo + (tp * B + b) * ldo + j]
                        dan = dhv * (F1 - zg) * (F1 - nv * nv)
                        dar = dan * hl * rg * (F1 - rg)
                        daz = dhv * (hp - nv) * zg * (F1 - zg)
                        dg[gi] = dar
                        dg[gi + H] = daz
                        dg[gi + 2 * H] = dan
                        dgh[gi] = dar
                        dgh[gi + H] = daz
                        dgh[gi + 2 * H] = dan * rg
                        if SH:
                            sg[j] = dar
                            sg[H + j] = daz
                            sg[2 * H + j] = dan * rg
                        ws[b * H + j] = dhv * zg
                cuda.syncthreads()        # the whole gate-gradient row before the product
                if s > 0 or has_dh0:
                    for k in range(tid, H, nt):   # dh_prev[k] (+)= sum_q dgr[q] W_hh[q, k]
                        acc = F0
                        for q in range(G):
                            gq = sg[q] if SH else dgr[grow + q]
                            acc += gq * w_hh[q * H + k]
                        if GRU:
                            ws[b * H + k] = ws[b * H + k] + acc
                        else:
                            ws[b * H + k] = acc
                cuda.syncthreads()        # sg is rewritten by the next step
            for j in range(tid, H, nt):
                if has_dh0:
                    dh0[b * H + j] = ws[b * H + j]
                if NG == 4 and has_dc0:
                    dc0[b * H + j] = ws[BH + b * H + j]

    kern.__name__ = kern.__qualname__ = f"rnn_backward_{mode}"
    k_ = _rec_cache[key] = cuda.jit(kern)
    return k_


# ---------------------------------------------------------------------- host side
_dummies = {}


def _dummy():
    d = _dummies.get("f")
    if d is None:
        d = _dummies["f"] = cuda.device_array(1, np.float32)
    return d


def _buf(a, n, what, who):
    need(who, what, a)
    if a.size != n:
        raise ValueError(f"{who}: {what} has {a.size} elements, expected {n}")
    return a.flat


def _opt(a, n, what, who):
    return (_dummy(), 0) if a is None else (_buf(a, n, what, who), 1)


def _check_sizes(who, mode, T, B, I, H, ldo, col):
    if abs(T) * abs(B) * (4 * (abs(H) + abs(I)) + abs(ldo) + abs(col) + 2) >= 2 ** 62:
        raise ValueError(f"{who}: sizes T={T} B={B} I={I} H={H} ldo={ldo} overflow")
    if not (0 <= mode <= 3) or T < 1 or B < 1 or I < 1 or H < 1 or col < 0 or col + H > ldo:
        raise ValueError(f"{who}: bad sizes T={T} B={B} I={I} H={H} ldo={ldo} col={col} "
                         f"mode={mode}")
    return _n_gates(mode) * H


def rnn_layer_forward(mode, reverse, T, B, I, H, ldo, col, out, hn, cn, gates, saved, ws, x,
                      w_ih, w_hh, b_ih, b_hh, h0, c0):
    """One layer, one direction: out[T, B, ldo] columns col..col+H, hn[B, H], cn[B, H] (LSTM),
    gates[T, B, G*H] and saved[T, B, H] (LSTM/GRU) for backward, ws[B, G*H] (unused here)."""
    who = "rnn_layer_forward"
    G = _check_sizes(who, mode, T, B, I, H, ldo, col)
    of = _buf(out, T * B * ldo, "out", who)
    hnf = _buf(hn, B * H, "hn", who)
    gf = _buf(gates, T * B * G, "gates", who)
    _buf(ws, B * G, "ws", who)
    xf = _buf(x, T * B * I, "x", who)
    wif = _buf(w_ih, G * I, "w_ih", who)
    whf = _buf(w_hh, G * H, "w_hh", who)
    h0f = _buf(h0, B * H, "h0", who)
    cnf, has_cn = _opt(cn, B * H, "cn", who)
    svf, has_sv = _opt(saved, T * B * H, "saved", who)
    bif, has_bi = _opt(b_ih, G, "b_ih", who)
    bhf, has_bh = _opt(b_hh, G, "b_hh", who)
    c0f, has_c0 = _opt(c0, B * H, "c0", who)
    if mode == RNN_LSTM and not (has_cn and has_c0 and has_sv):
        raise ValueError("rnn_layer_forward: LSTM needs cn, c0 and saved")
    if mode == RNN_GRU and not has_sv:
        raise ValueError("rnn_layer_forward: GRU needs saved")
    # the input projection of every step: gates[T*B, G] = x @ W_ih^T + b_ih
    _matmul(0, 1, gf, 0, G, xf, 0, I, wif, 0, I, T * B, G, I, False,
            bias=bif if has_bi else None)
    w_t = empty(G * H, np.float32)   # W_hh^T; held until the recurrence is queued
    _transpose[_launch.grid(G * H)](w_t.flat, whf, G, H)
    nt = _threads(H)
    hs = 0 if H > H_SHARED else (H if SIM else 1 << (H - 1).bit_length())
    kern = _forward_kernel(mode, nt, hs)
    kern[min(B, _launch.MAX_BLOCKS), nt](of, col, ldo, hnf, cnf, gf, svf, w_t.flat, bhf, has_bh,
                                         h0f, c0f, T, B, H, 1 if reverse else 0)


def rnn_layer_backward(mode, reverse, T, B, I, H, ldo, col, dx, dw_ih, dw_hh, db_ih, db_hh,
                       dh0, dc0, dg, dgh, ws, dout, dhn, dcn, x, w_ih, w_hh, h0, c0, out, gates,
                       saved, dx_accumulate):
    """Backward of rnn_layer_forward; dw_*/db_* are added into, dx overwritten (or added),
    dh0/dc0 overwritten; any of them may be None. dout has out's layout (columns col..)."""
    who = "rnn_layer_backward"
    G = _check_sizes(who, mode, T, B, I, H, ldo, col)
    dgf = _buf(dg, T * B * G, "dg", who)
    wsf = _buf(ws, 2 * B * H, "ws", who)
    dof = _buf(dout, T * B * ldo, "dout", who)
    xf = _buf(x, T * B * I, "x", who)
    wif = _buf(w_ih, G * I, "w_ih", who)
    whf = _buf(w_hh, G * H, "w_hh", who)
    h0f = _buf(h0, B * H, "h0", who)
    of = _buf(out, T * B * ldo, "out", who)
    gf = _buf(gates, T * B * G, "gates", who)
    dxf, has_dx = _opt(dx, T * B * I, "dx", who)
    dwif, has_dwi = _opt(dw_ih, G * I, "dw_ih", who)
    dwhf, has_dwh = _opt(dw_hh, G * H, "dw_hh", who)
    dbif, has_dbi = _opt(db_ih, G, "db_ih", who)
    dbhf, has_dbh = _opt(db_hh, G, "db_hh", who)
    dh0f, has_dh0 = _opt(dh0, B * H, "dh0", who)
    dc0f, has_dc0 = _opt(dc0, B * H, "dc0", who)
    dghf, has_dgh = _opt(dgh, T * B * G, "dgh", who)
    dhnf, has_dhn = _opt(dhn, B * H, "dhn", who)
    dcnf, has_dcn = _opt(dcn, B * H, "dcn", who)
    c0f, has_c0 = _opt(c0, B * H, "c0", who)
    svf, has_sv = _opt(saved, T * B * H, "saved", who)
    if mode == RNN_LSTM and not (has_c0 and has_sv):
        raise ValueError("rnn_layer_backward: LSTM needs c0 and saved")
    if mode == RNN_GRU and not (has_sv and has_dgh):
        raise ValueError("rnn_layer_backward: GRU needs saved and dgh")
    nt = _threads(H)
    gs = 0 if G > G_SHARED else (G if SIM else 1 << (G - 1).bit_length())
    kern = _backward_kernel(mode, nt, gs)
    kern[min(B, _launch.MAX_BLOCKS), nt](dgf, dghf, wsf, dof, col, ldo, dhnf, has_dhn, dcnf,
                                         has_dcn, h0f, c0f, of, gf, svf, whf, dh0f, has_dh0,
                                         dc0f, has_dc0, T, B, H, 1 if reverse else 0)
    dgr = dghf if mode == RNN_GRU else dgf      # the hidden-side pre-activation gradients
    if has_dwh:
        # dW_hh += sum_t dgr[t]^T @ h_prev(t): the steps after the first read h_prev from the
        # output ((T-1)*B rows at once), the first one from h0 (as rnn.c)
        first = T - 1 if reverse else 0
        if T > 1:
            _matmul(1, 0, dwhf, 0, H, dgr, 0 if reverse else B * G, G, of,
                    col + (B * ldo if reverse else 0), ldo, G, H, (T - 1) * B, True)
        _matmul(1, 0, dwhf, 0, H, dgr, first * B * G, G, h0f, 0, H, G, H, B, True)
    if has_dbh:
        _colsum_launch(dbhf, dgr, T * B, G, 1.0)
    if has_dbi:
        _colsum_launch(dbif, dgf, T * B, G, 1.0)
    if has_dwi:
        _matmul(1, 0, dwif, 0, I, dgf, 0, G, xf, 0, I, G, I, T * B, True)
    if has_dx:
        _matmul(0, 0, dxf, 0, I, dgf, 0, G, wif, 0, I, T * B, I, G, bool(dx_accumulate))


# ---------------------------------------------------------------------- PTX checks
def _ptx_checks():
    f32, i64 = float32[::1], int64
    fwd = (f32, i64, i64, f32, f32, f32, f32, f32, f32, i64, f32, f32, i64, i64, i64, i64)
    bwd = (f32, f32, f32, f32, i64, i64, f32, i64, f32, i64, f32, f32, f32, f32, f32, f32,
           f32, i64, f32, i64, i64, i64, i64, i64)
    checks = [(_transpose, (f32, f32, i64, i64))]   # the matmuls: gemm.py's PTX_CHECKS
    for mode in (RNN_TANH, RNN_RELU, RNN_LSTM, RNN_GRU):
        for hs in (0, 1024):
            checks.append((_forward_kernel(mode, 256, hs), fwd))
            checks.append((_backward_kernel(mode, 256, 4 * hs), bwd))
    return checks


PTX_CHECKS = _ptx_checks()
