# rnn family: one recurrent layer/direction over a sequence, and embedding (csrc/rnn.c).
# Arrays come in flattened (C-contiguous 1-D float32 views of the real shapes); the sizes
# T, B, I, H, ldo are passed explicitly and every buffer length is checked against them.
from libc.stdint cimport uint64_t

cdef extern from "nnfast.h":
    void nf_rnn_layer_forward(float *out, float *hn, float *cn, float *gates, float *saved,
                              float *ws, const float *x, const float *w_ih, const float *w_hh,
                              const float *b_ih, const float *b_hh, const float *h0,
                              const float *c0, nf_int T, nf_int B, nf_int I, nf_int H,
                              nf_int ldo, int mode, int reverse, int prec) nogil
    void nf_rnn_layer_backward(float *dx, float *dw_ih, float *dw_hh, float *db_ih,
                               float *db_hh, float *dh0, float *dc0, float *dg, float *dgh,
                               float *ws, const float *dout, const float *dhn, const float *dcn,
                               const float *x, const float *w_ih, const float *w_hh,
                               const float *h0, const float *c0, const float *out,
                               const float *gates, const float *saved, nf_int T, nf_int B,
                               nf_int I, nf_int H, nf_int ldo, int mode, int reverse,
                               int dx_accumulate, int prec) nogil
    void nf_embedding_forward(float *out, const float *weight, const int64_t *idx, nf_int N,
                              nf_int D) nogil
    void nf_embedding_backward(float *dweight, const float *dout, const int64_t *idx,
                               const float *scale, nf_int N, nf_int D,
                               nf_int padding_idx) nogil

RNN_TANH, RNN_RELU, RNN_LSTM, RNN_GRU = 0, 1, 2, 3


cdef inline void _need(object a, nf_int n, str what) except *:
    if a.shape[0] != n:
        raise ValueError(f"rnn kernel: {what} has {a.shape[0]} elements, expected {n}")


cdef inline float *_opt(float[::1] a, nf_int n, str what) except? NULL:
    """Pointer to an optional buffer of n floats (NULL for None)."""
    if a is None:
        return NULL
    if a.shape[0] != n:
        raise ValueError(f"rnn kernel: {what} has {a.shape[0]} elements, expected {n}")
    return &a[0]


cdef int _rnn_sizes_fit(str who, object T, object B, object I, object H, object ldo,
                        object col) except -1:
    """Every buffer length below is a product of these sizes: in Python ints, make sure the
    largest fits nf_int (a wrapped product could match a short buffer)."""
    if abs(T) * abs(B) * (4 * (abs(H) + abs(I)) + abs(ldo) + abs(col) + 2) >= 2 ** 62:
        raise ValueError(f"{who}: sizes T={T} B={B} I={I} H={H} ldo={ldo} overflow")
    return 0


def rnn_layer_forward(int mode, bint reverse, nf_int T, nf_int B, nf_int I, nf_int H,
                      nf_int ldo, nf_int col, float[::1] out not None,
                      float[::1] hn not None, float[::1] cn, float[::1] gates not None,
                      float[::1] saved, float[::1] ws not None, const float[::1] x not None,
                      const float[::1] w_ih not None, const float[::1] w_hh not None,
                      const float[::1] b_ih, const float[::1] b_hh,
                      const float[::1] h0 not None, const float[::1] c0, int prec=0):
    """One layer, one direction: out[T, B, ldo] columns col..col+H, hn[B, H], cn[B, H] (LSTM),
    gates[T, B, G*H] and saved[T, B, H] (LSTM/GRU) for backward, ws[B, G*H] scratch.
    prec: the GEMMs' precision, as sgemm's (fp32 accumulation, gates and states fp32)."""
    _check_prec(prec)
    if (_mis(&out[0], 4) or _mis(&hn[0], 4) or _mis(&cn[0], 4) or _mis(&gates[0], 4) or
        _mis(&saved[0], 4) or _mis(&ws[0], 4) or _mis(&x[0], 4) or _mis(&w_ih[0], 4) or
        _mis(&w_hh[0], 4) or _mis(&b_ih[0], 4) or _mis(&b_hh[0], 4) or _mis(&h0[0], 4) or
        _mis(&c0[0], 4)):
        return _realigned(rnn_layer_forward, (mode, reverse, T, B, I, H, ldo, col, out, hn, cn,
                                              gates, saved, ws, x, w_ih, w_hh, b_ih, b_hh, h0,
                                              c0, prec), (8, 9, 10, 11, 12, 13))
    _rnn_sizes_fit("rnn_layer_forward", T, B, I, H, ldo, col)
    cdef nf_int G = (4 if mode == RNN_LSTM else 3 if mode == RNN_GRU else 1) * H
    if not (0 <= mode <= 3) or T < 1 or B < 1 or I < 1 or H < 1 or col < 0 or col + H > ldo:
        raise ValueError(f"rnn_layer_forward: bad sizes T={T} B={B} I={I} H={H} "
                         f"ldo={ldo} col={col} mode={mode}")
    _need(out, T * B * ldo, "out"); _need(hn, B * H, "hn"); _need(gates, T * B * G, "gates")
    _need(ws, B * G, "ws"); _need(x, T * B * I, "x"); _need(w_ih, G * I, "w_ih")
    _need(w_hh, G * H, "w_hh"); _need(h0, B * H, "h0")
    cdef float *pcn = _opt(cn, B * H, "cn")
    cdef float *psv = _opt(saved, T * B * H, "saved")
    cdef const float *pbi = NULL
    cdef const float *pbh = NULL
    cdef const float *pc0 = NULL
    if b_ih is not None:
        _need(b_ih, G, "b_ih"); pbi = &b_ih[0]
    if b_hh is not None:
        _need(b_hh, G, "b_hh"); pbh = &b_hh[0]
    if c0 is not None:
        _need(c0, B * H, "c0"); pc0 = &c0[0]
    if mode == RNN_LSTM and (pcn == NULL or pc0 == NULL or psv == NULL):
        raise ValueError("rnn_layer_forward: LSTM needs cn, c0 and saved")
    if mode == RNN_GRU and psv == NULL:
        raise ValueError("rnn_layer_forward: GRU needs saved")
    with nogil:
        nf_rnn_layer_forward(&out[col], &hn[0], pcn, &gates[0], psv, &ws[0], &x[0],
                             &w_ih[0], &w_hh[0], pbi, pbh, &h0[0], pc0, T, B, I, H, ldo,
                             mode, reverse, prec)


