"""The CUDA norm kernels against the `_C` ones on the same inputs (run under the simulator:
sizes are tiny but cross the simulator's 8-thread blocks; C=1 / many-row cases take the
chunked second-pass paths, (N, C >= 4) BatchNorm input the channel-blocked path)."""
import numpy as np
import pytest

from nnfast import _C



def dev(arr):
    """A CudaArray copy of a host array (as conftest's helper; test modules here are not a
    package, so they cannot import it)."""
    from nnfast.backend.cuda import from_host
    return from_host(np.asarray(arr))


def host(a):
    return None if a is None else a.get()


RTOL, ATOL = 1e-5, 1e-6
rng = np.random.default_rng(15)


def f32(*shape, scale=1.0, shift=0.0):
    return (rng.standard_normal(shape) * scale + shift).astype(np.float32)


def close(got, want):
    np.testing.assert_allclose(host(got), want, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------- BatchNorm
@pytest.mark.parametrize("N,C,S", [(3, 4, 5), (1, 1, 13), (20, 3, 1), (2, 1, 1), (7, 5, 1)])
@pytest.mark.parametrize("running", [True, False])
def test_batch_norm_stats(K, N, C, S, running):
    x = f32(N * C * S, scale=2.0, shift=3.0)
    rm, rv = f32(C), np.abs(f32(C)) + 0.5
    mean, inv = np.empty(C, np.float32), np.empty(C, np.float32)
    rm_c, rv_c = rm.copy(), rv.copy()
    _C.batch_norm_stats(mean, inv, rm_c if running else None, rv_c if running else None, x,
                        N, C, S, 0.1, 1e-5)
    dm, di, drm, drv = dev(np.zeros(C, np.float32)), dev(np.zeros(C, np.float32)), dev(rm), dev(rv)
    K.batch_norm_stats(dm, di, drm if running else None, drv if running else None, dev(x),
                       N, C, S, 0.1, 1e-5)
    close(dm, mean)
    close(di, inv)
    close(drm, rm_c)
    close(drv, rv_c)


def test_batch_norm_stats_only_running_mean(K):
    N, C, S = 2, 3, 2
    x, rm = f32(N * C * S), f32(C)
    mean, inv, rm_c = np.empty(C, np.float32), np.empty(C, np.float32), rm.copy()
    _C.batch_norm_stats(mean, inv, rm_c, None, x, N, C, S, 0.3, 1e-3)
    dm, di, drm = dev(mean * 0), dev(inv * 0), dev(rm)
    K.batch_norm_stats(dm, di, drm, None, dev(x), N, C, S, 0.3, 1e-3)
    close(dm, mean)
    close(di, inv)
    close(drm, rm_c)


@pytest.mark.parametrize("N,C,S", [(3, 4, 5), (9, 2, 1)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_apply(K, N, C, S, affine):
    x, mean, inv = f32(N * C * S), f32(C), np.abs(f32(C)) + 0.1
    w, b = (f32(C), f32(C)) if affine else (None, None)
    out = np.empty_like(x)
    _C.batch_norm_apply(out, x, mean, inv, w, b, N, C, S)
    dout = dev(np.zeros_like(x))
    K.batch_norm_apply(dout, dev(x), dev(mean), dev(inv), None if w is None else dev(w),
                       None if b is None else dev(b), N, C, S)
    close(dout, out)


def _bn_backward_case(K, N, C, S, training, affine, want=(True, True, True)):
    x = f32(N * C * S, shift=1.0)
    g = f32(N * C * S)
    mean, inv = np.empty(C, np.float32), np.empty(C, np.float32)
    _C.batch_norm_stats(mean, inv, None, None, x, N, C, S, 0.1, 1e-5)
    w = f32(C) if affine else None
    outs_c = [np.zeros(n, np.float32) if k else None
              for k, n in zip(want, (N * C * S, C, C))]
    _C.batch_norm_backward(*outs_c, g, x, mean, inv, w, N, C, S, training)
    outs_d = [None if o is None else dev(np.full_like(o, 7.0)) for o in outs_c]
    K.batch_norm_backward(*outs_d, dev(g), dev(x), dev(mean), dev(inv),
                          None if w is None else dev(w), N, C, S, training)
    for o_d, o_c in zip(outs_d, outs_c):
        if o_c is not None:
            close(o_d, o_c)


@pytest.mark.parametrize("N,C,S", [(3, 4, 5), (1, 1, 13), (20, 3, 1), (7, 5, 1)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_backward(K, N, C, S, training):
    _bn_backward_case(K, N, C, S, training, affine=True)


@pytest.mark.parametrize("want", [(True, False, False), (False, True, True), (True, True, False)])
def test_batch_norm_backward_optional_outputs(K, want):
    _bn_backward_case(K, 2, 3, 3, True, affine=False, want=want)
    _bn_backward_case(K, 1, 1, 9, True, affine=False, want=want)
    _bn_backward_case(K, 5, 4, 1, True, affine=True, want=want)


def test_batch_norm_backward_no_values_zeroes_parameter_grads(K):
    dw, db = dev(np.full(3, 5.0, np.float32)), dev(np.full(3, 5.0, np.float32))
    e = dev(np.zeros(0, np.float32))
    K.batch_norm_backward(None, dw, db, e, e, dev(np.zeros(3, np.float32)),
                          dev(np.ones(3, np.float32)), None, 0, 3, 4, True)
    assert host(dw).tolist() == [0.0] * 3 and host(db).tolist() == [0.0] * 3


def test_batch_norm_bad_sizes_raise(K):
    x = dev(np.zeros(12, np.float32))
    with pytest.raises(ValueError):
        K.batch_norm_stats(dev(np.zeros(3, np.float32)), dev(np.zeros(3, np.float32)), None,
                           None, x, 2, 3, 3, 0.1, 1e-5)
    with pytest.raises(ValueError):
        K.batch_norm_apply(dev(np.zeros(12, np.float32)), x, dev(np.zeros(2, np.float32)),
                           dev(np.zeros(3, np.float32)), None, None, 2, 3, 2)


# ---------------------------------------------------------------------- LayerNorm
@pytest.mark.parametrize("M,D", [(3, 11), (1, 20)])
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_layer_norm_forward(K, M, D, affine):
    x = f32(M * D, scale=3.0, shift=-2.0)
    w = f32(D) if affine in ("both", "weight") else None
    b = f32(D) if affine in ("both", "bias") else None
    out, mean, rstd = np.empty_like(x), np.empty(M, np.float32), np.empty(M, np.float32)
    _C.layer_norm_forward(out, mean, rstd, x, w, b, M, D, 1e-5)
    do, dm, dr = dev(out * 0), dev(mean * 0), dev(rstd * 0)
    K.layer_norm_forward(do, dm, dr, dev(x), None if w is None else dev(w),
                         None if b is None else dev(b), M, D, 1e-5)
    close(do, out)
    close(dm, mean)
    close(dr, rstd)


def test_layer_norm_forward_constant_row_is_zero(K):
    x = np.full(6, 0.3, np.float32)
    do, dm, dr = dev(x * 1), dev(np.zeros(1, np.float32)), dev(np.zeros(1, np.float32))
    K.layer_norm_forward(do, dm, dr, dev(x), None, None, 1, 6, 1e-5)
    np.testing.assert_allclose(host(do), 0.0, atol=1e-6)


@pytest.mark.parametrize("M,D", [(3, 11), (12, 5)])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_backward(K, M, D, affine):
    x, g = f32(M * D, shift=0.5), f32(M * D)
    w = f32(D) if affine else None
    out, mean, rstd = np.empty_like(x), np.empty(M, np.float32), np.empty(M, np.float32)
    _C.layer_norm_forward(out, mean, rstd, x, w, None, M, D, 1e-5)
    dx, dw, db = np.empty_like(x), np.empty(D, np.float32), np.empty(D, np.float32)
    _C.layer_norm_backward(dx, dw, db, g, x, mean, rstd, w, M, D)
    ddx, ddw, ddb = dev(dx * 0), dev(dw * 0), dev(db * 0)
    K.layer_norm_backward(ddx, ddw, ddb, dev(g), dev(x), dev(mean), dev(rstd),
                          None if w is None else dev(w), M, D)
    close(ddx, dx)
    close(ddw, dw)
    close(ddb, db)


def test_layer_norm_backward_optional_outputs(K):
    M, D = 3, 4
    x, g = f32(M * D), f32(M * D)
    out, mean, rstd = np.empty_like(x), np.empty(M, np.float32), np.empty(M, np.float32)
    _C.layer_norm_forward(out, mean, rstd, x, None, None, M, D, 1e-5)
    dw = np.empty(D, np.float32)
    _C.layer_norm_backward(None, dw, None, g, x, mean, rstd, None, M, D)
    ddw = dev(dw * 0)
    K.layer_norm_backward(None, ddw, None, dev(g), dev(x), dev(mean), dev(rstd), None, M, D)
    close(ddw, dw)
    dx = np.empty_like(x)
    _C.layer_norm_backward(dx, None, None, g, x, mean, rstd, None, M, D)
    ddx = dev(dx * 0)
    K.layer_norm_backward(ddx, None, None, dev(g), dev(x), dev(mean), dev(rstd), None, M, D)
    close(ddx, dx)


def test_layer_norm_bad_sizes_raise(K):
    with pytest.raises(ValueError):
        K.layer_norm_forward(dev(np.zeros(6, np.float32)), dev(np.zeros(2, np.float32)),
                             dev(np.zeros(2, np.float32)), dev(np.zeros(6, np.float32)),
                             dev(np.zeros(2, np.float32)), None, 2, 3, 1e-5)


# ---------------------------------------------------------------------- GroupNorm
@pytest.mark.parametrize("N,C,S,G", [(2, 4, 2, 2), (1, 4, 3, 1), (3, 2, 1, 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_forward(K, N, C, S, G, affine):
    x = f32(N * C * S, scale=2.0, shift=1.0)
    w, b = (f32(C), f32(C)) if affine else (None, None)
    out, mean, rstd = np.empty_like(x), np.empty(N * G, np.float32), np.empty(N * G, np.float32)
    _C.group_norm_forward(out, mean, rstd, x, w, b, N, C, S, G, 1e-5)
    do, dm, dr = dev(out * 0), dev(mean * 0), dev(rstd * 0)
    K.group_norm_forward(do, dm, dr, dev(x), None if w is None else dev(w),
                         None if b is None else dev(b), N, C, S, G, 1e-5)
    close(do, out)
    close(dm, mean)
    close(dr, rstd)


@pytest.mark.parametrize("N,C,S,G", [(2, 4, 2, 2), (3, 2, 1, 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_backward(K, N, C, S, G, affine):
    x, g = f32(N * C * S, shift=0.5), f32(N * C * S)
    w = f32(C) if affine else None
    out, mean, rstd = np.empty_like(x), np.empty(N * G, np.float32), np.empty(N * G, np.float32)
    _C.group_norm_forward(out, mean, rstd, x, w, None, N, C, S, G, 1e-5)
    dx, dw, db = np.empty_like(x), np.empty(C, np.float32), np.empty(C, np.float32)
    _C.group_norm_backward(dx, dw, db, np.empty(2 * N * C), g, x, mean, rstd, w, N, C, S, G)
    ddx, ddw, ddb = dev(dx * 0), dev(dw * 0), dev(db * 0)
    K.group_norm_backward(ddx, ddw, ddb, dev(np.empty(2 * N * C)), dev(g), dev(x), dev(mean),
                          dev(rstd), None if w is None else dev(w), N, C, S, G)
    close(ddx, dx)
    close(ddw, dw)
    close(ddb, db)


def test_group_norm_backward_only_dx(K):
    N, C, S, G = 2, 4, 2, 2
    x, g = f32(N * C * S), f32(N * C * S)
    out, mean, rstd = np.empty_like(x), np.empty(N * G, np.float32), np.empty(N * G, np.float32)
    _C.group_norm_forward(out, mean, rstd, x, None, None, N, C, S, G, 1e-5)
    dx = np.empty_like(x)
    _C.group_norm_backward(dx, None, None, np.empty(2 * N * C), g, x, mean, rstd, None,
                           N, C, S, G)
    ddx = dev(dx * 0)
    K.group_norm_backward(ddx, None, None, dev(np.empty(2 * N * C)), dev(g), dev(x), dev(mean),
                          dev(rstd), None, N, C, S, G)
    close(ddx, dx)


def test_group_norm_bad_sizes_raise(K):
    z = dev(np.zeros(12, np.float32))
    with pytest.raises(ValueError):   # C not divisible by G
        K.group_norm_forward(z, dev(np.zeros(2, np.float32)), dev(np.zeros(2, np.float32)), z,
                             None, None, 1, 3, 4, 2, 1e-5)
    with pytest.raises(ValueError):   # workspace too small
        K.group_norm_backward(z, None, None, dev(np.zeros(3)), z, z,
                              dev(np.zeros(2, np.float32)), dev(np.zeros(2, np.float32)), None,
                              1, 4, 3, 2)
