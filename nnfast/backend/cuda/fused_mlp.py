"""Fused training step of a narrow MLP on the GPU: two launches per step.

What it is: the kernels behind nnfast.compile_step for a model on CUDA (nnfast/compile_cuda.py
drives them). For a chain of Linear layers, each followed by an optional activation (the
eight act.c kinds) and an optional Dropout, with every width after the input <= MAXW:

  launch 1, `fused_mlp_kernel`: blocks own row tiles of the batch (grid-stride over tiles).
      For its tile a block runs the forward (GEMM + bias + activation + dropout per layer;
      a layer's weights staged in shared memory when they fit), the loss of its rows (cross
      entropy on class indices with weight / ignore_index / label smoothing, or MSE) and
      d(loss)/d(logits), then the backward (dropout mask and activation derivative, dW, db,
      dx) with the gradient of the tile in shared memory. Weight gradients are not summed
      across blocks here: each block writes its partial dW / db to its own slice of a
      workspace `part[block, P]` (P = the optimizer group's flat size, same layout), adding
      its tiles in order; its loss partial goes to `lpart[block]`.
  launch 2, `reduce_update_kernel`: element i of the flat buffers sums the block slices in
      block order (a fixed order: deterministic, no float atomics), writes the gradient into
      the optimizer's flat gradient buffer (so p.grad is what backward would leave) and, for
      Adam/AdamW and SGD, runs the update of optim.py's kernels on it in the same pass; block
      0 also folds the loss partials into the 0-d loss. Other optimizers run their own
      kernel after it (kind UPDATE_NONE here).

Numerics: forward and backward sums run over k in index order in float32 (the CPU GEMM's
order differs: equal to float32 rounding, not bit for bit). The loss and its gradient follow
loss.py's cross_entropy (double per row, the mean's divisor computed by each block over the
whole batch, in a fixed tree) and csrc/loss.c's MSE; the activation functions are act.py's,
the dropout stream dropout.py's (same seed, same mask as the CPU), the updates optim.py's
(bit for bit for the same gradient).

Tile sizes are parameters of `kernels(rows, threads, maxw, wshared)`: production sizes for
a real GPU (PRODUCTION), tiny under the simulator (SIM_TILES) so that tests cross tile and
block edges and the shared/global weight paths in seconds.

What it is not: wider layers (> MAXW after the input: the eager CUDA loop runs), more than
MAX_DROPOUT dropouts, anything before the first Linear but a Flatten, a CUDA graph.
"""
import math

import numpy as np
from numba import cuda, float32, float64, int32, int64, uint64

from . import _launch
from . import act as _act
from ._rounding import _sub
from .dropout import _bits
from .loss import _block_sum, _class_weight_total, _weight_sum
from .optim import _adam_elem, _sgd_elem

__all__ = []

SIM = _launch.SIM
F0, F1, F2, HALF = np.float32(0), np.float32(1), np.float32(2), np.float32(0.5)
NAN32, NEG_INF32 = np.float32(np.nan), np.float32(-np.inf)
_U = np.uint64

# (rows per tile, threads per block, widest layer after the input, weight floats in shared)
PRODUCTION = (8, 128, 128, 8448)     # shared: 8448 + 2*8*128 floats + 128 doubles ~ 43 KiB
SIM_TILES = (2, 16, 8, 24)           # 6-5-3: the 5x6 weight reads global, the 3x5 shared
TILES = SIM_TILES if SIM else PRODUCTION
MAXW = TILES[2]                      # the widest layer (after the input) that is fused
MAX_BLOCKS = 2 if SIM else 132       # one block per SM of an H200; tiles grid-stride
MAX_DROPOUT = 4
META = 8                             # int64 fields per layer in `meta`
FMETA = 2                            # float32 fields per layer in `fmeta`
LOSS_CE, LOSS_MSE = 0, 1             # = compile.py's _CE, _MSE
UPDATE_NONE, UPDATE_SGD, UPDATE_ADAM = 0, 1, 2   # = _C.UPDATE_* (0: gradient only)
_NO_ACT = -1

_dev = cuda.jit(device=True, inline=True)


# ===================================================================== activations by kind

@_dev
def _act_f(kind, x, a):
    """act.py's forward of kind (nnfast/nn/_functional_act.py codes 0-7)."""
    if kind == 0:
        return _act._relu_f(x, a, F0)
    if kind == 1:
        return _act._leaky_f(x, a, F0)
    if kind == 2:
        return _act._elu_f(x, a, F0)
    if kind == 3:
        return _act._sigmoid_f(x, a, F0)
    if kind == 4:
        return _act._tanh_f(x, a, F0)
    if kind == 5:
        return _act._gelu_f(x, a, F0)
    if kind == 6:
        return _act._gelu_tanh_f(x, a, F0)
    return _act._silu_f(x, a, F0)


