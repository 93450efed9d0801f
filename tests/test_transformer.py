"""MultiheadAttention, scaled_dot_product_attention and the Transformer layers against torch:
same weights (load_state_dict), same inputs; outputs, attention weights, gradients of the
inputs and of every parameter, in eval mode or with dropout 0."""
import numpy as np
import pytest
import torch

import nnfast as nf
from helpers import assert_close, copy_weights, to_torch

ATOL, RTOL = 2e-5, 2e-4


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _grads_match(t_mod, n_mod, t_in, n_in, what=""):
    for i, (t, n) in enumerate(zip(t_in, n_in)):
        if t.requires_grad:
            assert n.grad is not None, f"{what}: input {i} has no gradient"
            assert_close(n.grad, t.grad, ATOL, RTOL, f"{what}: grad of input {i}")
    n_params = dict(n_mod.named_parameters())
    t_params = dict(t_mod.named_parameters())
    assert n_params.keys() == t_params.keys()
    for k, tp in t_params.items():
        assert n_params[k].grad is not None, f"{what}: {k} has no gradient"
        assert_close(n_params[k].grad, tp.grad, ATOL, RTOL, f"{what}: grad of {k}")


def _bool_pad(rng, n, s):
    m = rng.random((n, s)) < 0.3
    m[:, 0] = False                                   # no row fully masked
    return m


# ---------------------------------------------------------------- MultiheadAttention

MHA_CASES = [
    dict(),
    dict(batch_first=True),
    dict(bias=False),
    dict(kdim=5, vdim=3),
    dict(add_bias_kv=True),
    dict(add_zero_attn=True),
    dict(add_bias_kv=True, add_zero_attn=True, batch_first=True),
]


@pytest.mark.parametrize("kw", MHA_CASES, ids=lambda kw: ",".join(kw) or "default")
@pytest.mark.parametrize("masks", ["none", "bool", "float", "kpm_only"])
def test_mha_matches_torch(kw, masks):
    rng = np.random.default_rng(0)
    E, H, L, S, N = 8, 2, 4, 5, 3
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(E, H, **kw)
    nm = nf.nn.MultiheadAttention(E, H, **kw)
    assert list(nm.state_dict()) == list(tm.state_dict())
    copy_weights(tm, nm)
    bf = kw.get("batch_first", False)
    shp = (lambda a, b: (b, a)) if bf else (lambda a, b: (a, b))
    q = _rand(rng, *shp(L, N), E)
    k = _rand(rng, *shp(S, N), kw.get("kdim", E))
    v = _rand(rng, *shp(S, N), kw.get("vdim", E))
    t_in = [to_torch(a, True) for a in (q, k, v)]
    n_in = [nf.tensor(a, requires_grad=True) for a in (q, k, v)]
    tk, nk = {}, {}
    if masks in ("bool", "kpm_only"):
        kpm = _bool_pad(rng, N, S)
        tk["key_padding_mask"], nk["key_padding_mask"] = torch.from_numpy(kpm), nf.tensor(kpm)
    if masks == "bool":
        am = np.triu(np.ones((L, S), bool), 2)
        tk["attn_mask"], nk["attn_mask"] = torch.from_numpy(am), nf.tensor(am)
    if masks == "float":
        am = _rand(rng, N * H, L, S)
        tk["attn_mask"], nk["attn_mask"] = torch.from_numpy(am), nf.tensor(am)
    to, tw = tm(*t_in, **tk)
    no, nw = nm(*n_in, **nk)
    assert_close(no, to, ATOL, RTOL, "output")
    assert_close(nw, tw, ATOL, RTOL, "weights")
    up = _rand(rng, *to.shape)
    upw = _rand(rng, *tw.shape)
    ((to * torch.from_numpy(up)).sum() + (tw * torch.from_numpy(upw)).sum()).backward()
    ((no * nf.tensor(up)).sum() + (nw * nf.tensor(upw)).sum()).backward()
    _grads_match(tm, nm, t_in, n_in, f"{kw} {masks}")


