"""nn.utils.rnn: variable-length sequences for the recurrent layers (torch.nn.utils.rnn's
names, arguments, layouts and errors).

A PackedSequence holds the steps of B sequences sorted by decreasing length, time-major and
without padding: data[offset[t] : offset[t] + batch_sizes[t]] are step t of the
batch_sizes[t] sequences still running (batch_sizes is an int64 Tensor, as torch's).
sorted_indices[i] is the original batch position of sorted sequence i (None when the input
was already sorted); unsorted_indices is its inverse.

Packing, unpacking and padding are one gather or scatter each (one autograd node), in NumPy.
RNN/LSTM/GRU accept a PackedSequence (nnfast/nn/rnn.py, run_packed below): between two
changes of batch size every step has the same number of sequences, so each such stretch is
one call of the C time loop on a contiguous [steps, b, features] block of the packed data,
and the state of the sequences that end there is final: results equal torch's.

Deviation: a length longer than the padded input raises ValueError (torch reads past it).
"""
import collections
import numbers

import numpy as np

from ... import autograd as ag
from ...errors import DTypeError, ShapeError
from ...tensor import Tensor
from ...backend import contiguous

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "pack_sequence", "unpad_sequence", "unpack_sequence", "invert_permutation"]


class PackedSequence(collections.namedtuple(
        "PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """(data, batch_sizes, sorted_indices, unsorted_indices), as torch's."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _apply(self, fn):
        return type(self)(fn(self.data), self.batch_sizes, self.sorted_indices,
                          self.unsorted_indices)

    def to(self, *args, **kwargs):
        return self._apply(lambda d: d.to(*args, **kwargs))

    def float(self):
        return self._apply(lambda d: d.float())

    def double(self):
        return self._apply(lambda d: d.double())

    def cpu(self):
        return self

    @property
    def is_cuda(self):
        return False

    def is_pinned(self):
        return False


def invert_permutation(permutation):
    """The inverse of an index permutation (None stays None)."""
    if permutation is None:
        return None
    p = _ints(permutation)
    out = np.empty_like(p)
    out[p] = np.arange(p.size, dtype=np.int64)
    return Tensor._make(out)


def _ints(v):
    a = v._storage if isinstance(v, Tensor) else np.asarray(v)
    return np.asarray(a, dtype=np.int64).reshape(-1)


def _tensor(x, who):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor._make(x)
    raise TypeError(f"{who}: expected a Tensor, got {type(x).__name__}")


def _gather(x, idx, name):
    """x[idx] along dim 0 (idx int64 of any shape) as one autograd node."""
    xd = x._storage
    out = xd[idx]
    if not ag.needs_grad(x):
        return Tensor._make(out)

    def backward(g):
        dx = np.zeros(xd.shape, xd.dtype)
        np.add.at(dx, idx, np.asarray(g, xd.dtype))
        return (dx,)

    return Tensor._make(out, True, ag.Node((x,), backward, name))


def take(x, idx, dim=0, name="IndexSelect"):
    """x.index_select(dim, idx) with a gradient (idx: int64 array)."""
    if dim == 0:
        return _gather(x, idx, name)
    perm = list(range(x.ndim))
    perm[0], perm[dim] = perm[dim], perm[0]
    return _gather(x.permute(*perm), idx, name).permute(*perm)


def _packed_index(batch_sizes):
    """(time, sorted batch) position of every packed row, in packed order."""
    T = batch_sizes.size
    t = np.repeat(np.arange(T, dtype=np.int64), batch_sizes)
    offs = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]]).astype(np.int64)
    b = np.arange(t.size, dtype=np.int64) - offs[t]
    return t, b


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) (or (B, T, *) with batch_first) of sequences with the
    given lengths (a list or 1-D int64 Tensor) into a PackedSequence."""
    who = "pack_padded_sequence"
    x = _tensor(input, who)
    if x.ndim < 2:
        raise ShapeError(f"{who}: expected an input of at least 2 dimensions (T, B, *), got "
                         f"shape {x.shape}")
    lens = _ints(lengths)
    B = x.shape[0 if batch_first else 1]
    T = x.shape[1 if batch_first else 0]
    if lens.size != B:
        raise ShapeError(f"{who}: Expected `len(lengths)` to be equal to batch_size, but got "
                         f"{lens.size} (batch_size={B})")
    if lens.size and lens.min() <= 0:
        raise ShapeError(f"{who}: Length of all samples has to be greater than 0, but found "
                         f"an element in 'lengths' that is <= 0 (lengths {lens.tolist()})")
    if lens.size and lens.max() > T:
        raise ValueError(f"{who}: a length of {int(lens.max())} is longer than the padded "
                         f"input (sequence dimension of size {T}, input shape {x.shape})")
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise ShapeError(f"{who}: `lengths` array must be sorted in decreasing order "
                             "when `enforce_sorted` is True. You can pass "
                             "`enforce_sorted=False` to pack_padded_sequence and/or "
                             "pack_sequence to sidestep this requirement if you do not need "
                             "ONNX exportability.")
        sorted_idx = None
        order = np.arange(B, dtype=np.int64)
    else:
        order = np.argsort(-lens, kind="stable").astype(np.int64)
        sorted_idx = Tensor._make(order)
    slens = lens[order]
    batch_sizes = (slens[None, :] > np.arange(slens[0] if B else 0)[:, None]).sum(axis=1)
    batch_sizes = batch_sizes.astype(np.int64)
    t, b = _packed_index(batch_sizes)
    xt = x.transpose(0, 1) if batch_first else x
    data = _gather(xt, (t, order[b]), "PackPadded")
    return PackedSequence(data, Tensor._make(batch_sizes), sorted_idx,
                          invert_permutation(sorted_idx))


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of pack_padded_sequence: (padded (T, B, *) or (B, T, *), lengths int64) in
    the original batch order; T = total_length when given."""
    who = "pad_packed_sequence"
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{who}: expected a PackedSequence, got {type(sequence).__name__}")
    data = _tensor(sequence.data, who)
    bs = _ints(sequence.batch_sizes)
    T = bs.size
    if total_length is not None:
        if total_length < T:
            raise ValueError("Expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and max "
                             f"sequence length being {T}")
        T = int(total_length)
    B = int(bs[0]) if bs.size else 0
    t, b = _packed_index(bs)
    unsorted = None if sequence.unsorted_indices is None else _ints(sequence.unsorted_indices)
    # sorted row b goes to original row sorted_indices[b]
    dest_b = b if unsorted is None else _ints(sequence.sorted_indices)[b]
    dd = data._storage
    feat = dd.shape[1:]
    out = np.full((T, B) + feat, padding_value, dd.dtype)
    out[t, dest_b] = dd
    lengths = (bs[None, :] > np.arange(B)[:, None]).sum(axis=1).astype(np.int64)
    if unsorted is not None:
        lengths = lengths[unsorted]
    if batch_first:
        out = contiguous(out.swapaxes(0, 1))
    if not ag.needs_grad(data):
        return Tensor._make(out), Tensor._make(lengths)

    def backward(g):
        g = np.asarray(g, dd.dtype)
        if batch_first:
            g = g.swapaxes(0, 1)
        return (contiguous(g[t, dest_b]),)

    padded = Tensor._make(out, True, ag.Node((data,), backward, "PadPacked"))
    return padded, Tensor._make(lengths)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack sequences of shape (L_i, *) into (T, B, *) (or (B, T, *)), T = max L_i, padding
    with padding_value on the right (or the left)."""
    who = "pad_sequence"
    if padding_side not in ("left", "right"):
        raise ValueError(f"{who}: padding_side must be 'left' or 'right', got "
                         f"{padding_side!r}")
    if isinstance(sequences, Tensor):
        sequences = list(sequences.unbind(0)) if hasattr(sequences, "unbind") else \
            [sequences[i] for i in range(sequences.shape[0])]
    seqs = [_tensor(s, who) for s in sequences]
    if not seqs:
        raise ValueError(f"{who}: received an empty list of sequences")
    feat = tuple(seqs[0].shape[1:])
    for i, s in enumerate(seqs):
        if s.ndim < 1 or tuple(s.shape[1:]) != feat:
            raise ShapeError(f"{who}: sequence {i} has shape {tuple(s.shape)}, but every "
                             f"sequence must be (L, {', '.join(map(str, feat)) or ''}) like "
                             f"the first, {tuple(seqs[0].shape)}")
    dt = np.result_type(*[s._storage.dtype for s in seqs])
    T = max(s.shape[0] for s in seqs)
    out = np.full((len(seqs), T) + feat, padding_value, dt)
    starts = []
    for i, s in enumerate(seqs):
        L = s.shape[0]
        t0 = 0 if padding_side == "right" else T - L
        out[i, t0:t0 + L] = s._storage
        starts.append(t0)
    if not batch_first:
        out = contiguous(out.swapaxes(0, 1))
    if not ag.needs_grad(*seqs):
        return Tensor._make(out)

    def backward(g):
        g = np.asarray(g)
        if not batch_first:
            g = g.swapaxes(0, 1)
        return tuple(contiguous(g[i, t0:t0 + s.shape[0]], s._storage.dtype)
                     if s.requires_grad else None for i, (s, t0) in
                     enumerate(zip(seqs, starts)))

    return Tensor._make(out, True, ag.Node(tuple(seqs), backward, "PadSequence"))


def pack_sequence(sequences, enforce_sorted=True):
    """pack_padded_sequence(pad_sequence(sequences), lengths) for a list of (L_i, *)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths,
                                enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences (L_i, *) of a padded batch (the inverse of pad_sequence)."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i][:int(n)] for i, n in enumerate(_ints(lengths))]


