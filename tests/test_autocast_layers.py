"""bf16 autocast of the convolution and recurrent layers (issue 17), as torch's CPU autocast
(conv1d/conv2d/conv_transpose1d/2d and the RNN layers are on its lower-precision list): every
GEMM of their forward and backward on bf16-rounded operands with fp32 accumulation, the rest
fp32. Held to torch.autocast (outputs and every gradient, looser for the recurrences: see
there), to float64 references on rounded operands (conv on two threads: the precision reaches
the GEMMs inside conv.c's parallel region; RNN/LSTM/GRU through time), to the forward's
precision in the backward, and outside autocast to a fresh process's fp32 run bit for bit.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import _C, nn
from test_autocast import BF16_EPS, round_bf16

# (name, constructor args, input shape); OC/groups > 12 and C/groups*k*k > 16: the shapes on
# which the GEMM runs bf16 tiles (fewer rows or a narrow NT output stay fp32, see nnfast.h)
CONVS = [
    ("Conv1d", (8, 32, 5), dict(padding=2, stride=2), (4, 8, 30)),
    ("Conv2d", (16, 32, 3), dict(stride=2, padding=1, groups=2), (4, 16, 11, 11)),
    ("Conv2d", (8, 24, 3), dict(padding=1), (3, 8, 9, 9)),
    ("ConvTranspose1d", (16, 24, 4), dict(stride=2, padding=1), (3, 16, 20)),
    ("ConvTranspose2d", (16, 24, 3), dict(stride=2, padding=1, output_padding=1), (3, 16, 7, 7)),
    ("ConvTranspose2d", (32, 32, 3), dict(groups=2), (2, 32, 6, 6)),
]
RNNS = ["LSTM", "GRU", "RNN"]
# torch (oneDNN) on a CPU without bf16 instructions rounds more intermediates to bf16 (seen:
# ConvTranspose2d's column sums, LSTM's states): twice the tolerance against it there
TORCH_ROUNDING = 1 if _C.gemm_bf16_isa() in ("avx512_bf16", "amx_bf16") else 2


def _pair(name, args, kw, seed=0):
    """The same layer in torch and nnfast (torch's initial weights copied)."""
    torch.manual_seed(seed)
    tm, nm = getattr(torch.nn, name)(*args, **kw), getattr(nn, name)(*args, **kw)
    nm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return tm, nm


def _first(y):
    return y[0] if isinstance(y, tuple) else y


def _call(m, ins):
    """m(x), m(x, h0) or m(x, (h0, c0))."""
    return m(ins[0]) if len(ins) == 1 else m(ins[0], ins[1] if len(ins) == 2 else
                                             tuple(ins[1:]))


def _run(lib, m, arrays, grads, autocast=True, dtype="bfloat16"):
    """m on arrays (its outputs flattened: output, h_n, c_n), the loss sum(out_i * grads_i)
    and its backward, under autocast to dtype. Returns the outputs (a list) and the gradients
    {"input i": ..., parameter name: ...}, float32 arrays."""
    m.zero_grad()
    ins = [lib.tensor(a.copy(), requires_grad=True) for a in arrays]
    with lib.autocast("cpu", dtype=getattr(lib, dtype), enabled=autocast):
        out = _call(m, ins)
    outs = [out] if not isinstance(out, tuple) else [out[0]] + (
        list(out[1]) if isinstance(out[1], tuple) else [out[1]])
    loss = sum((o.float() * lib.tensor(g)).sum() for o, g in zip(outs, grads))
    loss.backward()
    arr = (lambda t: t.detach().float().numpy()) if lib is torch else \
        (lambda t: t.detach().numpy().copy())
    grads = {f"input {i}": arr(t.grad) for i, t in enumerate(ins)}
    grads.update((k, arr(p.grad)) for k, p in m.named_parameters())
    return [arr(o) for o in outs], grads


def _close(got, want, rtol, what):
    if isinstance(got, dict):
        assert sorted(got) == sorted(want)
        got, want, names = [got[k] for k in want], list(want.values()), list(want)
    else:
        names = [f"{what} {i}" for i in range(len(want))]
    for g, w, name in zip(got, want, names):
        assert g.dtype == np.float32 and g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * np.abs(w).max(), err_msg=name)