@_dev
def _act_b(kind, dy, z, a):
    """act.py's backward of kind at pre-activation z (sigmoid and tanh take their output,
    recomputed from z: the same value the forward stored)."""
    if kind == 0:
        return _act._relu_b(dy, z, a, F0)
    if kind == 1:
        return _act._leaky_b(dy, z, a, F0)
    if kind == 2:
        return _act._elu_b(dy, z, a, F0)
    if kind == 3:
        return _act._sigmoid_b(dy, _act._sigmoid_f(z, a, F0), a, F0)
    if kind == 4:
        return _act._tanh_b(dy, _act._tanh_f(z, a, F0), a, F0)
    if kind == 5:
        return _act._gelu_b(dy, z, a, F0)
    if kind == 6:
        return _act._gelu_tanh_b(dy, z, a, F0)
    return _act._silu_b(dy, z, a, F0)


@_dev
def _pick(d, v0, v1, v2, v3):
    if d == 0:
        return v0
    if d == 1:
        return v1
    if d == 2:
        return v2
    return v3


@_dev
def _drop(g, d, active, seed0, seed1, seed2, seed3, th0, th1, th2, th3, i, scale):
    """g times dropout d's factor at element i (scale or 0); g when d is absent/inactive."""
    if d < 0 or ((active >> d) & 1) == 0:
        return g
    keep = _bits(_pick(d, seed0, seed1, seed2, seed3), i) >= _pick(d, th0, th1, th2, th3)
    return g * (scale if keep else F0)   # times 0: a dropped -x gives -0, NaN NaN (as the C)


# ===================================================================== launch 1

_cache = {}


def kernels(rows, threads, maxw, wshared):
    """(fused_mlp_kernel, reduce_update_kernel) for these tile sizes (cached)."""
    key = (rows, threads, maxw, wshared)
    k = _cache.get(key)
    if k is None:
        # static shared memory is capped at 48 KiB a block; the block trees halve threads
        assert (wshared + 2 * rows * maxw) * 4 + threads * 8 <= 48 * 1024, key
        assert threads & (threads - 1) == 0, key
        k = _cache[key] = (cuda.jit(_make_fused(rows, threads, maxw, wshared)),
                           cuda.jit(_make_reduce_update(threads)))
    return k


