"""Recurrent layers over whole sequences (the engine behind nn.RNN/LSTM/GRU and their cells)
and F.embedding.

`rnn_forward` runs a stack of layers (each one or two directions) and records ONE autograd
node for the whole call: backprop through time is a reverse loop inside that node.
float32 runs csrc/rnn.c (the time loop in C: one input-projection GEMM per layer/direction,
then per step one h @ W_hh^T GEMM and one fused gate kernel; backward likewise, with dW_ih,
dW_hh and dinput each one GEMM over all steps). float64 runs the NumPy reference below, same
formulas and the same saved quantities; tests hold the two equal, and use the reference for
finite-difference checks.

The node's outputs (output, h_n and, for LSTM, c_n) live in one flat array; the tensors the
caller gets are views of it, each with a tiny node that routes its gradient into the flat
one, so a loss that uses several of them still runs BPTT once.

Deviations from PyTorch: no PackedSequence; LSTM proj_size is not supported; dropout masks
come from nnfast's generator (same distribution, other values); Embedding max_norm is not
supported and sparse=True yields a dense gradient (same values).
"""
import numpy as np

from ..backend import table_of
from .. import autograd as ag
from .. import random as nf_random
from ..amp import AUTOCAST_SEEN as _AUTOCAST_SEEN, lowp as _lowp
from ..errors import DTypeError
from ..tensor import Tensor
from ..backend import contiguous

__all__ = ["embedding"]

RNN_TANH, RNN_RELU, LSTM, GRU = 0, 1, 2, 3
N_GATES = {RNN_TANH: 1, RNN_RELU: 1, LSTM: 4, GRU: 3}


# ===================================================================== NumPy reference
# One layer, one direction, whole sequence: same contract as nf_rnn_layer_forward/backward
# (csrc/rnn.c), arrays in any float dtype, out[T, B, H] returned instead of written strided.

def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def ref_layer_forward(mode, x, w_ih, w_hh, b_ih, b_hh, h0, c0, reverse):
    """x[T,B,I] -> out[T,B,H], hn, cn (LSTM, else None), gates[T,B,G*H], saved[T,B,H]."""
    T, B, I = x.shape
    H = w_hh.shape[1]
    gates = (x.reshape(T * B, I) @ w_ih.T).reshape(T, B, w_ih.shape[0])
    if b_ih is not None:
        gates += b_ih
    out = np.empty((T, B, H), x.dtype)
    saved = np.empty((T, B, H), x.dtype) if mode in (LSTM, GRU) else None
    h, c = h0, c0
    for t in _steps(T, reverse):
        gh = h @ w_hh.T
        if b_hh is not None:
            gh = gh + b_hh
        if mode in (RNN_TANH, RNN_RELU):
            a = gates[t] + gh
            h = np.tanh(a) if mode == RNN_TANH else np.maximum(a, 0)
        elif mode == LSTM:
            a = gates[t] + gh
            i, f = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H])
            g, o = np.tanh(a[:, 2 * H:3 * H]), _sigmoid(a[:, 3 * H:])
            c = f * c + i * g
            h = o * np.tanh(c)
            gates[t] = np.concatenate([i, f, g, o], axis=1)
            saved[t] = c
        else:
            gx = gates[t]
            r = _sigmoid(gx[:, :H] + gh[:, :H])
            z = _sigmoid(gx[:, H:2 * H] + gh[:, H:2 * H])
            hl = gh[:, 2 * H:]
            n = np.tanh(gx[:, 2 * H:] + r * hl)
            h = n + z * (h - n)
            gates[t] = np.concatenate([r, z, n], axis=1)
            saved[t] = hl
        out[t] = h
    return out, h.copy(), (c.copy() if mode == LSTM else None), gates, saved