def rnn_layer_backward(int mode, bint reverse, nf_int T, nf_int B, nf_int I, nf_int H,
                       nf_int ldo, nf_int col, float[::1] dx, float[::1] dw_ih,
                       float[::1] dw_hh, float[::1] db_ih, float[::1] db_hh, float[::1] dh0,
                       float[::1] dc0, float[::1] dg not None, float[::1] dgh,
                       float[::1] ws not None, const float[::1] dout not None,
                       const float[::1] dhn, const float[::1] dcn, const float[::1] x not None,
                       const float[::1] w_ih not None, const float[::1] w_hh not None,
                       const float[::1] h0 not None, const float[::1] c0,
                       const float[::1] out not None, const float[::1] gates not None,
                       const float[::1] saved, bint dx_accumulate, int prec=0):
    """Backward of rnn_layer_forward; dw_*/db_* are added into, dx overwritten (or added),
    dh0/dc0 overwritten; any of them may be None. dout has out's layout (columns col..).
    prec as rnn_layer_forward's."""
    _check_prec(prec)
    if (_mis(&dx[0], 4) or _mis(&dw_ih[0], 4) or _mis(&dw_hh[0], 4) or _mis(&db_ih[0], 4) or
        _mis(&db_hh[0], 4) or _mis(&dh0[0], 4) or _mis(&dc0[0], 4) or _mis(&dg[0], 4) or
        _mis(&dgh[0], 4) or _mis(&ws[0], 4) or _mis(&dout[0], 4) or _mis(&dhn[0], 4) or
        _mis(&dcn[0], 4) or _mis(&x[0], 4) or _mis(&w_ih[0], 4) or _mis(&w_hh[0], 4) or
        _mis(&h0[0], 4) or _mis(&c0[0], 4) or _mis(&out[0], 4) or _mis(&gates[0], 4) or
        _mis(&saved[0], 4)):
        return _realigned(rnn_layer_backward, (mode, reverse, T, B, I, H, ldo, col, dx, dw_ih,
                                               dw_hh, db_ih, db_hh, dh0, dc0, dg, dgh, ws, dout,
                                               dhn, dcn, x, w_ih, w_hh, h0, c0, out, gates, saved,
                                               dx_accumulate, prec),
                          (8, 9, 10, 11, 12, 13, 14, 15, 16, 17))
    _rnn_sizes_fit("rnn_layer_backward", T, B, I, H, ldo, col)
    cdef nf_int G = (4 if mode == RNN_LSTM else 3 if mode == RNN_GRU else 1) * H
    if not (0 <= mode <= 3) or T < 1 or B < 1 or I < 1 or H < 1 or col < 0 or col + H > ldo:
        raise ValueError(f"rnn_layer_backward: bad sizes T={T} B={B} I={I} H={H} "
                         f"ldo={ldo} col={col} mode={mode}")
    _need(dg, T * B * G, "dg"); _need(ws, 2 * B * H, "ws"); _need(dout, T * B * ldo, "dout")
    _need(x, T * B * I, "x"); _need(w_ih, G * I, "w_ih"); _need(w_hh, G * H, "w_hh")
    _need(h0, B * H, "h0"); _need(out, T * B * ldo, "out"); _need(gates, T * B * G, "gates")
    cdef float *pdx = _opt(dx, T * B * I, "dx")
    cdef float *pdwi = _opt(dw_ih, G * I, "dw_ih")
    cdef float *pdwh = _opt(dw_hh, G * H, "dw_hh")
    cdef float *pdbi = _opt(db_ih, G, "db_ih")
    cdef float *pdbh = _opt(db_hh, G, "db_hh")
    cdef float *pdh0 = _opt(dh0, B * H, "dh0")
    cdef float *pdc0 = _opt(dc0, B * H, "dc0")
    cdef float *pdgh = _opt(dgh, T * B * G, "dgh")
    cdef const float *pdhn = NULL
    cdef const float *pdcn = NULL
    cdef const float *pc0 = NULL
    cdef const float *psv = NULL
    if dhn is not None:
        _need(dhn, B * H, "dhn"); pdhn = &dhn[0]
    if dcn is not None:
        _need(dcn, B * H, "dcn"); pdcn = &dcn[0]
    if c0 is not None:
        _need(c0, B * H, "c0"); pc0 = &c0[0]
    if saved is not None:
        _need(saved, T * B * H, "saved"); psv = &saved[0]
    if mode == RNN_LSTM and (pc0 == NULL or psv == NULL):
        raise ValueError("rnn_layer_backward: LSTM needs c0 and saved")
    if mode == RNN_GRU and (psv == NULL or pdgh == NULL):
        raise ValueError("rnn_layer_backward: GRU needs saved and dgh")
    with nogil:
        nf_rnn_layer_backward(pdx, pdwi, pdwh, pdbi, pdbh, pdh0, pdc0, &dg[0], pdgh, &ws[0],
                              &dout[col], pdhn, pdcn, &x[0], &w_ih[0], &w_hh[0], &h0[0], pc0,
                              &out[col], &gates[0], psv, T, B, I, H, ldo, mode, reverse,
                              dx_accumulate, prec)


