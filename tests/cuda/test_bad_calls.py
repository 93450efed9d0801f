"""Bad calls through the CUDA table: every kernel checks what Python passes before it launches.

"A kernel trusts nothing that Python did not check": like the `_C` wrappers (whose typed
memoryviews and size checks stop a wrong call before C runs), each CUDA table function must
answer an argument of the wrong size, dtype, layout or kind (a host ndarray, None where an
array is required) and a negative or inconsistent size with a ValueError / TypeError /
IndexError that names the argument, before any launch: never a Numba or NumPy error from
inside, never a write out of bounds.

Table-driven: SPECS gives one valid call per kernel (tiny sizes); each bad case mutates one
argument of it: a host ndarray, another dtype, a strided view, one element (row) short, None,
a negative or inconsistent size, an index out of range (a host index array is checked and
refused; a device one is not read back, so its kernels must skip or clamp it), a bad scalar
or geometry (SCALAR_CASES), an output sharing memory with an input (ALIAS_CASES). Every
device array of the call is a view into a larger buffer with guard regions around it; after
a refused call the whole buffer, guards included, is unchanged, and after an accepted one
the guards are. NP_CASES do the same for NumPy's protocol (FUNCS / UFUNCS / HOOKS).
"""

import numpy as np
import pytest

from nnfast.backend.cuda import from_host

F32, F64, I64, U8 = np.float32, np.float64, np.int64, np.uint8
GUARD = 5               # guard elements before and after each array's view
SENTINEL = 77           # guard (and initial) value: any write shows


def _r(*shape, dtype=F32, seed=0):
    rng = np.random.default_rng(seed + sum(shape))
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return np.zeros(shape, dtype)


def _z(*shape, dtype=F32):
    return np.zeros(shape, dtype)


class Opt:
    """An optional array argument (None is valid there, so no 'none' case for it)."""
    def __init__(self, a):
        self.a = a


class Free(Opt):
    """An array whose size the call does not fix (a reduction's input, a pool's planes): no
    'short' case."""


class Index:
    """An index array: each entry must be in [0, limit). A host array (`host_ok`: the
    functional computes these with NumPy) is range-checked before the copy; a device one is
    not read back (that would wait for the device), so its kernels must skip or clamp a bad
    entry: the call may succeed, but writes nothing outside its arrays."""
    def __init__(self, a, limit, host_ok=False):
        self.a, self.limit, self.host_ok = a, limit, host_ok


class Size(int):
    """An integer size argument: gets the 'negative' and 'inconsistent' cases."""


# --------------------------------------------------------------------------- valid calls
# N, C, S = 2, 3, 4: sizes chosen distinct so that a mix-up shows.

def _conv_geom(N=1, C=2, H=4, W=4, OC=2, k=3, p=1):
    OH = OW = H + 2 * p - k + 1
    return (N, C, H, W, OC, k, k, OH, OW, 1, 1, p, p, 1, 1, 1)


def _rnn_forward():
    T, B, I, H = 2, 2, 3, 2
    G = 4 * H
    return dict(mode=2, reverse=False, T=Size(T), B=Size(B), I=Size(I), H=Size(H), ldo=Size(H),
                col=0, out=_z(T * B * H), hn=_z(B * H), cn=_z(B * H), gates=_z(T * B * G),
                saved=_z(T * B * H), ws=_z(B * G), x=_r(T * B * I), w_ih=_r(G * I),
                w_hh=_r(G * H), b_ih=Opt(_r(G)), b_hh=Opt(_r(G)), h0=Opt(_r(B * H)),
                c0=Opt(_r(B * H)))


def _rnn_backward():
    T, B, I, H = 2, 2, 3, 2
    G = 4 * H
    return dict(mode=2, reverse=False, T=Size(T), B=Size(B), I=Size(I), H=Size(H), ldo=Size(H),
                col=0, dx=Opt(_z(T * B * I)), dw_ih=Opt(_z(G * I)), dw_hh=Opt(_z(G * H)),
                db_ih=Opt(_z(G)), db_hh=Opt(_z(G)), dh0=Opt(_z(B * H)), dc0=Opt(_z(B * H)),
                dg=_z(T * B * G), dgh=Opt(_z(T * B * G)), ws=_z(2 * B * H), dout=_r(T * B * H),
                dhn=Opt(_r(B * H)), dcn=Opt(_r(B * H)), x=_r(T * B * I), w_ih=_r(G * I),
                w_hh=_r(G * H), h0=Opt(_r(B * H)), c0=Opt(_r(B * H)), out=_r(T * B * H),
                gates=_r(T * B * G), saved=_r(T * B * H), dx_accumulate=False)


