"""The CUDA recurrent-layer kernels against the `_C` ones on the same inputs (under the
simulator: blocks of 8 threads, h in shared memory up to H=8 and the gate-gradient row up to
G=16, so H=9 crosses a block and reads h from global memory, H<=8 keeps it shared, and LSTM
H=5 (G=20) / H=9 and GRU H=9 read the gate-gradient row back from global memory)."""
import numpy as np
import pytest

from nnfast import _C

TANH, RELU, LSTM, GRU = 0, 1, 2, 3
NG = {TANH: 1, RELU: 1, LSTM: 4, GRU: 3}
RTOL, ATOL = 1e-5, 1e-6


def dev(arr):
    """A CudaArray copy of a host array (as conftest's helper; test modules here are not a
    package, so they cannot import it)."""
    from nnfast.backend.cuda import from_host
    return from_host(np.asarray(arr))


def host(a):
    return None if a is None else a.get()


def _d(a):
    return None if a is None else dev(a)


def _case(mode, T, B, I, H, ldo, col, h0_zero, biases, seed):
    rng = np.random.default_rng(seed)
    G = NG[mode] * H

    def r(*shape, s=0.5):
        return (rng.standard_normal(shape) * s).astype(np.float32).reshape(-1)
    p = dict(x=r(T, B, I, s=1.0), w_ih=r(G, I), w_hh=r(G, H),
             b_ih=r(G) if biases else None, b_hh=r(G) if biases else None,
             h0=np.zeros(B * H, np.float32) if h0_zero else r(B, H),
             c0=(np.zeros(B * H, np.float32) if h0_zero else r(B, H)) if mode == LSTM else None)
    return p, G, rng


def _forward_both(K, mode, reverse, T, B, I, H, ldo, col, p, G):
    lstm, keep = mode == LSTM, mode in (LSTM, GRU)
    bufs = dict(out=np.full(T * B * ldo, 3.0, np.float32), hn=np.zeros(B * H, np.float32),
                cn=np.zeros(B * H, np.float32) if lstm else None,
                gates=np.zeros(T * B * G, np.float32),
                saved=np.zeros(T * B * H, np.float32) if keep else None,
                ws=np.zeros(B * G, np.float32))
    dbufs = {k: _d(v) for k, v in bufs.items()}
    args = (p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["h0"], p["c0"])
    names = ("out", "hn", "cn", "gates", "saved", "ws")
    _C.rnn_layer_forward(mode, reverse, T, B, I, H, ldo, col, *(bufs[n] for n in names), *args)
    K.rnn_layer_forward(mode, reverse, T, B, I, H, ldo, col, *(dbufs[n] for n in names),
                        *(_d(a) for a in args))
    return bufs, dbufs


def _close(got, want, what):
    np.testing.assert_allclose(host(got), want, rtol=RTOL, atol=ATOL, err_msg=what)


CASES = [  # mode, reverse, T, B, I, H, ldo, col, h0_zero, biases
    (TANH, False, 3, 3, 4, 9, 9, 0, False, True),
    (TANH, True, 2, 2, 3, 5, 10, 5, True, False),
    (RELU, False, 3, 3, 2, 5, 5, 0, False, True),
    (LSTM, False, 3, 3, 4, 5, 10, 5, False, True),
    (LSTM, True, 2, 2, 3, 9, 9, 0, True, True),
    (GRU, False, 2, 3, 4, 9, 9, 0, False, True),
    (GRU, True, 2, 2, 3, 4, 8, 4, False, False),
]