cdef int _rows_in_range(str who, const int64_t[::1] idx, nf_int V) except -1:
    """Raise IndexError unless every idx is a row of a [V, D] table: the kernels read and
    scatter-add whole rows at idx, so one bad index is an out-of-bounds access (O(N) next to
    the kernel's O(N*D))."""
    cdef nf_int n, bad = -1
    with nogil:
        for n in range(idx.shape[0]):
            if <uint64_t>idx[n] >= <uint64_t>V:
                bad = n
                break
    if bad >= 0:
        raise IndexError(f"{who}: index {idx[bad]} is out of range for {V} rows")
    return 0


def embedding_forward(float[:, ::1] out not None, const float[:, ::1] weight not None,
                      const int64_t[::1] idx not None):
    """out[N, D] = weight[idx]; every idx must already be in [0, V) (checked by the caller)."""
    if _mis(&out[0, 0], 4) or _mis(&weight[0, 0], 4) or _mis(&idx[0], 8):
        return _realigned(embedding_forward, (out, weight, idx), (0,))
    cdef nf_int N = idx.shape[0], D = weight.shape[1]
    if out.shape[0] != N or out.shape[1] != D:
        raise ValueError(f"embedding_forward: out ({out.shape[0]}, {out.shape[1]}), "
                         f"expected ({N}, {D})")
    if N == 0 or D == 0:
        return
    _rows_in_range("embedding_forward", idx, weight.shape[0])
    with nogil:
        nf_embedding_forward(&out[0, 0], &weight[0, 0], &idx[0], N, D)


def embedding_backward(float[:, ::1] dweight not None, const float[:, ::1] dout not None,
                       const int64_t[::1] idx not None, const float[::1] scale,
                       nf_int padding_idx):
    """dweight[idx[n]] += scale[idx[n]] * dout[n] (skipping padding_idx; -1 for none)."""
    if _mis(&dweight[0, 0], 4) or _mis(&dout[0, 0], 4) or _mis(&idx[0], 8) or _mis(&scale[0], 4):
        return _realigned(embedding_backward, (dweight, dout, idx, scale, padding_idx), (0,))
    cdef nf_int N = idx.shape[0], D = dweight.shape[1]
    cdef const float *ps = NULL
    if dout.shape[0] != N or dout.shape[1] != D:
        raise ValueError(f"embedding_backward: dout ({dout.shape[0]}, {dout.shape[1]}), "
                         f"expected ({N}, {D})")
    if scale is not None:
        if scale.shape[0] != dweight.shape[0]:
            raise ValueError("embedding_backward: scale must have one entry per embedding")
        if scale.shape[0] > 0:
            ps = &scale[0]
    if N == 0 or D == 0:
        return
    _rows_in_range("embedding_backward", idx, dweight.shape[0])
    with nogil:
        nf_embedding_backward(&dweight[0, 0], &dout[0, 0], &idx[0], ps, N, D, padding_idx)