@pytest.mark.parametrize("need_weights,average", [(False, True), (True, False), (True, True)])
def test_mha_need_weights_and_average(need_weights, average):
    rng = np.random.default_rng(1)
    torch.manual_seed(1)
    tm, nm = torch.nn.MultiheadAttention(12, 3), nf.nn.MultiheadAttention(12, 3)
    copy_weights(tm, nm)
    x = _rand(rng, 5, 2, 12)
    to, tw = tm(*(torch.from_numpy(x),) * 3, need_weights=need_weights,
                average_attn_weights=average)
    no, nw = nm(*(nf.tensor(x),) * 3, need_weights=need_weights,
                average_attn_weights=average)
    assert_close(no, to, ATOL, RTOL, "output")
    if tw is None:
        assert nw is None
    else:
        assert_close(nw, tw, ATOL, RTOL, "weights")


def test_mha_unbatched_and_causal_hint():
    rng = np.random.default_rng(2)
    torch.manual_seed(2)
    tm, nm = torch.nn.MultiheadAttention(8, 4), nf.nn.MultiheadAttention(8, 4)
    copy_weights(tm, nm)
    x = _rand(rng, 6, 8)
    kpm = np.zeros(6, bool)
    kpm[4:] = True
    to, tw = tm(*(torch.from_numpy(x),) * 3, key_padding_mask=torch.from_numpy(kpm))
    no, nw = nm(*(nf.tensor(x),) * 3, key_padding_mask=nf.tensor(kpm))
    assert_close(no, to, ATOL, RTOL, "unbatched output")
    assert_close(nw, tw, ATOL, RTOL, "unbatched weights")
    mask = torch.nn.Transformer.generate_square_subsequent_mask(6)
    nmask = nf.nn.Transformer.generate_square_subsequent_mask(6)
    assert_close(nmask, mask, 0, 0, "causal mask")
    xb = _rand(rng, 6, 2, 8)
    to, _ = tm(*(torch.from_numpy(xb),) * 3, attn_mask=mask, is_causal=True, need_weights=False)
    no, _ = nm(*(nf.tensor(xb),) * 3, attn_mask=nmask, is_causal=True, need_weights=False)
    assert_close(no, to, ATOL, RTOL, "is_causal output")


def test_mha_init_and_bad_input():
    m = nf.nn.MultiheadAttention(16, 4)
    assert m.in_proj_weight.shape == (48, 16) and m.q_proj_weight is None
    assert np.all(m.in_proj_bias.detach().numpy() == 0)
    assert np.all(m.out_proj.bias.detach().numpy() == 0)
    bound = np.sqrt(6.0 / (16 + 48))
    w = m.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and w.std() > bound / 3
    with pytest.raises(AssertionError, match="divisible"):
        nf.nn.MultiheadAttention(10, 3)
    x = nf.randn(3, 2, 16)
    with pytest.raises(RuntimeError, match="2D attn_mask"):
        m(x, x, x, attn_mask=nf.zeros(3, 4))
    with pytest.raises(RuntimeError, match="3D attn_mask"):
        m(x, x, x, attn_mask=nf.zeros(5, 3, 3))
    with pytest.raises(RuntimeError, match="key_padding_mask"):
        m(x, x, x, key_padding_mask=nf.zeros(2, 4, dtype=nf.bool))
    with pytest.raises(AssertionError, match="key_padding_mask"):
        m(x, x, x, key_padding_mask=nf.zeros(2, 3, dtype=nf.int64))
    with pytest.raises(RuntimeError, match="is_causal"):
        m(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match="embedding dimension"):
        y = nf.randn(3, 2, 8)
        m(y, y, y)


# ---------------------------------------------------------------- scaled_dot_product_attention