@pytest.mark.parametrize("i", range(len(CASES)))
def test_rnn_layer_forward_and_backward(K, i):
    mode, reverse, T, B, I, H, ldo, col, h0_zero, biases = CASES[i]
    p, G, rng = _case(mode, T, B, I, H, ldo, col, h0_zero, biases, seed=i)
    bufs, dbufs = _forward_both(K, mode, reverse, T, B, I, H, ldo, col, p, G)
    for n in ("out", "hn", "cn", "gates", "saved"):
        if bufs[n] is not None:
            _close(dbufs[n], bufs[n], n)

    lstm, gru = mode == LSTM, mode == GRU
    acc = i % 2 == 1   # dx overwritten or added into

    def r(n):
        return rng.standard_normal(n).astype(np.float32)
    grads = dict(dx=r(T * B * I), dw_ih=r(G * I), dw_hh=r(G * H),
                 db_ih=r(G) if biases else None, db_hh=r(G) if biases else None,
                 dh0=np.zeros(B * H, np.float32), dc0=np.zeros(B * H, np.float32) if lstm else None,
                 dg=np.zeros(T * B * G, np.float32),
                 dgh=np.zeros(T * B * G, np.float32) if gru else None,
                 ws=np.zeros(2 * B * H, np.float32))
    dgrads = {k: _d(v) for k, v in grads.items()}
    dout = r(T * B * ldo)
    dhn = None if h0_zero else r(B * H)            # the "no gradient from hn" case rides
    dcn = (None if h0_zero else r(B * H)) if lstm else None   # along with zero h0/c0
    ins = (dout, dhn, dcn, p["x"], p["w_ih"], p["w_hh"], p["h0"], p["c0"], bufs["out"],
           bufs["gates"], bufs["saved"])
    names = ("dx", "dw_ih", "dw_hh", "db_ih", "db_hh", "dh0", "dc0", "dg", "dgh", "ws")
    _C.rnn_layer_backward(mode, reverse, T, B, I, H, ldo, col, *(grads[n] for n in names),
                          *ins, acc)
    dins = tuple(_d(a) for a in ins[:8]) + (dbufs["out"], dbufs["gates"], dbufs["saved"])
    K.rnn_layer_backward(mode, reverse, T, B, I, H, ldo, col, *(dgrads[n] for n in names),
                         *dins, acc)
    for n in names[:-1]:
        if grads[n] is not None:
            _close(dgrads[n], grads[n], n)


def test_rnn_layer_backward_optional_outputs(K):
    """Only dx (dh0 and the parameter gradients None), as for a frozen first layer."""
    mode, T, B, I, H = GRU, 2, 2, 3, 4
    p, G, rng = _case(mode, T, B, I, H, H, 0, False, True, seed=7)
    bufs, dbufs = _forward_both(K, mode, False, T, B, I, H, H, 0, p, G)
    dout = rng.standard_normal(T * B * H).astype(np.float32)
    want = np.zeros(T * B * I, np.float32)
    _C.rnn_layer_backward(mode, False, T, B, I, H, H, 0, want, None, None, None, None, None,
                          None, np.zeros(T * B * G, np.float32), np.zeros(T * B * G, np.float32),
                          np.zeros(2 * B * H, np.float32), dout, None, None, p["x"], p["w_ih"],
                          p["w_hh"], p["h0"], None, bufs["out"], bufs["gates"], bufs["saved"],
                          False)
    got = dev(np.full(T * B * I, 9.0, np.float32))
    K.rnn_layer_backward(mode, False, T, B, I, H, H, 0, got, None, None, None, None, None, None,
                         dev(np.zeros(T * B * G, np.float32)), dev(np.zeros(T * B * G, np.float32)),
                         dev(np.zeros(2 * B * H, np.float32)), dev(dout), None, None, dev(p["x"]),
                         dev(p["w_ih"]), dev(p["w_hh"]), dev(p["h0"]), None, dbufs["out"],
                         dbufs["gates"], dbufs["saved"], False)
    _close(got, want, "dx")


def test_rnn_layer_bad_calls_raise(K):
    T, B, I, H = 1, 1, 2, 2
    z = lambda n: dev(np.zeros(n, np.float32))  # noqa: E731
    with pytest.raises(ValueError):   # LSTM without c0
        K.rnn_layer_forward(LSTM, False, T, B, I, H, H, 0, z(2), z(2), z(2), z(8), z(2), z(8),
                            z(2), z(16), z(16), None, None, z(2), None)
    with pytest.raises(ValueError):   # col + H > ldo
        K.rnn_layer_forward(TANH, False, T, B, I, H, H, 1, z(2), z(2), None, z(2), None, z(2),
                            z(2), z(4), z(4), None, None, z(2), None)
    with pytest.raises(ValueError):   # w_hh of the wrong size
        K.rnn_layer_forward(TANH, False, T, B, I, H, H, 0, z(2), z(2), None, z(2), None, z(2),
                            z(2), z(4), z(5), None, None, z(2), None)