def unpack_sequence(packed_sequences):
    """The list of sequences of a PackedSequence, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


# ===================================================================== recurrent layers

def _join(cur, init, n_cur, n):
    """Rows :n_cur of the running state, then rows n_cur:n of the initial one."""
    from ..._ops.shape import cat
    if n_cur == 0:
        return init[:n]
    return cur[:n_cur] if n_cur == n else cat([cur[:n_cur], init[n_cur:n]])


def run_packed(layer, packed, hx):
    """RNN/LSTM/GRU `layer` over a PackedSequence: (PackedSequence output, h_n[, c_n]) with
    each sequence's state after its last step, as torch. hx: None, a Tensor or (h0, c0) in
    the original batch order."""
    from .. import _functional_rnn as R
    from .. import functional as F
    from ..._ops.shape import cat, stack
    bs = _ints(packed.batch_sizes)
    data = packed.data
    who = layer._who()
    if data.ndim != 2 or data.shape[1] != layer.input_size:
        raise ShapeError(f"{who}: the packed data must be (total steps, input_size="
                         f"{layer.input_size}), got shape {tuple(data.shape)}")
    wdt = layer.weight_ih_l0.dtype
    if data.dtype != wdt:
        raise DTypeError(f"{who}: input dtype ({data.dtype}) does not match weight dtype "
                         f"({wdt}). Convert the input: .to({wdt}), or the model: "
                         f"model.to({data.dtype})")
    B = int(bs[0])
    D = 2 if layer.bidirectional else 1
    L, H = layer.num_layers, layer.hidden_size
    is_lstm = layer.mode == "LSTM"
    sorted_idx = None if packed.sorted_indices is None else _ints(packed.sorted_indices)
    unsorted = None if packed.unsorted_indices is None else _ints(packed.unsorted_indices)
    expected = (L * D, B, H)
    h0 = c0 = None
    if hx is not None:
        hs = list(hx) if is_lstm else [hx]
        if is_lstm and len(hs) != 2:
            raise TypeError(f"{who}: hx must be a tuple (h_0, c_0)")
        for h, nm in zip(hs, ("hidden[0]", "hidden[1]") if is_lstm else ("hidden",)):
            h = _tensor(h, who)
            if tuple(h.shape) != expected:
                raise ShapeError(f"{who}: Expected {nm} size {expected}, got "
                                 f"{list(h.shape)}")
        hs = [take(_tensor(h, who), sorted_idx, 1) if sorted_idx is not None
              else _tensor(h, who) for h in hs]
        h0 = hs[0]
        c0 = hs[1] if is_lstm else None
    # stretches of equal batch size: [t0, t1) with b sequences, rows o0:o1 of the data
    offs = np.concatenate([[0], np.cumsum(bs)]).astype(np.int64)
    cuts = [0] + [t for t in range(1, bs.size) if bs[t] != bs[t - 1]] + [int(bs.size)]
    segs = [(t0, t1, int(bs[t0]), int(offs[t0]), int(offs[t1]))
            for t0, t1 in zip(cuts[:-1], cuts[1:])]
    mode = layer._MODES[layer.mode]
    weights = layer._weights()
    zeros = Tensor._make(np.zeros((B, H), data.dtype))
    inp = data
    hn, cn = [], []
    for layer_i in range(L):
        outs = []
        for d in range(D):
            k = layer_i * D + d
            w = weights[4 * k:4 * k + 4]
            h_init = zeros if h0 is None else h0[k]
            c_init = zeros if c0 is None and is_lstm else (None if c0 is None else c0[k])
            pieces = [None] * len(segs)
            h_cur, c_cur = h_init, c_init
            order = range(len(segs)) if d == 0 else range(len(segs) - 1, -1, -1)
            prev_b = 0
            for si in order:
                t0, t1, b, o0, o1 = segs[si]
                if d == 0:
                    hb, cb = h_cur[:b], (c_cur[:b] if is_lstm else None)
                else:   # sequences joining from the end start from the initial state
                    hb = _join(h_cur, h_init, prev_b, b)
                    cb = _join(c_cur, c_init, prev_b, b) if is_lstm else None
                x_seg = inp[o0:o1].reshape(t1 - t0, b, inp.shape[1])
                if d == 1:
                    rev = np.arange(t1 - t0 - 1, -1, -1)
                    x_seg = _gather(x_seg, rev, "Flip")
                o, hs_, cs_ = R.rnn_forward(mode, x_seg, hb.unsqueeze(0),
                                            cb.unsqueeze(0) if is_lstm else None, w, 1, False,
                                            0.0, layer.training)
                if d == 1:
                    o = _gather(o, rev, "Flip")
                pieces[si] = o.reshape(o1 - o0, H)
                if d == 0:
                    h_cur = hs_[0] if b == B else cat([hs_[0], h_cur[b:]])
                    if is_lstm:
                        c_cur = cs_[0] if b == B else cat([cs_[0], c_cur[b:]])
                else:
                    h_cur, c_cur = hs_[0], (cs_[0] if is_lstm else None)
                prev_b = b
            hn.append(h_cur)
            if is_lstm:
                cn.append(c_cur)
            outs.append(pieces[0] if len(pieces) == 1 else cat(pieces))
        out = outs[0] if D == 1 else cat(outs, dim=1)
        if layer.dropout > 0 and layer.training and layer_i < L - 1:
            out = F.dropout(out, layer.dropout, True)
        inp = out
    h_n = stack(hn)
    c_n = stack(cn) if is_lstm else None
    if unsorted is not None:
        h_n = take(h_n, unsorted, 1)
        c_n = take(c_n, unsorted, 1) if is_lstm else None
    result = PackedSequence(inp, packed.batch_sizes, packed.sorted_indices,
                            packed.unsorted_indices)
    return (result, (h_n, c_n)) if is_lstm else (result, h_n)