@pytest.mark.parametrize("case", ["plain", "bool", "float", "causal", "scale", "4d_broadcast"])
def test_sdpa_matches_torch(case):
    rng = np.random.default_rng(3)
    shape_q, shape_k = (2, 3, 4, 8), (2, 3, 6, 8)
    q, k, v = _rand(rng, *shape_q), _rand(rng, *shape_k), _rand(rng, 2, 3, 6, 5)
    tkw, nkw = {}, {}
    if case == "bool":
        m = rng.random((4, 6)) < 0.6
        m[:, 0] = True
        tkw["attn_mask"], nkw["attn_mask"] = torch.from_numpy(m), nf.tensor(m)
    if case in ("float", "4d_broadcast"):
        m = _rand(rng, *((2, 1, 4, 6) if case == "4d_broadcast" else (4, 6)))
        tkw["attn_mask"], nkw["attn_mask"] = torch.from_numpy(m), nf.tensor(m)
    if case == "causal":
        q, k, v = _rand(rng, 2, 3, 6, 8), k, v
        tkw["is_causal"] = nkw["is_causal"] = True
    if case == "scale":
        tkw["scale"] = nkw["scale"] = 0.7
    t_in = [to_torch(a, True) for a in (q, k, v)]
    n_in = [nf.tensor(a, requires_grad=True) for a in (q, k, v)]
    to = torch.nn.functional.scaled_dot_product_attention(*t_in, **tkw)
    no = nf.nn.functional.scaled_dot_product_attention(*n_in, **nkw)
    assert_close(no, to, ATOL, RTOL, "sdpa output")
    up = _rand(rng, *to.shape)
    to.backward(torch.from_numpy(up))
    no.backward(nf.tensor(up))
    for i, (t, n) in enumerate(zip(t_in, n_in)):
        assert_close(n.grad, t.grad, ATOL, RTOL, f"sdpa grad {i}")