def ref_layer_backward(mode, reverse, dout, dhn, dcn, x, w_ih, w_hh, h0, c0, out, gates,
                       saved, need_dx=True):
    """Gradients of ref_layer_forward: dict of dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0."""
    T, B, I = x.shape
    H = w_hh.shape[1]
    dg = np.empty_like(gates)
    dgr = np.empty_like(gates) if mode == GRU else dg
    dh = np.zeros((B, H), x.dtype) if dhn is None else dhn.astype(x.dtype, copy=True)
    dc = None
    if mode == LSTM:
        dc = np.zeros((B, H), x.dtype) if dcn is None else dcn.astype(x.dtype, copy=True)
    first = T - 1 if reverse else 0
    for t in reversed(list(_steps(T, reverse))):
        tp = t + 1 if reverse else t - 1
        hp = h0 if t == first else out[tp]
        dhv = dout[t] + dh
        if mode == RNN_TANH:
            dg[t] = dhv * (1 - out[t] * out[t])
        elif mode == RNN_RELU:
            dg[t] = np.where(out[t] > 0, dhv, 0)
        elif mode == LSTM:
            i, f, g, o = (gates[t][:, k * H:(k + 1) * H] for k in range(4))
            cp = c0 if t == first else saved[tp]
            tc = np.tanh(saved[t])
            dcv = dc + dhv * o * (1 - tc * tc)
            dg[t] = np.concatenate([dcv * g * i * (1 - i), dcv * cp * f * (1 - f),
                                    dcv * i * (1 - g * g), dhv * tc * o * (1 - o)], axis=1)
            dc = dcv * f
        else:
            r, z, n = (gates[t][:, k * H:(k + 1) * H] for k in range(3))
            dan = dhv * (1 - z) * (1 - n * n)
            dar = dan * saved[t] * r * (1 - r)
            daz = dhv * (hp - n) * z * (1 - z)
            dg[t] = np.concatenate([dar, daz, dan], axis=1)
            dgr[t] = np.concatenate([dar, daz, dan * r], axis=1)
        dh = dgr[t] @ w_hh
        if mode == GRU:
            dh += dhv * z
    hprev = (np.concatenate([out[1:], h0[None]]) if reverse
             else np.concatenate([h0[None], out[:-1]]))
    G = dg.shape[2]
    dg2, dgr2 = dg.reshape(T * B, G), dgr.reshape(T * B, G)
    return dict(dx=(dg2 @ w_ih).reshape(T, B, I) if need_dx else None,
                dw_ih=dg2.T @ x.reshape(T * B, I), dw_hh=dgr2.T @ hprev.reshape(T * B, H),
                db_ih=dg2.sum(0), db_hh=dgr2.sum(0), dh0=dh, dc0=dc)


# ===================================================================== the stack driver

def _f32(a):
    return contiguous(a, dtype=np.float32).reshape(-1)


def _opt32(a):
    return None if a is None else _f32(a)


def _param_dest(p, rets, k):
    """Where to accumulate p's gradient: a zeroed array the node returns (rets[k]), or the
    leaf's own grad storage (grad_sink), zeroed first if it is fresh. None if not needed."""
    if p is None or not p.requires_grad:
        return None
    K = table_of(p._storage)
    if p._node is None and p._storage.dtype == np.float32:
        sink, acc = ag.grad_sink(p)
        if sink is not None:
            if not acc:
                sink[...] = 0
            return sink
    rets[k] = K.zeros(p._storage.shape, p._storage.dtype)
    return rets[k]