def _make_fused(R, T, MAXW, WS):
    GSIZE = R * MAXW
    GSIZE2 = 2 * GSIZE       # (a shared array's size must be a constant, not an expression)

    def fused_mlp(x, ti, tf, cw, params, meta, fmeta, L, M, ws, part, P, lpart, stats,
                  loss_kind, mean, ignore, eps, mse_scale, active,
                  seed0, seed1, seed2, seed3, th0, th1, th2, th3):
        # x [M, n0]; ti [M] int64 (CE) / tf [M, C] (MSE); cw [C] or empty; params: the flat
        # parameter buffer; ws: per layer Z [M, n_out] then H [M, n_out], at 2 M c_l;
        # part [gridDim, P]; lpart [gridDim] float64; stats [1]: the mean's divisor.
        shw = cuda.shared.array(WS, float32)         # a layer's weight, rows padded by 1
        shg = cuda.shared.array(GSIZE2, float32)  # the tile's gradient, ping-pong
        shd = cuda.shared.array(T, float64)
        t = cuda.threadIdx.x
        blk = cuda.blockIdx.x
        nb = cuda.gridDim.x
        C = meta[(L - 1) * META + 1]
        W = 1.0
        wall = 0.0
        if loss_kind == LOSS_CE:
            if mean:
                W = _weight_sum(shd, ti, cw, M, C, ignore)
            wall = _class_weight_total(shd, cw, C)
        if blk == 0 and t == 0:
            stats[0] = W
        scale = 1.0 / W
        has_w = len(cw) != 0
        b_eps = eps / C
        bs = np.float32(scale * b_eps)
        acc = 0.0
        first = True
        ntiles = (M + R - 1) // R
        tile = blk
        while tile < ntiles:
            r0 = tile * R
            nr = M - r0 if M - r0 < R else R
            # ---------------------------------------------------------- forward
            for l in range(L):
                n_in = meta[l * META]
                n_out = meta[l * META + 1]
                woff = meta[l * META + 2]
                boff = meta[l * META + 3]
                kind = meta[l * META + 4]
                d = meta[l * META + 5]
                zoff = 2 * M * meta[l * META + 6]
                hoff = zoff + M * n_out
                a = fmeta[l * FMETA]
                dscale = fmeta[l * FMETA + 1]
                ld = n_in + 1
                fits = n_out * ld <= WS
                if fits:
                    idx = t
                    while idx < n_out * n_in:
                        j = idx // n_in
                        shw[j * ld + idx - j * n_in] = params[woff + idx]
                        idx += T
                # the layer's input: x, or the previous layer's H in ws
                hin = 0 if l == 0 else 2 * M * meta[(l - 1) * META + 6] + M * n_in
                cuda.syncthreads()
                idx = t
                while idx < nr * n_out:
                    r = idx // n_out
                    j = idx - r * n_out
                    row = r0 + r
                    s = F0
                    ib = hin + row * n_in
                    if l == 0:
                        for k in range(n_in):
                            wv = shw[j * ld + k] if fits else params[woff + j * n_in + k]
                            s += x[ib + k] * wv
                    else:
                        for k in range(n_in):
                            wv = shw[j * ld + k] if fits else params[woff + j * n_in + k]
                            s += ws[ib + k] * wv
                    if boff >= 0:
                        s += params[boff + j]
                    ws[zoff + row * n_out + j] = s
                    h = _act_f(kind, s, a) if kind >= 0 else s
                    ws[hoff + row * n_out + j] = _drop(h, d, active, seed0, seed1, seed2,
                                                       seed3, th0, th1, th2, th3,
                                                       row * n_out + j, dscale)
                    idx += T
                cuda.syncthreads()
            # ---------------------------------------------------------- loss
            goff = 0                      # the gradient being propagated: shg[goff:]
            loff = 2 * M * meta[(L - 1) * META + 6] + M * C    # logits: the last H
            if loss_kind == LOSS_CE:
                r = t
                while r < nr:
                    row = r0 + r
                    base = loff + row * C
                    y = ti[row]
                    if y == ignore or y < 0 or y >= C:   # ignored: 0; out of range: NaN
                        fill = F0 if y == ignore else NAN32
                        acc += np.float64(fill)
                        for c in range(C):
                            shg[r * C + c] = fill
                        r += T
                        continue
                    m = NEG_INF32
                    for c in range(C):
                        m = max(m, ws[base + c])
                    s = 0.0
                    sx = 0.0
                    for c in range(C):
                        v = ws[base + c]
                        s += np.float64(math.exp(v - m))
                        if eps != 0.0:
                            sx += (np.float64(cw[c]) if has_w else 1.0) * np.float64(v)
                    lse = np.float64(m) + math.log(s)
                    wy = np.float64(cw[y]) if has_w else 1.0
                    acc += (1.0 - eps) * wy * (lse - np.float64(ws[base + y])) + \
                        b_eps * (wall * lse - sx)
                    ca = np.float32(scale * ((1.0 - eps) * wy + b_eps * wall))
                    inv_s = np.float32(1.0 / s)
                    hit = np.float32(scale * (1.0 - eps) * wy)
                    for c in range(C):
                        p = np.float32(math.exp(ws[base + c] - m)) * inv_s
                        g = ca * p - bs * (cw[c] if has_w else F1)
                        if c == y:
                            g -= hit
                        shg[r * C + c] = g
                    r += T
            else:
                idx = t
                while idx < nr * C:
                    dd = ws[loff + r0 * C + idx] - tf[r0 * C + idx]
                    acc += np.float64(dd * dd)
                    shg[idx] = mse_scale * (F2 * dd)
                    idx += T
            cuda.syncthreads()
            # ---------------------------------------------------------- backward
            for l in range(L - 1, -1, -1):
                n_in = meta[l * META]
                n_out = meta[l * META + 1]
                woff = meta[l * META + 2]
                boff = meta[l * META + 3]
                kind = meta[l * META + 4]
                d = meta[l * META + 5]
                zoff = 2 * M * meta[l * META + 6]
                a = fmeta[l * FMETA]
                dscale = fmeta[l * FMETA + 1]
                ld = n_in + 1
                fits = n_out * ld <= WS
                # dZ = act'(Z) * dropout'(dH), in place
                idx = t
                while idx < nr * n_out:
                    r = idx // n_out
                    j = idx - r * n_out
                    row = r0 + r
                    g = _drop(shg[goff + idx], d, active, seed0, seed1, seed2, seed3,
                              th0, th1, th2, th3, row * n_out + j, dscale)
                    if kind >= 0:
                        g = _act_b(kind, g, ws[zoff + row * n_out + j], a)
                    shg[goff + idx] = g
                    idx += T
                if fits and l > 0:
                    idx = t
                    while idx < n_out * n_in:
                        j = idx // n_in
                        shw[j * ld + idx - j * n_in] = params[woff + idx]
                        idx += T
                cuda.syncthreads()
                # this block's dW += dZ^T H_in over the tile's rows, db += sum of dZ
                ib = r0 * n_in if l == 0 else \
                    2 * M * meta[(l - 1) * META + 6] + M * n_in + r0 * n_in
                pb = blk * P
                idx = t
                while idx < n_out * n_in:
                    j = idx // n_in
                    k = idx - j * n_in
                    s = F0
                    if l == 0:
                        for r in range(nr):
                            s += shg[goff + r * n_out + j] * x[ib + r * n_in + k]
                    else:
                        for r in range(nr):
                            s += shg[goff + r * n_out + j] * ws[ib + r * n_in + k]
                    q = pb + woff + idx
                    part[q] = s if first else part[q] + s
                    idx += T
                if boff >= 0:
                    j = t
                    while j < n_out:
                        s = F0
                        for r in range(nr):
                            s += shg[goff + r * n_out + j]
                        q = pb + boff + j
                        part[q] = s if first else part[q] + s
                        j += T
                # dH_in = dZ W, into the other half
                if l > 0:
                    noff = GSIZE - goff
                    idx = t
                    while idx < nr * n_in:
                        r = idx // n_in
                        k = idx - r * n_in
                        s = F0
                        for j in range(n_out):
                            wv = shw[j * ld + k] if fits else params[woff + j * n_in + k]
                            s += shg[goff + r * n_out + j] * wv
                        shg[noff + idx] = s
                        idx += T
                    goff = noff
                cuda.syncthreads()
            first = False
            tile += nb
        total = _block_sum(shd, acc)
        if t == 0:
            lpart[blk] = total

    return fused_mlp