def test_sdpa_bad_input():
    F = nf.nn.functional
    q = nf.randn(2, 4, 8)
    with pytest.raises(RuntimeError, match="is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=nf.zeros(4, 4), is_causal=True)
    with pytest.raises(RuntimeError, match="broadcast"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=nf.zeros(3, 3))
    with pytest.raises(RuntimeError, match="last dimension"):
        F.scaled_dot_product_attention(q, nf.randn(2, 4, 7), q)


# ---------------------------------------------------------------- encoder / decoder layers

LAYER_CASES = [
    dict(),
    dict(batch_first=True),
    dict(norm_first=True),
    dict(activation="gelu", batch_first=True, norm_first=True),
    dict(bias=False),
]


def _layer_pair(cls_name, kw, seed=0):
    torch.manual_seed(seed)
    t = getattr(torch.nn, cls_name)(8, 2, dim_feedforward=16, dropout=0.0, **kw)
    n = getattr(nf.nn, cls_name)(8, 2, dim_feedforward=16, dropout=0.0, **kw)
    assert list(n.state_dict()) == list(t.state_dict())
    copy_weights(t, n)
    return t, n


@pytest.mark.parametrize("kw", LAYER_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_encoder_layer_matches_torch(kw):
    rng = np.random.default_rng(4)
    t, n = _layer_pair("TransformerEncoderLayer", kw)
    S, N = 5, 3
    x = _rand(rng, *((N, S) if kw.get("batch_first") else (S, N)), 8)
    mask = np.triu(np.full((S, S), -np.inf, np.float32), 1)
    kpm = _bool_pad(rng, N, S)
    t_in, n_in = [to_torch(x, True)], [nf.tensor(x, requires_grad=True)]
    to = t(t_in[0], src_mask=torch.from_numpy(mask), src_key_padding_mask=torch.from_numpy(kpm))
    no = n(n_in[0], src_mask=nf.tensor(mask), src_key_padding_mask=nf.tensor(kpm))
    assert_close(no, to, ATOL, RTOL, "encoder layer output")
    up = _rand(rng, *to.shape)
    to.backward(torch.from_numpy(up))
    no.backward(nf.tensor(up))
    _grads_match(t, n, t_in, n_in, f"encoder layer {kw}")


def test_encoder_layer_callable_activation_and_bad_activation():
    rng = np.random.default_rng(5)
    torch.manual_seed(5)
    t = torch.nn.TransformerEncoderLayer(8, 2, 16, 0.0, activation=torch.tanh)
    n = nf.nn.TransformerEncoderLayer(8, 2, 16, 0.0, activation=nf.tanh)
    copy_weights(t, n)
    x = _rand(rng, 4, 2, 8)
    assert_close(n(nf.tensor(x)), t(torch.from_numpy(x)), ATOL, RTOL, "tanh layer")
    with pytest.raises(RuntimeError, match="relu/gelu"):
        nf.nn.TransformerEncoderLayer(8, 2, activation="swish")
    with pytest.raises(RuntimeError, match=r"\(S, N, 8\)"):
        n(nf.randn(4, 2, 6))


@pytest.mark.parametrize("kw", LAYER_CASES[:4], ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_decoder_layer_matches_torch(kw):
    rng = np.random.default_rng(6)
    t, n = _layer_pair("TransformerDecoderLayer", kw)
    T, S, N = 4, 5, 2
    bf = kw.get("batch_first")
    tgt = _rand(rng, *((N, T) if bf else (T, N)), 8)
    mem = _rand(rng, *((N, S) if bf else (S, N)), 8)
    tmask = np.triu(np.ones((T, T), bool), 1)
    mkpm = _bool_pad(rng, N, S)
    t_in = [to_torch(tgt, True), to_torch(mem, True)]
    n_in = [nf.tensor(tgt, requires_grad=True), nf.tensor(mem, requires_grad=True)]
    to = t(*t_in, tgt_mask=torch.from_numpy(tmask),
           memory_key_padding_mask=torch.from_numpy(mkpm))
    no = n(*n_in, tgt_mask=nf.tensor(tmask), memory_key_padding_mask=nf.tensor(mkpm))
    assert_close(no, to, ATOL, RTOL, "decoder layer output")
    up = _rand(rng, *to.shape)
    to.backward(torch.from_numpy(up))
    no.backward(nf.tensor(up))
    _grads_match(t, n, t_in, n_in, f"decoder layer {kw}")


def test_encoder_stack_keys_copies_and_norm():
    rng = np.random.default_rng(7)
    torch.manual_seed(7)
    tl = torch.nn.TransformerEncoderLayer(8, 2, 16, 0.0)
    t = torch.nn.TransformerEncoder(tl, 3, norm=torch.nn.LayerNorm(8),
                                    enable_nested_tensor=False)
    nl = nf.nn.TransformerEncoderLayer(8, 2, 16, 0.0)
    n = nf.nn.TransformerEncoder(nl, 3, norm=nf.nn.LayerNorm(8), enable_nested_tensor=False)
    assert list(n.state_dict()) == list(t.state_dict())
    assert n.layers[0].linear1.weight is not n.layers[1].linear1.weight
    assert n.layers[0].linear1.weight is not nl.linear1.weight
    copy_weights(t, n)
    x = _rand(rng, 6, 2, 8)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(6)
    t_in, n_in = [to_torch(x, True)], [nf.tensor(x, requires_grad=True)]
    to = t(t_in[0], mask=mask)
    no = n(n_in[0], mask=nf.nn.Transformer.generate_square_subsequent_mask(6))
    assert_close(no, to, ATOL, RTOL, "encoder output")
    to.sum().backward()
    no.sum().backward()
    _grads_match(t, n, t_in, n_in, "encoder stack")


@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_torch(batch_first):
    rng = np.random.default_rng(8)
    torch.manual_seed(8)
    kw = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
              dim_feedforward=16, dropout=0.0, batch_first=batch_first)
    t, n = torch.nn.Transformer(**kw), nf.nn.Transformer(**kw)
    assert list(n.state_dict()) == list(t.state_dict())
    copy_weights(t, n)
    S, T, N = 5, 4, 2
    src = _rand(rng, *((N, S) if batch_first else (S, N)), 8)
    tgt = _rand(rng, *((N, T) if batch_first else (T, N)), 8)
    t_in = [to_torch(src, True), to_torch(tgt, True)]
    n_in = [nf.tensor(src, requires_grad=True), nf.tensor(tgt, requires_grad=True)]
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(T)
    to = t(*t_in, tgt_mask=tmask)
    no = n(*n_in, tgt_mask=nf.nn.Transformer.generate_square_subsequent_mask(T))
    assert_close(no, to, ATOL, RTOL, "transformer output")
    up = _rand(rng, *to.shape)
    to.backward(torch.from_numpy(up))
    no.backward(nf.tensor(up))
    _grads_match(t, n, t_in, n_in, "transformer")
    with pytest.raises(RuntimeError, match="batch number"):
        n(nf.randn(5, 2, 8), nf.randn(4, 3, 8)) if not batch_first else \
            n(nf.randn(2, 5, 8), nf.randn(3, 4, 8))
    with pytest.raises(RuntimeError, match="d_model"):
        n(nf.randn(2, 2, 6), nf.randn(2, 2, 6))


def test_tiny_encoder_lm_adam_matches_torch():
    """A few Adam steps of a tiny causal encoder LM: same losses and final weights."""
    V, E, S, N = 11, 8, 6, 3
    rng = np.random.default_rng(9)
    data = rng.integers(0, V, (S + 1, N))

    def build(lib):
        nn = lib.nn

        class LM(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(V, E)
                self.enc = nn.TransformerEncoder(
                    nn.TransformerEncoderLayer(E, 2, 16, 0.0, activation="gelu"), 2,
                    enable_nested_tensor=False)
                self.head = nn.Linear(E, V)

            def forward(self, x, mask):
                return self.head(self.enc(self.emb(x), mask=mask))
        return LM()

    torch.manual_seed(9)
    tm, nm = build(torch), build(nf)
    copy_weights(tm, nm)
    topt = torch.optim.Adam(tm.parameters(), lr=1e-2)
    nopt = nf.optim.Adam(nm.parameters(), lr=1e-2)
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(S)
    nmask = nf.nn.Transformer.generate_square_subsequent_mask(S)
    x, y = data[:-1], data[1:].reshape(-1)
    for step in range(5):
        topt.zero_grad()
        nopt.zero_grad()
        tl = torch.nn.functional.cross_entropy(tm(torch.from_numpy(x), tmask).reshape(-1, V),
                                               torch.from_numpy(y))
        nl = nf.nn.functional.cross_entropy(nm(nf.tensor(x), nmask).reshape(-1, V),
                                            nf.tensor(y))
        np.testing.assert_allclose(nl.item(), tl.item(), rtol=1e-4, err_msg=f"step {step}")
        tl.backward()
        nl.backward()
        topt.step()
        nopt.step()
    for k, v in tm.state_dict().items():
        a, b = nm.state_dict()[k].detach().numpy(), v.detach().numpy()
        if k.endswith("in_proj_bias"):
            # The key bias adds the same q.b_k to every score of a row, which softmax cancels:
            # its true gradient is 0, so both sides hold rounding noise (1e-9) that Adam
            # normalises to steps of lr in arbitrary directions. Compare q and v biases only.
            a, b = np.concatenate([a[:E], a[2 * E:]]), np.concatenate([b[:E], b[2 * E:]])
        assert_close(a, b, 1e-4, 1e-3, f"after Adam: {k}")


# ---------------------------------------------------------------- signatures, dtypes, modes

@pytest.mark.parametrize("name", ["MultiheadAttention", "TransformerEncoderLayer",
                                  "TransformerEncoder", "TransformerDecoderLayer",
                                  "TransformerDecoder", "Transformer"])
def test_signatures_are_torchs(name):
    import inspect
    ours, theirs = getattr(nf.nn, name), getattr(torch.nn, name)
    for a, b in ((ours.__init__, theirs.__init__), (ours.forward, theirs.forward)):
        pa = list(inspect.signature(a).parameters.values())
        pb = list(inspect.signature(b).parameters.values())
        assert [p.name for p in pa] == [p.name for p in pb]
        for p, q in zip(pa, pb):
            if callable(q.default):          # activation=F.relu: the same function by name
                assert p.default.__name__ == q.default.__name__, p.name
            else:
                assert p.default == q.default, p.name


def test_modules_paths():
    from nnfast.nn.modules.activation import MultiheadAttention
    from nnfast.nn.modules.transformer import TransformerEncoderLayer
    assert MultiheadAttention is nf.nn.MultiheadAttention
    assert TransformerEncoderLayer is nf.nn.TransformerEncoderLayer
    from helpers import same_signature
    assert same_signature(nf.nn.functional.multi_head_attention_forward,
                          torch.nn.functional.multi_head_attention_forward)


def test_mha_float64_matches_torch():
    rng = np.random.default_rng(10)
    torch.manual_seed(10)
    tm = torch.nn.MultiheadAttention(6, 3, batch_first=True).double()
    nm = nf.nn.MultiheadAttention(6, 3, batch_first=True).double()
    copy_weights(tm, nm)
    x = rng.standard_normal((2, 4, 6))
    t_in, n_in = [to_torch(x, True)], [nf.tensor(x, requires_grad=True)]
    to, tw = tm(t_in[0], t_in[0], t_in[0])
    no, nw = nm(n_in[0], n_in[0], n_in[0])
    assert no.dtype == nf.float64 and nw.dtype == nf.float64
    assert_close(no, to, 1e-10, 1e-9, "float64 output")
    to.sum().backward()
    no.sum().backward()
    for k, p in tm.named_parameters():
        assert_close(dict(nm.named_parameters())[k].grad, p.grad, 1e-10, 1e-9, k)
    assert_close(n_in[0].grad, t_in[0].grad, 1e-10, 1e-9, "float64 input grad")


def test_dropout_acts_in_training_only():
    nf.manual_seed(0)
    layer = nf.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5)
    x = nf.randn(5, 2, 8)
    layer.train()
    a, b = layer(x).detach().numpy(), layer(x).detach().numpy()
    assert not np.allclose(a, b)
    layer.eval()
    c, d = layer(x).detach().numpy(), layer(x).detach().numpy()
    np.testing.assert_array_equal(c, d)
    assert not np.allclose(a, c)
    m = nf.nn.MultiheadAttention(8, 2, dropout=0.5)
    _, w = m(x, x, x, average_attn_weights=False)
    wd = w.detach().numpy()
    # dropped weights are 0, kept ones scaled by 2: rows no longer sum to 1
    assert (wd == 0).any() and not np.allclose(wd.sum(-1), 1)


@pytest.mark.parametrize("left_aligned", [True, False])
@pytest.mark.parametrize("grad", [False, True])
def test_encoder_eval_padding_as_torchs_nested_path(left_aligned, grad):
    """torch's eval/no-grad path packs unpadded positions into a nested tensor and pads the
    result with zeros (before the final norm); nnfast gives the same numbers."""
    rng = np.random.default_rng(11)
    torch.manual_seed(11)
    t = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True),
                                    2, norm=torch.nn.LayerNorm(8))
    n = nf.nn.TransformerEncoder(nf.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True),
                                 2, norm=nf.nn.LayerNorm(8))
    assert n.use_nested_tensor == t.use_nested_tensor == True  # noqa: E712
    copy_weights(t, n)
    t.eval()
    n.eval()
    x = _rand(rng, 3, 5, 8)
    kpm = np.zeros((3, 5), bool)
    kpm[0, 3:] = kpm[1, 4:] = True
    if not left_aligned:
        kpm[2, 1] = True
    if grad:
        to = t(torch.from_numpy(x), src_key_padding_mask=torch.from_numpy(kpm))
        no = n(nf.tensor(x), src_key_padding_mask=nf.tensor(kpm))
    else:
        with torch.no_grad():
            to = t(torch.from_numpy(x), src_key_padding_mask=torch.from_numpy(kpm))
        with nf.no_grad():
            no = n(nf.tensor(x), src_key_padding_mask=nf.tensor(kpm))
    assert_close(no, to, ATOL, RTOL, "eval encoder with padding")