def _differs(got, fp32, what, skip=()):
    """The bf16 result is away from the fp32 one by about bf16's rounding (so it ran)."""
    items = got.items() if isinstance(got, dict) else enumerate(got)
    for k, g in items:
        if k not in skip:
            f = fp32[k]
            assert np.abs(g - f).max() > 1e-4 * np.abs(f).max(), f"{what} {k}: fp32 numbers"


def _inputs(shapes, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _conv_case(i):
    name, args, kw, shape = CONVS[i]
    tm, nm = _pair(name, args, kw)
    x, = _inputs([shape])
    with torch.no_grad():
        g, = _inputs([tm(torch.from_numpy(x)).shape], seed=2)
    return tm, nm, [x], [g]


def _rnn_case(name, B=16, T=6, I=12, H=24, layers=2):
    tm, nm = _pair(name, (I, H), dict(num_layers=layers, batch_first=True,
                                     bidirectional=True))
    h0 = (2 * layers, B, H)
    shapes = [(B, T, I), h0] + ([h0] if name == "LSTM" else [])
    outs = [(B, T, 2 * H), h0] + ([h0] if name == "LSTM" else [])
    return tm, nm, _inputs(shapes), _inputs(outs, seed=2)


# ------------------------------------------------------------------------- against torch
@pytest.mark.parametrize("i", range(len(CONVS)), ids=[c[0] + str(c[2]) for c in CONVS])
def test_conv_layers_match_torch_autocast(i):
    tm, nm, xs, gs = _conv_case(i)
    (t_out, t_grads), (n_out, n_grads) = _run(torch, tm, xs, gs), _run(nf, nm, xs, gs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert tm(torch.from_numpy(xs[0])).dtype == torch.bfloat16   # torch's list has it
    # torch rounds its output to bf16 once more; both products are of rounded operands
    _close(n_out, t_out, TORCH_ROUNDING * BF16_EPS, "output")
    _close(n_grads, t_grads, 2 * TORCH_ROUNDING * BF16_EPS, "gradient")
    f_out, f_grads = _run(nf, nm, xs, gs, autocast=False)
    _differs(n_out, f_out, "output")
    _differs(n_grads, f_grads, "gradient", skip=("bias",))
    # the bias gradient is an fp32 sum of dout either way (far inside bf16's 4e-3); fp32 3x3
    # convolutions sum it in Winograd's order, autocast ones in im2col's
    np.testing.assert_allclose(n_grads["bias"], f_grads["bias"], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", RNNS)
def test_rnn_layers_match_torch_autocast(name):
    """2 layers, bidirectional, batch_first, with h0 (and c0): output, h_n (c_n) and the
    gradients of x, h0, c0 and every weight and bias."""
    tm, nm, xs, gs = _rnn_case(name)
    n_out, n_grads = _run(nf, nm, xs, gs)
    try:
        t_out, t_grads = _run(torch, tm, xs, gs)
        tol = 2 * TORCH_ROUNDING * BF16_EPS
    except RuntimeError as e:
        # torch 2.13's bf16 LSTM needs oneDNN's bf16 support, which CPUs without bf16
        # instructions lack ("could not create a primitive descriptor"): the oracle is then
        # its fp32 LSTM, which the bf16 products stay within a few bf16 roundings of
        assert "primitive" in str(e) and TORCH_ROUNDING == 2, e
        t_out, t_grads = _run(torch, tm, xs, gs, autocast=False)
        tol = 4 * BF16_EPS
    # torch's recurrence carries bf16 states (LSTM, RNN) or rounds inside its cells, and
    # each step's rounding feeds the next: twice the conv tolerance
    _close(n_out, t_out, tol, "output")
    _close(n_grads, t_grads, 2 * tol, "gradient")
    f_out, f_grads = _run(nf, nm, xs, gs, autocast=False)
    _differs(n_out, f_out, "output")
    _differs(n_grads, f_grads, "gradient")


@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell", "RNNCell"])
def test_rnn_cells_match_torch_autocast(name):
    tm, nm = _pair(name, (12, 24), {})
    xs = _inputs([(16, 12), (16, 24)] + ([(16, 24)] if name == "LSTMCell" else []))
    gs = _inputs([(16, 24)] * (2 if name == "LSTMCell" else 1), seed=2)
    (t_out, t_grads), (n_out, n_grads) = _run(torch, tm, xs, gs), _run(nf, nm, xs, gs)
    _close(n_out, t_out, BF16_EPS, "output")
    _close(n_grads, t_grads, 2 * BF16_EPS, "gradient")
    f_out, _ = _run(nf, nm, xs, gs, autocast=False)
    _differs(n_out, f_out, "output")


# ------------------------------------------------------------------------- exactly bf16
@pytest.fixture(params=["auto", "emulate"])
def bf16_path(request):
    assert _C.gemm_set_bf16(request.param)
    yield _C.gemm_bf16_isa()
    _C.gemm_set_bf16("auto")


@pytest.mark.parametrize("transposed", [False, True])
def test_conv_autocast_is_the_product_of_rounded_operands(bf16_path, transposed):
    """On two threads (batch 8: conv.c spreads the samples over its own parallel region),
    forward, dx and dweight are the float64 convolution of the bf16-rounded input, weight and
    upstream gradient, up to fp32 summation; dbias sums the unrounded gradient."""
    check_conv_rounded(transposed, "bfloat16", round_bf16, bf16_path)


def check_conv_rounded(transposed, dtype, round_operand, label, apart=1e-4):
    """That test for autocast to dtype, whose operands round_operand rounds (and whose
    results lie over apart * their scale from the fp32 ones)."""
    old = nf.get_num_threads()
    nf.set_num_threads(2)
    try:
        # Conv2d: 2 groups of 16 output channels; ConvTranspose2d: 1 group (its dx is a
        # conv with 16 output channels)
        name, groups = ("ConvTranspose2d", 1) if transposed else ("Conv2d", 2)
        x, w, b = _inputs([(8, 16, 12, 12), (16, 32, 3, 3) if transposed else (32, 8, 3, 3),
                           (32,)])
        m = getattr(nn, name)(16, 32, 3, padding=1, groups=groups)
        with nf.no_grad():
            m.weight.copy_(nf.tensor(w))
            m.bias.copy_(nf.tensor(b))
        g = _inputs([(8, 32, 12, 12)], seed=3)[0]
        (out,), grads = _run(nf, m, [x], [g], dtype=dtype)
        m64 = getattr(nn, name)(16, 32, 3, padding=1, groups=groups).double()
        with nf.no_grad():
            m64.weight.copy_(nf.tensor(round_operand(w).astype(np.float64)))
            m64.bias.copy_(nf.tensor(b.astype(np.float64)))
        xr = nf.tensor(round_operand(x).astype(np.float64), requires_grad=True)
        y64 = m64(xr)
        y64.backward(nf.tensor(round_operand(g).astype(np.float64)))
        want = [y64.detach().numpy(), xr.grad.numpy(), m64.weight.grad.numpy()]
        (f_out,), f_grads = _run(nf, m, [x], [g], autocast=False)
        got = [out, grads["input 0"], grads["weight"]]
        fp32 = [f_out, f_grads["input 0"], f_grads["weight"]]
        for a, f, ref, what in zip(got, fp32, want, ("output", "dx", "dweight")):
            scale = np.abs(ref).max()
            assert np.abs(a - ref).max() <= 2e-6 * scale, (label, what)   # seen: 3e-7
            assert np.abs(f - ref).max() > apart * scale, (label, what)
        np.testing.assert_allclose(grads["bias"], g.astype(np.float64).sum((0, 2, 3)),
                                   rtol=1e-5, atol=1e-4)
    finally:
        nf.set_num_threads(old)


class _Bf16Operands(np.ndarray):
    """float64 arrays whose @ multiplies bf16-rounded operands: fed these, the NumPy reference
    of the recurrent kernels computes what their bf16 mode does (up to fp32 arithmetic)."""
    round = staticmethod(round_bf16)

    def _rounded(self, a):
        return self.round(np.asarray(a, np.float32)).astype(np.float64)

    def __matmul__(self, other):
        return (self._rounded(self) @ self._rounded(other)).view(type(self))

    def __rmatmul__(self, other):
        return (self._rounded(other) @ self._rounded(self)).view(type(self))


@pytest.mark.parametrize("name", RNNS)
def test_rnn_autocast_is_the_product_of_rounded_operands(name, dtype="bfloat16",
                                                         operands=_Bf16Operands, apart=1e-4,
                                                         flips=False):
    """Every GEMM of the recurrent kernels, forward and backward through time, multiplies
    bf16-rounded operands (or fp16-rounded: test_autocast_fp16): one bidirectional layer
    against the float64 reference whose products round theirs. Batch 16 and 24 hidden units:
    shapes the bf16 tiles serve. flips (fp16): an fp32 state within float16's finer rounding
    of a tie may round the other way than the float64 reference's and carry on through time
    (seen: elements off by ~1e-4 of the scale, means 0.1x fp32's), so held: the mean error
    within a quarter of fp32's."""
    from nnfast.nn import _functional_rnn as R
    mode = {"LSTM": R.LSTM, "GRU": R.GRU, "RNN": R.RNN_TANH}[name]
    T, B, I, H = 5, 16, 20, 24
    _, nm = _pair(name, (I, H), dict(bidirectional=True))
    lstm = name == "LSTM"
    xs = _inputs([(T, B, I), (2, B, H)] + ([(2, B, H)] if lstm else []))
    gs = _inputs([(T, B, 2 * H), (2, B, H)] + ([(2, B, H)] if lstm else []), seed=2)
    outs, grads = _run(nf, nm, xs, gs, dtype=dtype)
    p = {k: v.detach().numpy().astype(np.float64) for k, v in nm.named_parameters()}
    x = xs[0].astype(np.float64).view(operands)
    want = {"input 0": np.zeros((T, B, I))}
    ref_out = [np.empty((T, B, 2 * H)), np.empty((2, B, H))] + ([np.empty((2, B, H))] if lstm
                                                                 else [])
    for d, sfx in enumerate(("", "_reverse")):
        w_ih, w_hh = (p[f"weight_{k}_l0{sfx}"].view(operands) for k in ("ih", "hh"))
        h0 = xs[1][d].astype(np.float64)
        c0 = xs[2][d].astype(np.float64) if lstm else None
        o, hn, cn, gates, saved = R.ref_layer_forward(mode, x, w_ih, w_hh, p[f"bias_ih_l0{sfx}"],
                                                      p[f"bias_hh_l0{sfx}"], h0, c0, d == 1)
        ref_out[0][:, :, d * H:(d + 1) * H], ref_out[1][d] = o, hn
        if lstm:
            ref_out[2][d] = cn
        r = R.ref_layer_backward(mode, d == 1, gs[0][:, :, d * H:(d + 1) * H], gs[1][d],
                                 gs[2][d] if lstm else None, x, w_ih, w_hh, h0, c0, o, gates,
                                 saved)
        want["input 0"] += r["dx"]
        for k in ("ih", "hh"):
            want[f"weight_{k}_l0{sfx}"], want[f"bias_{k}_l0{sfx}"] = r[f"dw_{k}"], r[f"db_{k}"]
        for i, k in enumerate(("dh0", "dc0")[:2 if lstm else 1]):
            want.setdefault(f"input {i + 1}", np.empty((2, B, H)))[d] = r[k]
    f_outs, f_grads = _run(nf, nm, xs, gs, autocast=False)
    for k, ref in list(enumerate(ref_out)) + list(want.items()):
        got, fp32 = (outs[k], f_outs[k]) if isinstance(k, int) else (grads[k], f_grads[k])
        scale = np.abs(ref).max()
        if flips:   # a state near a rounding tie may round the other way than the reference's
            assert np.abs(got - ref).mean() <= 0.25 * np.abs(fp32 - ref).mean(), k
            assert np.abs(got - ref).max() <= 1e-3 * scale, k
            continue
        assert np.abs(got - ref).max() <= 2e-6 * scale, k   # measured: <= 4e-7
        assert np.abs(fp32 - ref).max() > apart * scale, k   # and fp32 is not that


# ------------------------------------------------------------------------- the mode's reach
@pytest.mark.parametrize("case", ["Conv2d", "ConvTranspose2d", "LSTM", "GRU"])
def test_backward_keeps_the_forwards_precision(case):
    """backward() outside autocast differentiates a bf16 forward in bf16 (as torch's), and
    one inside autocast an fp32 forward in fp32: the forward's mode decides."""
    if case in RNNS:
        _, nm, xs, gs = _rnn_case(case, layers=1)
    else:
        _, nm, xs, gs = _conv_case([c[0] for c in CONVS].index(case))

    def run(fwd_lp, bwd_lp):
        nm.zero_grad()
        ins = [nf.tensor(a.copy(), requires_grad=True) for a in xs]
        with nf.autocast("cpu", enabled=fwd_lp):
            out = _call(nm, ins)
        with nf.autocast("cpu", enabled=bwd_lp):
            _first(out).backward(nf.tensor(gs[0]))
        grads = {f"input {i}": t.grad.numpy() for i, t in enumerate(ins)}
        grads.update((k, p.grad.numpy().copy()) for k, p in nm.named_parameters())
        return grads

    for fwd in (True, False):
        same, other = run(fwd, fwd), run(fwd, not fwd)
        for k in same:
            np.testing.assert_array_equal(same[k], other[k], err_msg=k)
    _differs(run(True, True), run(False, False), "gradient", skip=("bias",))


_FRESH = """
import json, sys
import numpy as np
sys.path.insert(0, {root!r})
sys.path.insert(0, {tests!r})
import nnfast as nf
nf.set_num_threads({threads})
import test_autocast_layers as t
print(json.dumps(t._fp32_results()))
"""


def _fp32_results():
    """Outputs and gradients of every case outside autocast, as lists (for the fresh run)."""
    res = {}
    for i in range(len(CONVS)):
        _, nm, xs, gs = _conv_case(i)
        outs, grads = _run(nf, nm, xs, gs, False)
        res[f"conv{i}"] = [a.tolist() for a in outs + [grads[k] for k in sorted(grads)]]
    for name in RNNS:
        _, nm, xs, gs = _rnn_case(name)
        outs, grads = _run(nf, nm, xs, gs, False)
        res[name] = [a.tolist() for a in outs + [grads[k] for k in sorted(grads)]]
    return res


def test_outside_autocast_is_the_fp32_run_bit_for_bit():
    """Once autocast has run in this process, the layers outside it (and under
    autocast(enabled=False) inside it) give, bit for bit, what a process that never entered
    autocast gives: the fp32 kernels, untouched."""
    with nf.autocast("cpu"):
        _run(nf, _conv_case(0)[1], *_conv_case(0)[2:])
    here = _fp32_results()
    with nf.autocast("cpu"):
        with nf.autocast("cpu", enabled=False):
            nested = _fp32_results()
    tests = os.path.dirname(os.path.abspath(__file__))
    code = _FRESH.format(root=os.path.dirname(tests), tests=tests,
                         threads=nf.get_num_threads())
    fresh = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                      text=True, check=True).stdout)
    assert sorted(fresh) == sorted(here)
    for k in fresh:
        for a, b, c in zip(fresh[k], here[k], nested[k]):
            a, b, c = (np.asarray(v, np.float32) for v in (a, b, c))
            np.testing.assert_array_equal(b, a, err_msg=k)
            np.testing.assert_array_equal(c, a, err_msg=k)


# ------------------------------------------------------------------------- training
def _cnn(lib):
    return lib.nn.Sequential(
        lib.nn.Conv2d(3, 16, 3, padding=1), lib.nn.ReLU(), lib.nn.MaxPool2d(2),
        lib.nn.Conv2d(16, 32, 3, padding=1, groups=2), lib.nn.ReLU(),
        lib.nn.ConvTranspose2d(32, 16, 2, stride=2), lib.nn.ReLU(),
        lib.nn.AdaptiveAvgPool2d(1), lib.nn.Flatten(), lib.nn.Linear(16, 10))


def test_cnn_training_under_autocast_follows_torch():
    torch.manual_seed(0)
    tm, nm = _cnn(torch), _cnn(nf)
    nm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 32)   # four noisy copies of four random images
    x = (rng.standard_normal((4, 3, 12, 12))[y] +
         0.5 * rng.standard_normal((32, 3, 12, 12))).astype(np.float32)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    nopt = nf.optim.SGD(nm.parameters(), lr=0.1, momentum=0.9)
    t_losses, n_losses = [], []
    for _ in range(12):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            tl = torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y))
        with nf.autocast("cpu", dtype=nf.bfloat16):
            nl = nn.functional.cross_entropy(nm(nf.tensor(x)), nf.tensor(y))
        for opt, loss in ((topt, tl), (nopt, nl)):
            opt.zero_grad()
            loss.backward()
            opt.step()
        t_losses.append(tl.item())
        n_losses.append(nl.item())
    assert n_losses[-1] < 0.8 * n_losses[0]
    np.testing.assert_allclose(n_losses, t_losses, rtol=0.03, atol=0.01)
    for p in nm.parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32
