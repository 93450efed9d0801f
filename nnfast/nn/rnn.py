"""Recurrent layers: RNN, LSTM, GRU and their single-step cells RNNCell, LSTMCell, GRUCell.

PyTorch's parameter names, shapes, gate orders (LSTM i, f, g, o; GRU r, z, n with the n
gate's hidden term r * (W_hn h + b_hn)) and U(-1/sqrt(hidden), 1/sqrt(hidden)) init, so
state dicts load both ways. Computation: nnfast/nn/_functional_rnn.py (one autograd node per
call, the time loop in C for float32). A cell is the same engine run for one time step.
PackedSequence inputs run through nnfast/nn/utils/rnn.py (run_packed).
Not supported: LSTM proj_size.
"""
import math
import numbers
import warnings

import numpy as np

from . import init
from . import _functional_rnn as R
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence, run_packed

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def _check_sizes(input_size, hidden_size, bias, who):
    if not isinstance(bias, bool):
        raise TypeError(f"bias should be of type bool, got: {type(bias).__name__}")
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, numbers.Integral) or isinstance(v, bool):
            raise TypeError(f"{name} should be of type int, got: {type(v).__name__}")
        if v <= 0:
            raise ValueError(f"{name} must be greater than zero")


def _as_input(input, who):
    if isinstance(input, Tensor):
        return input
    if isinstance(input, np.ndarray):
        return Tensor._make(input)
    raise TypeError(f"{who}: expected a Tensor input, got {type(input).__name__}")


def _check_dtype(t, wdt, who, what="input"):
    if t.dtype != wdt:
        raise DTypeError(f"{who}: {what} dtype ({t.dtype}) does not match weight dtype "
                         f"({wdt}). Convert the {what}: .to({wdt}), or the model: "
                         f"model.to({t.dtype})")