def test_fully_masked_rows_as_torch():
    """A row with every key masked: NaN in the weights MHA returns (plain softmax), 0 in
    scaled_dot_product_attention and in MHA without weights; finite gradients there."""
    rng = np.random.default_rng(12)
    torch.manual_seed(12)
    tm, nm = torch.nn.MultiheadAttention(8, 2), nf.nn.MultiheadAttention(8, 2)
    copy_weights(tm, nm)
    x = _rand(rng, 3, 2, 8)
    kpm = np.zeros((2, 3), bool)
    kpm[1] = True
    _, tw = tm(*(torch.from_numpy(x),) * 3, key_padding_mask=torch.from_numpy(kpm))
    _, nw = nm(*(nf.tensor(x),) * 3, key_padding_mask=nf.tensor(kpm))
    assert np.isnan(nw.detach().numpy()[1]).all() and np.isnan(tw.detach().numpy()[1]).all()
    assert_close(nw[0], tw[0], ATOL, RTOL, "weights of the unmasked sequence")
    t_in, n_in = [to_torch(x, True)], [nf.tensor(x, requires_grad=True)]
    to, _ = tm(t_in[0], t_in[0], t_in[0], key_padding_mask=torch.from_numpy(kpm),
               need_weights=False)
    no, _ = nm(n_in[0], n_in[0], n_in[0], key_padding_mask=nf.tensor(kpm), need_weights=False)
    assert_close(no, to, ATOL, RTOL, "output without weights")
    to.sum().backward()
    no.sum().backward()
    _grads_match(tm, nm, t_in, n_in, "fully masked rows")
    q = _rand(rng, 2, 3, 4)
    m = np.ones((3, 3), bool)
    m[1] = False
    t_q, n_q = to_torch(q, True), nf.tensor(q, requires_grad=True)
    to = torch.nn.functional.scaled_dot_product_attention(t_q, t_q, t_q,
                                                          attn_mask=torch.from_numpy(m))
    no = nf.nn.functional.scaled_dot_product_attention(n_q, n_q, n_q, attn_mask=nf.tensor(m))
    assert_close(no, to, ATOL, RTOL, "sdpa with a dead row")
    to.sum().backward()
    no.sum().backward()
    assert_close(n_q.grad, t_q.grad, ATOL, RTOL, "sdpa grad with a dead row")