def _upsample_tables(n, limit):
    i0 = (np.arange(n) * limit // n).astype(I64)
    return i0, np.minimum(i0 + 1, limit - 1), np.full(n, 0.5, F32)


_H0, _H1, _LH = _upsample_tables(5, 3)
_W0, _W1, _LW = _upsample_tables(6, 4)

SPECS = {
    # act
    "act_forward": lambda: dict(kind=0, out=_z(7), inp=_r(7)),
    "act_backward": lambda: dict(kind=0, dinp=_z(7), dout=_r(7), saved=_r(7)),
    "act_extra_forward": lambda: dict(kind=0, out=_z(7), inp=_r(7), a=1.0),
    "act_extra_backward": lambda: dict(kind=0, dinp=_z(7), dout=_r(7), inp=_r(7), a=1.0),
    "act_math": lambda: dict(out=_z(7), inp=_r(7), which=0),
    "prelu_forward": lambda: dict(out=_z(24), inp=_r(24), weight=_r(3), N=Size(2), C=Size(3),
                                  S=Size(4)),
    "prelu_backward": lambda: dict(dinp=Opt(_z(24)), dweight=Opt(_z(3)), dout=_r(24),
                                   inp=_r(24), weight=_r(3), N=Size(2), C=Size(3), S=Size(4)),
    "softmax_forward": lambda: dict(out=_z(24), inp=_r(24), outer=Size(2), D=Size(3),
                                    inner=Size(4)),
    "softmax_backward": lambda: dict(dinp=_z(24), dout=_r(24), out=_r(24), outer=Size(2),
                                     D=Size(3), inner=Size(4)),
    # dropout
    "dropout_forward": lambda: dict(out=_z(9), mask=Opt(_z(9, dtype=U8)), inp=_r(9), seed=1,
                                    thresh=2 ** 31, scale=2.0),
    "dropout_backward": lambda: dict(dinp=_z(9), dout=_r(9), mask=_z(9, dtype=U8), scale=2.0),
    "feature_dropout_forward": lambda: dict(out=_z(12), mask=Opt(_z(3, dtype=U8)), inp=_r(12),
                                            R=Size(3), S=Size(4), seed=1, thresh=2 ** 31,
                                            scale=2.0),
    "feature_dropout_backward": lambda: dict(dinp=_z(12), dout=_r(12), mask=_z(3, dtype=U8),
                                             R=Size(3), S=Size(4), scale=2.0),
    "sumabs": lambda: dict(x=Free(_r(9))),
    "l1l2_backward": lambda: dict(dinp=_z(9), inp=_r(9), a=0.1, b=0.2),
    # embedding
    "embedding_forward": lambda: dict(out=_z(3, 4), weight=_r(5, 4),
                                      idx=Index(np.array([0, 4, 2], I64), 5, host_ok=True)),
    "embedding_backward": lambda: dict(dweight=_z(5, 4), dout=_r(3, 4),
                                       idx=Index(np.array([0, 4, 2], I64), 5, host_ok=True),
                                       scale=Opt(None),
                                       padding_idx=-1),
    # loss (outer, C, inner) = (2, 3, 2)
    "pointwise_loss": lambda: dict(kind="mse", out=Opt(_z(6)), dinput=Opt(_z(6)),
                                   dtarget=Opt(_z(6)), input=_r(6), target=_r(6, seed=1),
                                   weight=Opt(_r(6)), scale=1.0),
    "cross_entropy_loss": lambda: dict(out=Opt(_z(4)), dinput=Opt(_z(12)), input=_r(12),
                                       target=Index(np.array([0, 2, 1, 0], I64), 3),
                                       weight=Opt(_r(3)),
                                       outer=Size(2), C=Size(3), inner=Size(2),
                                       ignore_index=-100, reduction=1, label_smoothing=0.0),
    "nll_loss": lambda: dict(out=Opt(_z(4)), dinput=Opt(_z(12)), input=_r(12),
                             target=Index(np.array([0, 2, 1, 0], I64), 3), weight=Opt(_r(3)),
                             outer=Size(2), C=Size(3), inner=Size(2), ignore_index=-100,
                             reduction=1),
    "cross_entropy_prob_loss": lambda: dict(out=Opt(_z(4)), dinput=Opt(_z(12)),
                                            dtarget=Opt(_z(12)), input=_r(12),
                                            target=_r(12, seed=1), weight=Opt(_r(3)),
                                            outer=Size(2), C=Size(3), inner=Size(2),
                                            reduction=1, label_smoothing=0.0),
    "bce_loss": lambda: dict(out=Opt(_z(6)), dinput=Opt(_z(6)), dtarget=Opt(_z(6)),
                             input=np.full(6, 0.5, F32), target=np.full(6, 0.25, F32),
                             weight=Opt(_r(6)), scale=1.0),
    "bce_logits_loss": lambda: dict(out=Opt(_z(6)), dinput=Opt(_z(6)), dtarget=Opt(_z(6)),
                                    input=_r(6), target=np.full(6, 0.25, F32),
                                    weight=Opt(_r(6)), pos_weight=Opt(_r(6)), scale=1.0),
    "bad_label": lambda: dict(target=Free(np.array([0, 2, 1, 7], I64)), C=3, ignore_index=-100),
    # norm: N, C, S = 2, 3, 4; layer norm M, D = 3, 4; groups G = 3
    "batch_norm_stats": lambda: dict(mean=_z(3), invstd=_z(3), running_mean=Opt(_z(3)),
                                     running_var=Opt(_z(3)), x=_r(24), N=Size(2), C=Size(3),
                                     S=Size(4), momentum=0.1, eps=1e-5),
    "batch_norm_apply": lambda: dict(out=_z(24), x=_r(24), mean=_r(3), invstd=_r(3),
                                     weight=Opt(_r(3)), bias=Opt(_r(3)), N=Size(2), C=Size(3),
                                     S=Size(4)),
    "batch_norm_backward": lambda: dict(dinp=Opt(_z(24)), dweight=Opt(_z(3)), dbias=Opt(_z(3)),
                                        dout=_r(24), x=_r(24), mean=_r(3), invstd=_r(3),
                                        weight=Opt(_r(3)), N=Size(2), C=Size(3), S=Size(4),
                                        training=True),
    "layer_norm_forward": lambda: dict(out=_z(12), mean=_z(3), rstd=_z(3), x=_r(12),
                                       weight=Opt(_r(4)), bias=Opt(_r(4)), M=Size(3), D=Size(4),
                                       eps=1e-5),
    "layer_norm_backward": lambda: dict(dinp=Opt(_z(12)), dweight=Opt(_z(4)), dbias=Opt(_z(4)),
                                        dout=_r(12), x=_r(12), mean=_r(3), rstd=_r(3) ** 2,
                                        weight=Opt(_r(4)), M=Size(3), D=Size(4)),
    "group_norm_forward": lambda: dict(out=_z(24), mean=_z(6), rstd=_z(6), x=_r(24),
                                       weight=Opt(_r(3)), bias=Opt(_r(3)), N=Size(2), C=Size(3),
                                       S=Size(4), G=Size(3), eps=1e-5),
    "group_norm_backward": lambda: dict(dinp=Opt(_z(24)), dweight=Opt(_z(3)), dbias=Opt(_z(3)),
                                        ws=_z(12, dtype=F64), dout=_r(24), x=_r(24), mean=_r(6),
                                        rstd=_r(6) ** 2, weight=Opt(_r(3)), N=Size(2),
                                        C=Size(3), S=Size(4), G=Size(3)),
    # optim (n = 5)
    "sgd_step": lambda: dict(param=_r(5), momentum_buf=Opt(_z(5)), grad=_r(5), neg_lr=-0.1,
                             weight_decay=0.0, momentum=0.9, one_minus_dampening=1.0,
                             nesterov=False, maximize=False, init_buf=True),
    "adam_step": lambda: dict(param=_r(5), exp_avg=_z(5), exp_avg_sq=_z(5),
                              max_exp_avg_sq=Opt(_z(5)), grad=_r(5), param_scale=1.0,
                              weight_decay=0.0, beta1_weight=0.1, beta2=0.999,
                              one_minus_beta2=0.001, bias_correction2_sqrt=0.03, eps=1e-8,
                              neg_step_size=-0.01, maximize=False),
    "rmsprop_step": lambda: dict(param=_r(5), square_avg=_z(5), grad_avg=Opt(_z(5)),
                                 momentum_buf=Opt(_z(5)), grad=_r(5), neg_lr=-0.01, alpha=0.99,
                                 one_minus_alpha=0.01, eps=1e-8, weight_decay=0.0,
                                 momentum=0.9, maximize=False),
    "adagrad_step": lambda: dict(param=_r(5), sum=_z(5), grad=_r(5), neg_clr=-0.01,
                                 weight_decay=0.0, eps=1e-10, maximize=False),
    "adadelta_step": lambda: dict(param=_r(5), square_avg=_z(5), acc_delta=_z(5), grad=_r(5),
                                  neg_lr=-1.0, rho=0.9, one_minus_rho=0.1, eps=1e-6,
                                  weight_decay=0.0, maximize=False),
    "adamax_step": lambda: dict(param=_r(5), exp_avg=_z(5), exp_inf=_z(5), grad=_r(5),
                                weight_decay=0.0, beta1_weight=0.1, beta2=0.999, eps=1e-8,
                                neg_clr=-0.01, maximize=False),
    "nadam_step": lambda: dict(param=_r(5), exp_avg=_z(5), exp_avg_sq=_z(5), grad=_r(5),
                               decay=1.0, beta1_weight=0.1, beta2=0.999, one_minus_beta2=0.001,
                               bias_correction2=0.001, eps=1e-8, c_grad=-0.01, c_avg=-0.01,
                               maximize=False, decoupled=False),
    "radam_step": lambda: dict(param=_r(5), exp_avg=_z(5), exp_avg_sq=_z(5), grad=_r(5),
                               decay=1.0, beta1_weight=0.1, beta2=0.999, one_minus_beta2=0.001,
                               bias_correction1=0.1, lr=0.01, bias_correction2_sqrt=0.03,
                               rect=1.0, eps=1e-8, maximize=False, decoupled=False,
                               rectify=False),
    "asgd_step": lambda: dict(param=_r(5), ax=_z(5), grad=_r(5), weight_decay=0.0,
                              param_scale=1.0, neg_eta=-0.01, mu=1.0, maximize=False,
                              average=True),
    "rprop_step": lambda: dict(param=_r(5), prev=_z(5), step_size=np.full(5, 0.01, F32),
                               grad=_r(5), etaminus=0.5, etaplus=1.2, step_size_min=1e-6,
                               step_size_max=50.0, maximize=False),
    "sumsq": lambda: dict(x=Free(_r(9))),
    "maxabs": lambda: dict(x=Free(_r(9))),
    "scale_": lambda: dict(x=Free(_r(9)), s=0.5),
    "clamp_": lambda: dict(x=Free(_r(9)), lo=-0.5, hi=0.5),
    # conv / pool / upsample
    "conv2d_forward": lambda: dict(out=_z(1, 2, 4, 4), ws=Opt(None), inp=_r(1, 2, 4, 4),
                                   weight=_r(2, 2, 3, 3), bias=Opt(_r(2)), geom=_conv_geom()),
    "conv2d_backward": lambda: dict(dinp=Opt(_z(1, 2, 4, 4)), dweight=Opt(_z(2, 2, 3, 3)),
                                    dbias=Opt(_z(2)), ws=Opt(None), dout=_r(1, 2, 4, 4),
                                    inp=_r(1, 2, 4, 4), weight=_r(2, 2, 3, 3),
                                    geom=_conv_geom(), accumulate=False),
    "max_pool2d_forward": lambda: dict(out=_z(2, 2, 2), idx=_z(2, 2, 2, dtype=I64),
                                       inp=Free(_r(2, 4, 5)), kernel=(2, 2), stride=(2, 2),
                                       padding=(0, 0), dilation=(1, 1)),
    "max_pool2d_backward": lambda: dict(dinp=Free(_z(2, 4, 5)), dout=_r(2, 2, 2),
                                        idx=Index(np.array([0, 3, 10, 13] * 2,
                                                           I64).reshape(2, 2, 2), 20),
                                        window=None),
    "avg_pool2d_forward": lambda: dict(out=Free(_z(2, 2, 2)), inp=Free(_r(2, 4, 5)),
                                       kernel=(2, 2),
                                       stride=(2, 2), padding=(0, 0), count_include_pad=True,
                                       divisor_override=0),
    "avg_pool2d_backward": lambda: dict(dinp=Free(_z(2, 4, 5)), dout=Free(_r(2, 2, 2)),
                                        kernel=(2, 2),
                                        stride=(2, 2), padding=(0, 0), count_include_pad=True,
                                        divisor_override=0),
    "adaptive_avg_pool2d_forward": lambda: dict(out=Free(_z(2, 3, 2)), inp=Free(_r(2, 4, 5))),
    "adaptive_avg_pool2d_backward": lambda: dict(dinp=Free(_z(2, 4, 5)),
                                                 dout=Free(_r(2, 3, 2))),
    "adaptive_max_pool2d_forward": lambda: dict(out=_z(2, 3, 2), idx=_z(2, 3, 2, dtype=I64),
                                                inp=Free(_r(2, 4, 5))),
    "upsample_nearest2d": lambda: dict(out=_z(2, 5, 6), inp=Free(_r(2, 3, 4)),
                                       hi=Index(_H0, 3, True), wi=Index(_W0, 4, True)),
    "upsample_bilinear2d": lambda: dict(out=_z(2, 5, 6), inp=Free(_r(2, 3, 4)),
                                        h0=Index(_H0, 3, True), h1=Index(_H1, 3, True),
                                        lh=Index(_LH, None, True), w0=Index(_W0, 4, True),
                                        w1=Index(_W1, 4, True), lw=Index(_LW, None, True)),
    # rnn
    "rnn_layer_forward": _rnn_forward,
    "rnn_layer_backward": _rnn_backward,
    # gemm (M, K, N) = (3, 4, 5)
    "sgemm": lambda: dict(transA=False, transB=False, alpha=1.0, A=_r(3, 4), B=_r(4, 5),
                          beta=0.0, C=_z(3, 5)),
    "colsum": lambda: dict(out=_z(5), x=_r(3, 5), beta=0.0),
    "linear_forward": lambda: dict(out=_z(3, 5), inp=_r(3, 4), weight=_r(5, 4),
                                   bias=Opt(_r(5))),
    "linear_backward": lambda: dict(dinp=Opt(_z(3, 4)), dweight=Opt(_z(5, 4)), dbias=Opt(_z(5)),
                                    dout=_r(3, 5), inp=_r(3, 4), weight=_r(5, 4),
                                    accumulate=False),
    "linear_act_forward": lambda: dict(out=_z(3, 5), inp=_r(3, 4), weight=_r(5, 4),
                                       bias=Opt(_r(5)), kind=0),
}


# --------------------------------------------------------------------------- bad cases

def _other_dtype(a):
    return a.astype(F64 if a.dtype == F32 else F32)


def _short(a):
    return a[..., :-1] if a.ndim else a


MUTATIONS = {
    "host": lambda a: ("host", a),          # an ndarray where a device array is expected
    "dtype": lambda a: ("dev", _other_dtype(a)),
    "strided": lambda a: ("strided", a),    # same shape and values, not contiguous
    "short": lambda a: ("dev", _short(a)),  # one element (or one row) too few
    "none": lambda a: ("none", None),
}


class Guarded:
    """Device arrays as views into larger buffers with guard regions; `changed()` says which
    buffers differ (guards or contents) from what they were made with."""

    def __init__(self):
        self.bufs = []

    def dev(self, a, strided=False):
        a = np.ascontiguousarray(a)
        shape = a.shape or (1,)
        wide = shape[:-1] + (shape[-1] * (2 if strided else 1),)
        n = int(np.prod(wide))
        host = np.full(n + 2 * GUARD, SENTINEL, a.dtype)
        view = host[GUARD:GUARD + n].reshape(wide)
        if strided:
            view[..., ::2] = a.reshape(shape)
        else:
            view[...] = a.reshape(shape)
        buf = from_host(host)
        self.bufs.append((buf, host))
        inner = buf[GUARD:GUARD + n].reshape(wide)
        if strided:
            inner = inner[..., ::2]       # same shape and values, every other element
            assert not inner.is_contiguous or inner.size <= 1
        return inner.reshape(a.shape) if not strided else inner

    def changed(self, guards_only=False):
        """Indices of the buffers that differ from what they were made with (in their guard
        regions only, with guards_only)."""
        out = []
        for i, (buf, host) in enumerate(self.bufs):
            now = buf.get()
            if guards_only:
                now = np.concatenate([now[:GUARD], now[-GUARD:]])
                host = np.concatenate([host[:GUARD], host[-GUARD:]])
            if not np.array_equal(now, host, equal_nan=True):
                out.append(i)
        return out


def _unwrap(v):
    return v.a if isinstance(v, (Opt, Index)) else v


def _call_args(spec, guarded, mutate=None):
    """Positional arguments: each array a guarded device view; `mutate` = (name, kind,
    value) replaces one argument: kind "dev" (a guarded device copy of value), "strided",
    "host" / "raw" (value itself), "none"."""
    args = []
    for name, v in spec.items():
        v = _unwrap(v)
        kind = "dev"
        if mutate is not None and name == mutate[0]:
            kind, v = mutate[1], mutate[2]
        if kind == "none" or v is None:
            args.append(None)
        elif kind in ("host", "raw") or not isinstance(v, np.ndarray):
            args.append(v)
        else:
            args.append(guarded.dev(v, strided=kind == "strided"))
    return args


def _out_of_range(a, limit):
    bad = a.copy()
    bad.reshape(-1)[0] = limit
    bad.reshape(-1)[-1] = -1
    return bad


def _cases():
    """(op, argument, case, (kind, value), expect): expect "raise" (a named Python error
    before any launch) or "safe" (may succeed; writes nothing outside its arrays)."""
    for op, make in SPECS.items():
        for name, v in make().items():
            a = _unwrap(v)
            if isinstance(v, Size):
                yield op, name, "negative", ("raw", -int(v)), "raise"
                yield op, name, "inconsistent", ("raw", int(v) + 1), "raise"
            if not isinstance(a, np.ndarray):
                continue
            host_ok = isinstance(v, Index) and v.host_ok
            for mk, mf in MUTATIONS.items():
                if ((mk == "none" and isinstance(v, Opt)) or (mk == "host" and host_ok) or
                        (mk == "short" and (isinstance(v, Free) or a.size == 0))):
                    continue
                yield op, name, mk, mf(a), "raise"
            if isinstance(v, Index) and v.limit is not None:
                bad = _out_of_range(a, v.limit)
                if host_ok:
                    yield op, name, "host_out_of_range", ("host", bad), "raise"
                yield op, name, "device_out_of_range", ("dev", bad), "safe"


def _geom_with(i, v):
    g = list(_conv_geom())
    g[i] = v
    return tuple(g)


# Bad scalars and tuples, one per row: (op, argument, case, value). The `who: name` rule
# applies to these too, except where the message names the field (a geometry's).
SCALAR_CASES = [
    ("act_forward", "kind", "unknown", 8), ("act_backward", "kind", "unknown", -1),
    ("act_extra_forward", "kind", "unknown", 10), ("act_extra_backward", "kind", "unknown", -1),
    ("dropout_forward", "seed", "negative", -1),
    ("dropout_forward", "thresh", "too_big", 2 ** 32),
    ("feature_dropout_forward", "thresh", "negative", -1),
    ("conv2d_forward", "geom", "negative_N", _geom_with(0, -1)),
    ("conv2d_forward", "geom", "wrong_OH", _geom_with(7, 3), "out has shape"),
    ("conv2d_forward", "geom", "zero_stride", _geom_with(9, 0)),
    ("conv2d_forward", "geom", "15_fields", _conv_geom()[:15]),
    ("conv2d_backward", "geom", "negative_N", _geom_with(0, -1)),
    ("conv2d_backward", "geom", "wrong_OW", _geom_with(8, 5), "dout has shape"),
    ("conv2d_backward", "geom", "groups", _geom_with(15, 3)),
    ("max_pool2d_forward", "stride", "zero", (0, 2)),
    ("max_pool2d_forward", "kernel", "zero", (2, 0)),
    ("max_pool2d_forward", "padding", "negative", (-1, 0)),
    ("max_pool2d_forward", "dilation", "zero", (1, 0)),
    ("max_pool2d_forward", "kernel", "three", (2, 2, 2)),
    ("max_pool2d_backward", "window", "zero_stride", ((2, 2), (0, 2), (0, 0), (1, 1)),
     "stride"),
    ("avg_pool2d_forward", "stride", "zero", (2, 0)),
    ("avg_pool2d_forward", "padding", "negative", (0, -1)),
    ("avg_pool2d_backward", "kernel", "zero", (0, 2)),
    ("rnn_layer_forward", "mode", "unknown", 5),
    ("rnn_layer_forward", "col", "negative", -1),
    ("rnn_layer_backward", "mode", "unknown", -1),
    ("rnn_layer_backward", "col", "past_ldo", 1),
]


SCALAR_WORD = {}   # (op, name, case) -> the word the message must hold (the argument's name)


def _scalar_cases():
    for op, name, case, value, *word in SCALAR_CASES:
        assert name in SPECS[op](), (op, name)
        SCALAR_WORD[op, name, case] = word[0] if word else name
        yield op, name, case, ("raw", value), "raise"


CASES = list(_cases()) + list(_scalar_cases())


# --------------------------------------------------------------------------- the tests
ALLOWED = (ValueError, TypeError, IndexError, OverflowError)   # Overflow: as Cython's uint32


def _from_numba_or_numpy(exc):
    """True when the exception was raised inside Numba or NumPy (not by nnfast's checks)."""
    return any("/numba" in code.co_filename or "/numpy/" in code.co_filename
               for code in _frames(exc.__traceback__))


def _frames(tb):
    while tb is not None:
        yield tb.tb_frame.f_code
        tb = tb.tb_next


def _array_names(spec):
    return [n for n, v in spec.items() if isinstance(_unwrap(v), np.ndarray)]


def test_every_table_kernel_has_a_valid_call_here(K):
    # The table's kernels (every family's __all__) are the ones SPECS covers: a kernel added
    # later gets its bad-call cases here too.
    from nnfast.backend import cuda as cuda_table
    names = set()
    for fam in cuda_table.FAMILIES:
        mod = getattr(cuda_table, fam, None)
        names.update(getattr(mod, "__all__", ()))
    names.discard("conv2d_workspace")      # takes no arrays (geometry only)
    names.discard("strided_view")          # makes a view, launches nothing (test_array.py)
    assert len(names) > 60
    assert names - set(SPECS) == set()


@pytest.mark.parametrize("op", list(SPECS))
def test_the_valid_call_runs_and_stays_in_its_arrays(K, op):
    g = Guarded()
    getattr(K, op)(*_call_args(SPECS[op](), g))
    assert g.changed(guards_only=True) == []


@pytest.mark.parametrize("op, name, case, mutation, expect", CASES,
                         ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_bad_argument(K, op, name, case, mutation, expect):
    spec = SPECS[op]()
    g = Guarded()
    args = _call_args(spec, g, (name,) + mutation)
    if expect == "safe":
        # A device index array is not read back: the call may refuse it or run, but its
        # kernels skip or clamp a bad entry and write nothing outside the arrays.
        try:
            getattr(K, op)(*args)
        except ALLOWED as e:
            assert not _from_numba_or_numpy(e), e
        assert g.changed(guards_only=True) == []
        return
    with pytest.raises(ALLOWED) as info:
        getattr(K, op)(*args)
    assert not _from_numba_or_numpy(info.value), f"raised from inside: {info.value!r}"
    msg = str(info.value)
    # The message names the argument; a disagreement between two arguments (an array one
    # row short, a size that does not match the arrays) may be reported by the other one.
    if (op, name, case) in SCALAR_WORD:
        names = [SCALAR_WORD[op, name, case]]
    elif case in ("host", "dtype", "strided", "none", "negative", "host_out_of_range"):
        names = [name]
    else:
        names = [name] + _array_names(spec)
    assert any(n in msg for n in names), f"{msg!r} names none of {names}"
    assert g.changed() == [], "a refused call wrote to device memory"


# Gathers and stencils read other threads' elements: an output sharing memory with an
# input (or another output) is refused. (op, written argument, argument it overlaps)
ALIAS_CASES = [
    ("conv2d_forward", "out", "inp"), ("conv2d_forward", "out", "weight"),
    ("conv2d_backward", "dinp", "dout"), ("conv2d_backward", "dweight", "inp"),
    ("conv2d_backward", "dinp", "inp"), ("conv2d_backward", "dinp", "dweight"),
    ("max_pool2d_forward", "out", "inp"), ("max_pool2d_backward", "dinp", "dout"),
    ("avg_pool2d_forward", "out", "inp"), ("avg_pool2d_backward", "dinp", "dout"),
    ("adaptive_avg_pool2d_forward", "out", "inp"),
    ("adaptive_avg_pool2d_backward", "dinp", "dout"),
    ("adaptive_max_pool2d_forward", "out", "inp"),
    ("upsample_nearest2d", "out", "inp"), ("upsample_bilinear2d", "out", "inp"),
    ("embedding_forward", "out", "weight"), ("embedding_backward", "dweight", "dout"),
]


@pytest.mark.parametrize("op, write, read", ALIAS_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}"
                                                              for c in ALIAS_CASES])