class RNNBase(Module):
    _MODES = {"RNN_TANH": R.RNN_TANH, "RNN_RELU": R.RNN_RELU, "LSTM": R.LSTM, "GRU": R.GRU}

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0,
                 device=None, dtype=None):
        super().__init__()
        if mode not in self._MODES:
            raise ValueError("Unrecognized RNN mode: " + str(mode))
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError("dropout should be a number in range [0, 1] representing the "
                             "probability of an element being zeroed")
        _check_sizes(input_size, hidden_size, bias, mode)
        if not isinstance(batch_first, bool):
            raise TypeError(f"batch_first should be of type bool, got: "
                            f"{type(batch_first).__name__}")
        if not isinstance(num_layers, numbers.Integral) or num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable "
                             "projections")
        if proj_size:
            raise NotImplementedError(f"{mode}: proj_size is not supported by nnfast")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, "
                          "so non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        self.mode = mode
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = 0
        D = 2 if bidirectional else 1
        G = {"LSTM": 4, "GRU": 3}.get(mode, 1) * hidden_size
        dt = np.dtype(dtype or np.float32)
        self._flat_weights_names = []
        for layer in range(num_layers):
            for d in range(D):
                n_in = input_size if layer == 0 else hidden_size * D
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                shapes = [("weight_ih", (G, n_in)), ("weight_hh", (G, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (G,)), ("bias_hh", (G,))]
                for name, shape in shapes:
                    setattr(self, name + sfx, Parameter(np.empty(shape, dt)))
                    self._flat_weights_names.append(name + sfx)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    @property
    def all_weights(self):
        D = 2 if self.bidirectional else 1
        per = 4 if self.bias else 2
        ws = [getattr(self, n) for n in self._flat_weights_names]
        return [ws[i * per:(i + 1) * per] for i in range(self.num_layers * D)]

    def _weights(self):
        """The flat [w_ih, w_hh, b_ih, b_hh] * (layers x directions) list (biases None)."""
        out = []
        for group in self.all_weights:
            out += list(group) if self.bias else list(group) + [None, None]
        return out

    def _who(self):
        return (f"{type(self).__name__}(input_size={self.input_size}, "
                f"hidden_size={self.hidden_size}"
                + (f", num_layers={self.num_layers}" if self.num_layers != 1 else "")
                + (", batch_first=True" if self.batch_first else "")
                + (", bidirectional=True" if self.bidirectional else "") + ")")

    def _check_hidden(self, h, expected, batched, who, what, msg_name):
        """h: Tensor; expected: the (L*D, B, H) shape after unsqueezing unbatched input."""
        _check_dtype(h, self.weight_ih_l0.dtype, who, what)
        shape = tuple(h.shape) if batched else (h.shape[0], 1) + tuple(h.shape[1:])
        if shape != expected:
            hint = ""
            if (batched and len(h.shape) == 3 and h.shape[0] == expected[0]
                    and h.shape[2] == expected[2]):
                hint = (f" (the batch size is {expected[1]} because batch_first="
                        f"{self.batch_first} takes the batch from input dim "
                        f"{0 if self.batch_first else 1}; if your input is laid out "
                        f"{'(seq, batch, feature)' if self.batch_first else '(batch, seq, feature)'}"
                        f", construct the layer with batch_first={not self.batch_first})")
            exp = expected if batched else (expected[0], expected[2])
            raise ShapeError(f"{who}: Expected {msg_name} size {exp}, got {list(h.shape)}"
                             + hint)

    def flatten_parameters(self):
        """A no-op: the weights are always used in place (torch compacts cuDNN's buffer)."""

    def forward(self, input, hx=None):
        who = self._who()
        if isinstance(input, PackedSequence):
            return run_packed(self, input, hx)
        x = _as_input(input, who)
        wdt = self.weight_ih_l0.dtype
        if x.ndim not in (2, 3):
            raise ShapeError(f"{who}: Expected input to be 2D (unbatched: seq, feature) or 3D "
                             f"({'batch, seq' if self.batch_first else 'seq, batch'}, "
                             f"feature), got {x.ndim}D input of shape {tuple(x.shape)}")
        if x.dtype.kind != "f":
            raise DTypeError(f"{who}: expected a floating-point input, got dtype {x.dtype}; "
                             f"convert it with .float()")
        _check_dtype(x, wdt, who)
        if x.shape[-1] != self.input_size:
            hint = ""
            if self.input_size in x.shape[:-1]:
                hint = (" (the features must be the last dimension: "
                        + ("(batch, seq, feature) with batch_first=True)" if self.batch_first
                           else "(seq, batch, feature), or (batch, seq, feature) with "
                                "batch_first=True)"))
            raise ShapeError(f"{who}: input.size(-1) must be equal to input_size. Expected "
                             f"{self.input_size}, got {x.shape[-1]} (input shape "
                             f"{tuple(x.shape)}){hint}")
        batched = x.ndim == 3
        if batched:
            if self.batch_first:
                x = x.transpose(0, 1)
        else:
            x = x.unsqueeze(1)
        T, B = x.shape[0], x.shape[1]
        if T == 0:
            raise ShapeError(f"{who}: the sequence length must be at least 1, got input of "
                             f"shape {tuple(input.shape)}")
        D = 2 if self.bidirectional else 1
        expected = (self.num_layers * D, B, self.hidden_size)
        is_lstm = self.mode == "LSTM"
        h0 = c0 = None
        if hx is not None:
            if is_lstm:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError(f"{who}: hx must be a tuple (h_0, c_0)")
                hs = [_as_input(h, who) for h in hx]
                want = 3 if batched else 2
                if hs[0].ndim != want or hs[1].ndim != want:
                    raise ShapeError(
                        f"{who}: For {'batched 3-D' if batched else 'unbatched 2-D'} input, "
                        f"hx and cx should also be {want}-D but got ({hs[0].ndim}-D, "
                        f"{hs[1].ndim}-D) tensors")
                self._check_hidden(hs[0], expected, batched, who, "h_0", "hidden[0]")
                self._check_hidden(hs[1], expected, batched, who, "c_0", "hidden[1]")
                h0, c0 = hs
            else:
                h0 = _as_input(hx, who)
                want = 3 if batched else 2
                if h0.ndim != want:
                    raise ShapeError(
                        f"{who}: For {'batched 3-D' if batched else 'unbatched 2-D'} input, "
                        f"hx should also be {want}-D but got {h0.ndim}-D tensor")
                self._check_hidden(h0, expected, batched, who, "hx", "hidden")
            if not batched:
                h0 = h0.unsqueeze(1)
                c0 = None if c0 is None else c0.unsqueeze(1)
        out, hn, cn = R.rnn_forward(self._MODES[self.mode], x, h0, c0, self._weights(),
                                    self.num_layers, self.bidirectional, self.dropout,
                                    self.training)
        if batched:
            if self.batch_first:
                out = out.transpose(0, 1)
        else:
            out, hn = out.squeeze(1), hn.squeeze(1)
            cn = None if cn is None else cn.squeeze(1)
        return (out, (hn, cn)) if is_lstm else (out, hn)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' "
                             f"or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)

    def extra_repr(self):
        s = super().extra_repr()
        return s + (", nonlinearity='relu'" if self.nonlinearity != "tanh" else "")


class LSTM(RNNBase):
    """LSTM with PyTorch's gate order i, f, g, o. forward(input, (h_0, c_0)=None) returns
    (output, (h_n, c_n))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    """GRU with PyTorch's gate order r, z, n and n = tanh(W_in x + b_in + r*(W_hn h + b_hn))."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)


# ===================================================================== cells

class RNNCellBase(Module):
    _GATES = 1

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        _check_sizes(input_size, hidden_size, bias, type(self).__name__)
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.bias = bias
        dt = np.dtype(dtype or np.float32)
        G = num_chunks * hidden_size
        self.weight_ih = Parameter(np.empty((G, input_size), dt))
        self.weight_hh = Parameter(np.empty((G, hidden_size), dt))
        if bias:
            self.bias_ih = Parameter(np.empty(G, dt))
            self.bias_hh = Parameter(np.empty(G, dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def _who(self):
        return (f"{type(self).__name__}(input_size={self.input_size}, "
                f"hidden_size={self.hidden_size})")

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        return s

    def _run(self, mode, input, hx):
        """hx: None or a list of state tensors; returns (h', c' or None)."""
        who = self._who()
        name = type(self).__name__
        x = _as_input(input, who)
        wdt = self.weight_ih.dtype
        if x.ndim not in (1, 2):
            raise ShapeError(f"{name}: Expected input to be 1D or 2D, got {x.ndim}D instead "
                             f"(input shape {tuple(x.shape)})")
        if x.dtype.kind != "f":
            raise DTypeError(f"{who}: expected a floating-point input, got dtype {x.dtype}")
        _check_dtype(x, wdt, who)
        if x.shape[-1] != self.input_size:
            raise ShapeError(f"{who}: input has inconsistent input_size: got {x.shape[-1]} "
                             f"expected {self.input_size} (input shape {tuple(x.shape)})")
        batched = x.ndim == 2
        if not batched:
            x = x.unsqueeze(0)
        B = x.shape[0]
        states = []
        if hx is not None:
            for k, h in enumerate(hx):
                h = _as_input(h, who)
                label = f"hx[{k}]" if len(hx) > 1 else "hidden"
                if h.ndim not in (1, 2):
                    raise ShapeError(f"{name}: Expected {label} to be 1D or 2D, got "
                                     f"{h.ndim}D instead")
                _check_dtype(h, wdt, who, label)
                hb = h if batched else h.unsqueeze(0)
                if hb.ndim != 2 or hb.shape[0] != B:
                    raise ShapeError(f"{who}: Input batch size {B} doesn't match hidden{k} "
                                     f"batch size {hb.shape[0] if hb.ndim == 2 else 1} "
                                     f"(input shape {tuple(input.shape)}, {label} shape "
                                     f"{tuple(h.shape)})")
                if hb.shape[1] != self.hidden_size:
                    raise ShapeError(f"{who}: hidden{k} has inconsistent hidden_size: got "
                                     f"{hb.shape[1]}, expected {self.hidden_size}")
                states.append(hb.unsqueeze(0))
        h0 = states[0] if states else None
        c0 = states[1] if len(states) > 1 else None
        _, hn, cn = R.rnn_forward(mode, x.unsqueeze(0), h0, c0,
                                  [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh],
                                  1, False, 0.0, self.training)
        hn = hn.squeeze(0)
        cn = None if cn is None else cn.squeeze(0)
        if not batched:
            hn = hn.squeeze(0)
            cn = None if cn is None else cn.squeeze(0)
        return hn, cn


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        mode = R.RNN_TANH if self.nonlinearity == "tanh" else R.RNN_RELU
        return self._run(mode, input, None if hx is None else [hx])[0]

    def extra_repr(self):
        s = super().extra_repr()
        return s + (", nonlinearity='relu'" if self.nonlinearity != "tanh" else "")


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"{self._who()}: hx must be a tuple (h_0, c_0)")
        return self._run(R.LSTM, input, None if hx is None else list(hx))


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._run(R.GRU, input, None if hx is None else [hx])[0]