def test_unbatched_encoder_and_transformer_with_every_mask():
    rng = np.random.default_rng(13)
    torch.manual_seed(13)
    t = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16, 0.0), 2,
                                    enable_nested_tensor=False)
    n = nf.nn.TransformerEncoder(nf.nn.TransformerEncoderLayer(8, 2, 16, 0.0), 2,
                                 enable_nested_tensor=False)
    copy_weights(t, n)
    x = _rand(rng, 5, 8)
    m = torch.nn.Transformer.generate_square_subsequent_mask(5)
    assert_close(n(nf.tensor(x), mask=nf.tensor(m.numpy()), is_causal=True),
                 t(torch.from_numpy(x), mask=m, is_causal=True), ATOL, RTOL, "unbatched causal")
    kb = np.zeros(5, bool)
    kb[3:] = True
    assert_close(n(nf.tensor(x), src_key_padding_mask=nf.tensor(kb)),
                 t(torch.from_numpy(x), src_key_padding_mask=torch.from_numpy(kb)),
                 ATOL, RTOL, "unbatched padding mask")
    kw = dict(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
              dim_feedforward=16, dropout=0.0, batch_first=True)
    T, N = torch.nn.Transformer(**kw), nf.nn.Transformer(**kw)
    copy_weights(T, N)
    src, tgt = _rand(rng, 2, 5, 8), _rand(rng, 2, 4, 8)
    sk = np.zeros((2, 5), bool)
    sk[1, 3:] = True
    tk = np.zeros((2, 4), bool)
    tk[0, 3:] = True
    mm = np.zeros((4, 5), np.float32)
    mm[0, 4] = -np.inf
    tm = torch.nn.Transformer.generate_square_subsequent_mask(4)
    masks = dict(tgt_mask=tm.numpy(), memory_mask=mm, src_key_padding_mask=sk,
                 tgt_key_padding_mask=tk, memory_key_padding_mask=sk)
    a = T(torch.from_numpy(src), torch.from_numpy(tgt), tgt_is_causal=True,
          **{k: torch.from_numpy(v) for k, v in masks.items()})
    b = N(nf.tensor(src), nf.tensor(tgt), tgt_is_causal=True,
          **{k: nf.tensor(v) for k, v in masks.items()})
    assert_close(b, a, ATOL, RTOL, "transformer with every mask")
    T.eval()
    N.eval()
    with torch.no_grad():
        a = T(torch.from_numpy(src), torch.from_numpy(tgt),
              src_key_padding_mask=torch.from_numpy(sk))
    with nf.no_grad():
        b = N(nf.tensor(src), nf.tensor(tgt), src_key_padding_mask=nf.tensor(sk))
    assert_close(b, a, ATOL, RTOL, "transformer in eval (torch's nested-tensor encoder)")