def test_overlapping_output_is_refused(K, op, write, read):
    spec = SPECS[op]()
    names = list(spec)
    g = Guarded()
    args = _call_args(spec, g)
    iw, ir = names.index(write), names.index(read)
    small, big = (iw, ir) if args[iw].size <= args[ir].size else (ir, iw)
    # the smaller one becomes a view into the larger one's memory (one element in, if it fits)
    n = args[small].size
    off = 1 if n < args[big].size else 0
    args[small] = args[big].reshape(-1)[off:off + n].reshape(args[small].shape)
    with pytest.raises(ValueError, match=f"({write} and {read}|{read} and {write}) share"):
        getattr(K, op)(*args)
    assert g.changed() == []


def test_conv_transpose_may_write_its_input_gradient_over_inp(K):
    # conv2d_backward(dinp=out, dweight=None, ..., inp=out): inp is not read for dinp
    spec = SPECS["conv2d_backward"]()
    spec["dweight"] = spec["dbias"] = Opt(None)
    g = Guarded()
    args = _call_args(spec, g)
    args[list(spec).index("inp")] = args[0]
    K.conv2d_backward(*args)
    assert g.changed(guards_only=True) == []


# --------------------------------------------------------------------------- NumPy's protocol
# The FUNCS / UFUNCS / HOOKS registrations answer a bad call as NumPy does (an exception of
# NumPy's class, raised by the checks, not from inside a kernel), and leave memory alone.
def _np_cases():
    i64 = lambda v: np.array(v, I64)    # noqa: E731
    return {
        "copyto_shapes": lambda a, v, m: np.copyto(a, m(np.ones((2, 5), F32))),
        "setitem_broadcast": lambda a, v, m: a.__setitem__(slice(None), m(np.ones((2, 4), F32))),
        "moveaxis_axis": lambda a, v, m: np.moveaxis(a, 0, 5),
        "expand_dims_axis": lambda a, v, m: np.expand_dims(a, 5),
        "getitem_index": lambda a, v, m: a[m(i64([0, 3]))],
        "setitem_index": lambda a, v, m: a.__setitem__(m(i64([-4])), 1.0),
        "take_index": lambda a, v, m: np.take(v, m(i64([0, 4]))),
        "take_along_index": lambda a, v, m: np.take_along_axis(a, m(i64([[0, 4, 1, 0]] * 3)), 1),
        "put_along_index": lambda a, v, m: np.put_along_axis(a, m(i64([[9, 0, 1, 0]] * 3)),
                                                             1.0, 1),
        "add_at_index": lambda a, v, m: np.add.at(v, m(i64([1, -5])), 1.0),
        "bincount_negative": lambda a, v, m: np.bincount(m(i64([1, -1]))),
        "add_out_shape": lambda a, v, m: np.add(a, a, out=m(np.zeros((3, 3), F32))),
        "sum_axis": lambda a, v, m: np.sum(a, axis=2),
        "concatenate_shapes": lambda a, v, m: np.concatenate([a, m(np.ones((2, 5), F32))]),
        "repeat_counts": lambda a, v, m: np.repeat(v, m(i64([1, 2]))),
    }


NP_CASES = _np_cases()


@pytest.mark.parametrize("case", list(NP_CASES))
def test_numpy_protocol_bad_call(K, case):
    call = NP_CASES[case]
    base = np.arange(12, dtype=F32).reshape(3, 4)
    with pytest.raises(Exception) as want:          # NumPy's own answer, on host arrays
        call(base.copy(), np.arange(4, dtype=F32), np.asarray)
    g = Guarded()
    a, v = g.dev(base), g.dev(np.arange(4, dtype=F32))
    with pytest.raises(type(want.value)) as got:
        call(a, v, lambda x: g.dev(x))
    # (NumPy's host-side shape helpers may raise; a Numba frame means a kernel launch did)
    assert not any("/numba" in c.co_filename for c in _frames(got.value.__traceback__))
    assert g.changed() == []