def rnn_forward(mode, x, h0, c0, weights, num_layers, bidirectional, dropout, training,
                reference=False):
    """Run the stack. x: Tensor [T, B, I] time-major; h0, c0: Tensors [L*D, B, H] or None
    (zeros; c0 only for LSTM); weights: flat list of Parameters in PyTorch's order (per layer,
    per direction: w_ih, w_hh, b_ih, b_hh; biases None when bias=False).
    Returns (output [T, B, D*H], h_n [L*D, B, H], c_n or None) as Tensors."""
    xd = x._storage
    K = table_of(xd, weights[0]._storage, None if h0 is None else h0._storage, None if c0 is None else c0._storage)
    dt = xd.dtype
    T, B, _ = xd.shape
    D = 2 if bidirectional else 1
    L = num_layers
    H = weights[1]._storage.shape[1]
    G = N_GATES[mode] * H
    fast = dt == np.float32 and not reference and B > 0
    lp = fast and _AUTOCAST_SEEN[0] and _lowp(K)   # autocast: bf16/fp16 GEMMs, forward and backward
    amp = {"prec": lp} if lp else {}   # (the CUDA table's kernels take no such flag)
    h0d = K.zeros((L * D, B, H), dt) if h0 is None else h0._storage
    c0d = None
    if mode == LSTM:
        c0d = K.zeros((L * D, B, H), dt) if c0 is None else c0._storage
    # one flat array holds the results: output, h_n, c_n
    n_out, n_h = T * B * D * H, L * D * B * H
    flat = K.empty(n_out + n_h * (2 if mode == LSTM else 1), dt)
    out_last = flat[:n_out].reshape(T, B, D * H)
    hn_all = flat[n_out:n_out + n_h].reshape(L * D, B, H)
    cn_all = flat[n_out + n_h:].reshape(L * D, B, H) if mode == LSTM else None
    p = float(dropout) if training and L > 1 else 0.0
    gen = nf_random.default_generator()
    layers = []   # per layer: (input array [T,B,I], [per-direction saved], dropout mask)
    inp = contiguous(xd) if fast else xd
    for layer in range(L):
        I = inp.shape[2]
        out = out_last if layer == L - 1 else K.empty((T, B, D * H), dt)
        dirs = []
        for d in range(D):
            k = layer * D + d
            w_ih, w_hh, b_ih, b_hh = (None if w is None else w._storage
                                      for w in weights[4 * k:4 * k + 4])
            hk = h0d[k]
            ck = c0d[k] if mode == LSTM else None
            if fast:
                gates = K.empty((T, B, G), np.float32)
                saved = K.empty((T, B, H), np.float32) if mode in (LSTM, GRU) else None
                hk, ck = _f32(hk), _opt32(ck)
                K.rnn_layer_forward(mode, d == 1, T, B, I, H, D * H, d * H, out.reshape(-1),
                                     hn_all[k].reshape(-1),
                                     None if cn_all is None else cn_all[k].reshape(-1),
                                     gates.reshape(-1), _opt32(saved),
                                     K.empty(B * G, np.float32), inp.reshape(-1), _f32(w_ih),
                                     _f32(w_hh), _opt32(b_ih), _opt32(b_hh), hk, ck, **amp)
            else:
                o, hn, cn, gates, saved = ref_layer_forward(mode, inp, w_ih, w_hh, b_ih, b_hh,
                                                            hk, ck, d == 1)
                out[:, :, d * H:(d + 1) * H] = o
                hn_all[k] = hn
                if mode == LSTM:
                    cn_all[k] = cn
            dirs.append((gates, saved, hk, ck))
        mask = None
        if p > 0 and layer < L - 1:
            keep = gen.random(out.shape) >= p
            mask = (keep / (1.0 - p)).astype(dt) if p < 1 else K.zeros(out.shape, dt)
        layers.append((inp, dirs, out, mask))
        inp = out if mask is None else out * mask

    inputs = (x, h0, c0 if mode == LSTM else None) + tuple(weights)
    if not ag.needs_grad(*inputs):
        return (Tensor._make(out_last), Tensor._make(hn_all),
                None if cn_all is None else Tensor._make(cn_all))

    def backward(gflat):
        gflat = gflat.astype(dt, copy=False)
        g_out = gflat[:n_out].reshape(T, B, D * H)
        g_hn = gflat[n_out:n_out + n_h].reshape(L * D, B, H)
        g_cn = gflat[n_out + n_h:].reshape(L * D, B, H) if mode == LSTM else None
        rets = [None] * len(inputs)
        dests = [_param_dest(w, rets, 3 + i) for i, w in enumerate(weights)]
        dh0 = K.empty((L * D, B, H), dt) if h0 is not None and h0.requires_grad else None
        dc0 = (K.empty((L * D, B, H), dt)
               if mode == LSTM and c0 is not None and c0.requires_grad else None)
        g = contiguous(g_out) if fast else g_out
        for layer in range(L - 1, -1, -1):
            inp, dirs, out, mask = layers[layer]
            I = inp.shape[2]
            need_dx = layer > 0 or x.requires_grad
            dx = K.empty((T, B, I), dt) if need_dx else None
            for d in range(D):
                k = layer * D + d
                gates, saved, hk, ck = dirs[d]
                dw_ih, dw_hh, db_ih, db_hh = dests[4 * k:4 * k + 4]
                dhn = g_hn[k]
                dcn = g_cn[k] if mode == LSTM else None
                if fast:
                    dgh = K.empty(T * B * G, np.float32) if mode == GRU else None
                    K.rnn_layer_backward(
                        mode, d == 1, T, B, I, H, D * H, d * H,
                        None if dx is None else dx.reshape(-1), _flat_or_none(dw_ih),
                        _flat_or_none(dw_hh), _flat_or_none(db_ih), _flat_or_none(db_hh),
                        None if dh0 is None else dh0[k].reshape(-1),
                        None if dc0 is None else dc0[k].reshape(-1),
                        K.empty(T * B * G, np.float32), dgh, K.empty(2 * B * H, np.float32),
                        g.reshape(-1), _f32(dhn), _opt32(dcn), inp.reshape(-1),
                        _f32(weights[4 * k]._storage), _f32(weights[4 * k + 1]._storage), hk, ck,
                        out.reshape(-1), gates.reshape(-1), _opt32(saved), d == 1, **amp)
                else:
                    o = out[:, :, d * H:(d + 1) * H]
                    r = ref_layer_backward(mode, d == 1, g[:, :, d * H:(d + 1) * H], dhn, dcn,
                                           inp, weights[4 * k]._storage, weights[4 * k + 1]._storage,
                                           hk, ck, o, gates, saved, need_dx)
                    if need_dx:
                        if d == 0:
                            dx[...] = r["dx"]
                        else:
                            dx += r["dx"]
                    for dest, key in zip((dw_ih, dw_hh, db_ih, db_hh),
                                         ("dw_ih", "dw_hh", "db_ih", "db_hh")):
                        if dest is not None:
                            dest += r[key]
                    if dh0 is not None:
                        dh0[k] = r["dh0"]
                    if dc0 is not None:
                        dc0[k] = r["dc0"]
            if layer > 0:
                prev_mask = layers[layer - 1][3]
                g = dx if prev_mask is None else dx * prev_mask
            else:
                rets[0] = dx
        rets[1], rets[2] = dh0, dc0
        return tuple(rets)

    name = {RNN_TANH: "Rnn", RNN_RELU: "Rnn", LSTM: "Lstm", GRU: "Gru"}[mode]
    packed = Tensor._make(flat, True, ag.Node(inputs, backward, name))

    def view(arr, lo, hi, what):
        def bw(g):
            z = K.zeros(flat.shape, dt)
            z[lo:hi] = g.astype(dt, copy=False).reshape(-1)
            return (z,)
        return Tensor._make(arr, True, ag.Node((packed,), bw, name + what))

    return (view(out_last, 0, n_out, "Output"), view(hn_all, n_out, n_out + n_h, "Hn"),
            None if cn_all is None else view(cn_all, n_out + n_h, flat.size, "Cn"))


