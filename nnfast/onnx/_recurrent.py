"""RNN, LSTM and GRU as ONNX's own RNN/LSTM/GRU ops, one node per layer.

PyTorch and ONNX stack the gates' weights in different orders: PyTorch's LSTM rows are
(input, forget, cell, output) and ONNX's (input, output, forget, cell); PyTorch's GRU rows are
(reset, update, new) and ONNX's (update, reset, hidden). PyTorch's GRU applies the reset gate
after the hidden-state matmul, which is ONNX's linear_before_reset=1. ONNX's B is the input
biases then the recurrent biases, per direction.

Between stacked layers ONNX's Y (seq, directions, batch, hidden) becomes the next layer's
(seq, batch, directions * hidden) input, as PyTorch concatenates the two directions.
Not here: PackedSequence input and unbatched (2-D) input, refused by name.
"""
import numpy as np

from ._trace import ExportError, to_numpy

_GATES = {"LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2], "RNN_TANH": [0], "RNN_RELU": [0]}


def _reorder(a, mode, H):
    return np.concatenate([a[i * H:(i + 1) * H] for i in _GATES[mode]], axis=0)


def convert_rnn(tr, m, args, kwargs, out):
    x = args[0] if args else kwargs.get("input")
    hx = args[1] if len(args) > 1 else kwargs.get("hx")
    who = f"nn.{type(m).__name__} (used at {tr.where[-1]})"
    if not hasattr(x, "ndim"):
        raise ExportError(f"nnfast.onnx.export: no ONNX export for a PackedSequence input to "
                          f"{who}; pass a padded (batch, seq, feature) tensor")
    if x.ndim != 3:
        raise ExportError(f"nnfast.onnx.export: no ONNX export for unbatched (2-D) input to "
                          f"{who}; add a batch dimension")
    g, p, H, mode = tr.g, tr.where[-1], m.hidden_size, m.mode
    D = 2 if m.bidirectional else 1
    is_lstm = mode == "LSTM"
    op = {"LSTM": "LSTM", "GRU": "GRU"}.get(mode, "RNN")
    h0 = c0 = None
    if hx is not None:
        h0, c0 = (tr.name(hx[0]), tr.name(hx[1])) if is_lstm else (tr.name(hx), None)
    seq = tr.name(x)
    if m.batch_first:
        seq = g.node("Transpose", [seq], perm=[1, 0, 2])
    attrs = {"hidden_size": H, "direction": "bidirectional" if D == 2 else "forward"}
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    if op == "RNN":
        attrs["activations"] = ["Relu" if mode == "RNN_RELU" else "Tanh"] * D
    groups = m.all_weights
    hns, cns = [], []
    for layer in range(m.num_layers):
        ws = groups[layer * D:(layer + 1) * D]
        sfx = f".l{layer}"
        W = np.stack([_reorder(to_numpy(w[0]), mode, H) for w in ws])
        R = np.stack([_reorder(to_numpy(w[1]), mode, H) for w in ws])
        ins = [seq, g.weight(W, p + ".W" + sfx), g.weight(R, p + ".R" + sfx)]
        if m.bias:
            B = np.stack([np.concatenate([_reorder(to_numpy(w[2]), mode, H),
                                          _reorder(to_numpy(w[3]), mode, H)]) for w in ws])
            ins.append(g.weight(B, p + ".B" + sfx))
        else:
            ins.append("")
        ins.append("")   # sequence_lens: every sequence runs its full length
        if h0 is not None:
            span = [g.const([layer * D]), g.const([(layer + 1) * D]), g.const([0])]
            ins.append(g.node("Slice", [h0] + span))
            if is_lstm:
                ins.append(g.node("Slice", [c0] + span))
        outs = g.node(op, ins, n_out=3 if is_lstm else 2, hint=op.lower() + sfx, **attrs)
        Y = outs[0]
        hns.append(outs[1])
        if is_lstm:
            cns.append(outs[2])
        # (seq, D, batch, H) -> (seq, batch, D * H)
        seq = g.node("Reshape", [g.node("Transpose", [Y], perm=[0, 2, 1, 3]),
                                 g.const([0, 0, -1])])
    if m.batch_first:
        seq = g.node("Transpose", [seq], perm=[1, 0, 2])
    hn = hns[0] if len(hns) == 1 else g.node("Concat", hns, axis=0)
    if not is_lstm:
        return (seq, hn)
    cn = cns[0] if len(cns) == 1 else g.node("Concat", cns, axis=0)
    return (seq, (hn, cn))