# ===================================================================== launch 2
# The per-element updates are optim.py's _adam_elem and _sgd_elem, on the reduced g.

def _make_reduce_update(T):
    def reduce_update(part, nb, P, grad, param, s0, s1, s2, kind, f0, f1, f2, f3, f4, f5, f6,
                      f7, i0, i1, i2, lpart, stats, res, loss_mul, loss_div):
        # grad[i] = sum over blocks b (in order) of part[b, i], then the update of `kind`
        # with the record's floats f* and ints i* (optim.py's argument order); s0..s2 the
        # record's state buffers (param stands in for an absent one, flagged off)
        small = abs(f2) < HALF
        coef = f2 if small else _sub(f2, F1)
        i = cuda.grid(1)
        step = cuda.gridsize(1)
        while i < P:
            g = part[i]
            for b in range(1, nb):
                g += part[b * P + i]
            grad[i] = g
            if kind == UPDATE_ADAM:
                _adam_elem(param, s0, s1, s2, i, g, f0, f1, coef, small, f3, f4, f5, f6, f7,
                           i1, i0)
            elif kind == UPDATE_SGD:
                _sgd_elem(param, s0, i, g, f0, f1, f2, f3, i2, i0, i1, 0)
            i += step
        if cuda.blockIdx.x == 0 and cuda.threadIdx.x == 0:
            total = 0.0
            for b in range(nb):
                total += lpart[b]
            res[0] = np.float32(total / stats[0]) if loss_div else np.float32(total * loss_mul)

    return reduce_update


# ===================================================================== host side

def meta_arrays(layers, offsets):
    """(meta int64 [L*META], fmeta float32 [L*FMETA]) on the host for the layer list
    [(n_in, n_out, weight param index, bias param index or None, act kind or None,
    act scalar, dropout index or None, dropout scale)] and the group's flat offsets."""
    meta = np.zeros(len(layers) * META, np.int64)
    fmeta = np.zeros(len(layers) * FMETA, np.float32)
    c = 0
    for l, (n_in, n_out, wi, bi, kind, a, d, dscale) in enumerate(layers):
        meta[l * META:(l + 1) * META] = (n_in, n_out, offsets[wi],
                                         -1 if bi is None else offsets[bi],
                                         _NO_ACT if kind is None else kind,
                                         -1 if d is None else d, c, 0)
        fmeta[l * FMETA:(l + 1) * FMETA] = (a, dscale)
        c += n_out
    return meta, fmeta, c


# ===================================================================== PTX checks

def _ptx_checks():
    A32, A64, AI = float32[::1], float64[::1], int64[::1]
    fused_sig = (A32, AI, A32, A32, A32, AI, A32, int64, int64, A32, A32, int64, A64, A64,
                 int64, int64, int64, float64, float32, int64) + (uint64,) * 8
    red_sig = (A32, int64, int64, A32, A32, A32, A32, A32, int64) + (float32,) * 8 + \
        (int32,) * 3 + (A64, A64, A32, float64, int64)
    # the kernels are generic in widths (<= MAXW), activation kind and loss: one signature
    # covers 64/128 widths, relu/tanh, CE/MSE at the production tile sizes
    fused, red = kernels(*PRODUCTION)
    return [(fused, fused_sig), (red, red_sig)]


PTX_CHECKS = [] if SIM else _ptx_checks()