def _flat_or_none(a):
    return None if a is None else a.reshape(-1)


# ===================================================================== embedding

def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0,
              scale_grad_by_freq=False, sparse=False, _who="embedding"):
    """Rows of weight[num_embeddings, embedding_dim] picked by integer indices of any shape;
    the result has shape input.shape + (embedding_dim,)."""
    if max_norm is not None:
        raise NotImplementedError(f"{_who}: max_norm is not supported")
    idx = input._storage if isinstance(input, Tensor) else np.asarray(input)
    w = weight
    wd = w._storage
    if wd.ndim != 2:
        raise ValueError(f"{_who}: weight must be 2-D (num_embeddings, embedding_dim), "
                         f"got shape {wd.shape}")
    V, Dm = wd.shape
    if idx.dtype not in (np.int64, np.int32):
        raise DTypeError(f"{_who}: expected int64 or int32 indices, got dtype {idx.dtype} "
                         f"(shape {idx.shape}); convert them with .long()")
    if padding_idx is not None:
        if not -V <= padding_idx < V:
            raise ValueError(f"{_who}: padding_idx must be within num_embeddings "
                             f"({V}), got {padding_idx}")
        if padding_idx < 0:
            padding_idx += V
    # a private copy: the backward scatters at these indices later, after the caller may
    # have refilled its index array (np.ascontiguousarray would alias it)
    flat = idx.astype(np.int64).reshape(-1)
    if flat.size:
        lo, hi = int(flat.min()), int(flat.max())
        if lo < 0 or hi >= V:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{_who}: index {bad} is out of range for {V} embeddings "
                             f"(valid indices are 0..{V - 1}); input shape {idx.shape}")
    fast = wd.dtype == np.float32
    K = table_of(wd, idx)
    if fast:
        w2 = contiguous(wd)
        out = K.empty((flat.size, Dm), np.float32)
        K.embedding_forward(out, w2, flat)
    else:
        out = wd[flat]
    out = out.reshape(idx.shape + (Dm,))
    if not ag.needs_grad(w):
        return Tensor._make(out)

    def backward(g):
        g2 = contiguous(g, dtype=wd.dtype).reshape(flat.size, Dm)
        scale = None
        if scale_grad_by_freq:
            counts = np.bincount(flat, minlength=V)
            scale = (1.0 / np.maximum(counts, 1)).astype(wd.dtype)
        ret = None
        dest = None
        if fast and w._node is None:
            dest, acc = ag.grad_sink(w)
            if dest is not None and not acc:
                dest[...] = 0
        if dest is None:
            dest = ret = K.zeros(wd.shape, wd.dtype)
        if fast:
            K.embedding_backward(dest, g2, flat, scale,
                                  -1 if padding_idx is None else padding_idx)
        else:
            keep = flat != padding_idx if padding_idx is not None else slice(None)
            rows = g2[keep] if scale is None else g2[keep] * scale[flat[keep], None]
            np.add.at(dest, flat[keep], rows)
        return (ret,)

    return Tensor._make(out, True, ag.Node((w,), backward, "Embedding"))
