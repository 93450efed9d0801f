"""Module, Parameter and the containers: registration, traversal, modes, state_dict interop
with torch, containers, dtype casting and the Python-edge validation of Linear."""
from collections import OrderedDict

import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import nn
from helpers import assert_close, copy_weights

F32 = np.float32


def twin_mlp():
    """The same architecture in torch and nnfast: Sequential with a nested Sequential."""
    t = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Sequential(
        torch.nn.Linear(8, 8), torch.nn.Linear(8, 5, bias=False)), torch.nn.Linear(5, 2))
    n = nn.Sequential(nn.Linear(4, 8), nn.Sequential(
        nn.Linear(8, 8), nn.Linear(8, 5, bias=False)), nn.Linear(5, 2))
    return t, n


class TBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 4)
        self.heads = torch.nn.ModuleList([torch.nn.Linear(4, 2), torch.nn.Linear(4, 1)])
        self.extra = torch.nn.ModuleDict({"b": torch.nn.Linear(2, 2), "a": torch.nn.Linear(1, 1)})
        self.scale = torch.nn.Parameter(torch.ones(4))
        self.register_buffer("running", torch.zeros(4))
        self.register_buffer("tmp", torch.zeros(2), persistent=False)


class NBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.heads = nn.ModuleList([nn.Linear(4, 2), nn.Linear(4, 1)])
        self.extra = nn.ModuleDict({"b": nn.Linear(2, 2), "a": nn.Linear(1, 1)})
        self.scale = nn.Parameter(np.ones(4, F32))
        self.register_buffer("running", nf.zeros(4))
        self.register_buffer("tmp", nf.zeros(2), persistent=False)


# ============================================================= traversal

@pytest.mark.parametrize("make", [twin_mlp, lambda: (TBlock(), NBlock())])
def test_named_parameters_order_and_shapes_match_torch(make):
    t, n = make()
    tn = [(k, tuple(v.shape)) for k, v in t.named_parameters()]
    nn_ = [(k, v.shape) for k, v in n.named_parameters()]
    assert nn_ == tn
    assert len(list(n.parameters())) == len(list(t.parameters()))
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in n.parameters())


@pytest.mark.parametrize("make", [twin_mlp, lambda: (TBlock(), NBlock())])
def test_named_modules_children_buffers_match_torch(make):
    t, n = make()
    assert [k for k, _ in n.named_modules()] == [k for k, _ in t.named_modules()]
    assert [k for k, _ in n.named_children()] == [k for k, _ in t.named_children()]
    assert [type(m).__name__ for m in n.children()] == [type(m).__name__ for m in t.children()]
    assert [k for k, _ in n.named_buffers()] == [k for k, _ in t.named_buffers()]
    assert len(list(n.modules())) == len(list(t.modules()))
    assert [k for k, _ in n.named_parameters(recurse=False)] == \
        [k for k, _ in t.named_parameters(recurse=False)]
    assert [k for k, _ in n.named_parameters(prefix="m")] == \
        [k for k, _ in t.named_parameters(prefix="m")]


def test_shared_module_and_parameter_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, lin)
    tl = torch.nn.Linear(2, 2)
    tseq = torch.nn.Sequential(tl, tl)
    assert [k for k, _ in seq.named_parameters()] == [k for k, _ in tseq.named_parameters()]
    assert [k for k, _ in seq.named_modules()] == [k for k, _ in tseq.named_modules()]
    assert list(seq.state_dict()) == list(tseq.state_dict())


def test_get_submodule_and_attribute_errors():
    t, n = twin_mlp()
    assert n.get_submodule("1.1") is n[1][1]
    with pytest.raises(AttributeError):
        n.get_submodule("1.7")
    with pytest.raises(AttributeError, match="nope"):
        n.nope  # noqa: B018


def test_setattr_rules():
    m = nn.Module()
    m.w = nn.Parameter(np.zeros(2, F32))
    assert "w" in dict(m.named_parameters())
    with pytest.raises(TypeError, match="parameter"):
        m.w = nf.zeros(2)
    m.w = None
    assert list(m.named_parameters()) == []
    m.sub = nn.Linear(1, 1)
    with pytest.raises(TypeError):
        m.sub = 3
    m.plain = 5
    assert m.plain == 5
    m.register_buffer("buf", nf.zeros(1))
    with pytest.raises(TypeError):
        m.buf = [1]
    m.buf = nf.ones(1)
    assert m.buf.detach().numpy()[0] == 1
    del m.sub
    assert "sub" not in dict(m.named_children())
    with pytest.raises(KeyError):
        m.register_parameter("a.b", None)


def test_module_before_init_raises():
    class Bad(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(1, 1)
    with pytest.raises(AttributeError, match="__init__"):
        Bad()


def test_missing_forward():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(nf.zeros(1))


# ============================================================= modes

def test_train_eval_propagate():
    t, n = twin_mlp()
    assert all(m.training for m in n.modules())
    assert n.eval() is n
    assert not any(m.training for m in n.modules())
    n[1].train()
    assert n[1][0].training and not n.training and not n[0].training
    n.train()
    assert all(m.training for m in n.modules())
    with pytest.raises(ValueError):
        n.train("yes")


def test_train_calls_children_train_overrides():
    """As in torch, train(mode) calls each child's train(), so overrides take effect."""
    calls = []

    class Frozen(nn.Module):
        def train(self, mode=True):
            calls.append(mode)
            return super().train(False)  # always stays in eval mode

    class TFrozen(torch.nn.Module):
        def train(self, mode=True):
            return super().train(False)

    n = nn.Sequential(nn.Linear(1, 1), nn.Sequential(Frozen()))
    t = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.Sequential(TFrozen()))
    n.eval()
    n.train()
    t.eval()
    t.train()
    assert calls == [False, True]
    assert [m.training for m in n.modules()] == [m.training for m in t.modules()]


def test_requires_grad_():
    t, n = twin_mlp()
    n.requires_grad_(False)
    assert not any(p.requires_grad for p in n.parameters())
    n.requires_grad_()
    assert all(p.requires_grad for p in n.parameters())


# ============================================================= state_dict

@pytest.mark.parametrize("make", [twin_mlp, lambda: (TBlock(), NBlock())])
def test_state_dict_keys_and_shapes_match_torch(make):
    t, n = make()
    ts, ns = t.state_dict(), n.state_dict()
    assert list(ns) == list(ts)
    for k in ts:
        assert ns[k].shape == tuple(ts[k].shape), k
        assert not ns[k].requires_grad
    assert "tmp" not in ns


def test_state_dict_shares_storage():
    n = nn.Linear(2, 3)
    sd = n.state_dict()
    assert np.shares_memory(sd["weight"].detach().numpy(), n.weight.detach().numpy())
    kv = n.state_dict(keep_vars=True)
    assert kv["weight"] is n.weight


@pytest.mark.parametrize("source", ["torch", "numpy", "nnfast"])
def test_load_state_dict_from_torch_numpy_and_nnfast(source):
    t, n = twin_mlp()
    sd = t.state_dict()
    if source == "numpy":
        sd = {k: v.numpy().copy() for k, v in sd.items()}
    elif source == "nnfast":
        sd = {k: nf.tensor(v.numpy()) for k, v in sd.items()}
    before = {k: (p, p.detach().numpy()) for k, p in n.named_parameters()}
    res = n.load_state_dict(sd)
    assert res.missing_keys == [] and res.unexpected_keys == []
    for k, p in n.named_parameters():
        assert p is before[k][0], "Parameter objects must be kept"
        assert p.detach().numpy() is before[k][1], "copied in place: the .data array must be kept"
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(F32)
    assert_close(n(nf.tensor(x)), t(torch.from_numpy(x)))


def test_load_state_dict_does_not_alias_source():
    t, n = twin_mlp()
    sd = {k: v.numpy().copy() for k, v in t.state_dict().items()}
    n.load_state_dict(sd)
    sd["0.weight"][...] = 123
    assert not (n[0].weight.detach().numpy() == 123).any()


def test_load_state_dict_buffers():
    t, n = TBlock(), NBlock()
    with torch.no_grad():
        t.running.add_(3.0)
    buf = n.running.detach().numpy()
    n.load_state_dict(t.state_dict())
    assert n.running.detach().numpy() is buf
    np.testing.assert_array_equal(n.running.detach().numpy(), 3.0)


def test_load_state_dict_strict_missing_key_named():
    t, n = twin_mlp()
    sd = dict(t.state_dict())
    del sd["1.0.bias"]
    with pytest.raises(RuntimeError, match=r'Missing key\(s\).*"1\.0\.bias"'):
        n.load_state_dict(sd)


def test_load_state_dict_strict_unexpected_key_named():
    t, n = twin_mlp()
    sd = dict(t.state_dict())
    sd["9.weight"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\).*"9\.weight"'):
        n.load_state_dict(sd)
    # torch raises too
    with pytest.raises(RuntimeError):
        t.load_state_dict(sd)


def test_load_state_dict_size_mismatch_names_key_even_non_strict():
    t, n = twin_mlp()
    sd = dict(t.state_dict())
    sd["0.weight"] = torch.zeros(3, 3)
    for strict in (True, False):
        with pytest.raises(RuntimeError, match=r"size mismatch for 0\.weight.*\[3, 3\].*\[8, 4\]"):
            n.load_state_dict(sd, strict=strict)
        with pytest.raises(RuntimeError, match="size mismatch for 0.weight"):
            t.load_state_dict(sd, strict=strict)


def test_load_state_dict_non_strict_returns_lists_like_torch():
    t, n = twin_mlp()
    sd = dict(t.state_dict())
    del sd["2.bias"]
    sd["extra"] = torch.ones(2)
    tres = twin_mlp()[0].load_state_dict(sd, strict=False)
    nres = n.load_state_dict(sd, strict=False)
    assert nres.missing_keys == tres.missing_keys == ["2.bias"]
    assert nres.unexpected_keys == tres.unexpected_keys == ["extra"]
    missing, unexpected = nres
    assert missing == ["2.bias"]
    # the present keys were loaded
    assert_close(n[0].weight, t[0].weight)


def test_copy_weights_helper_roundtrip():
    t, n = twin_mlp()
    copy_weights(t, n)
    for (k, a), (k2, b) in zip(n.state_dict().items(), t.state_dict().items()):
        assert k == k2
        assert_close(a, b)


# ============================================================= buffers

def test_register_buffer_persistent_and_not():
    m = nn.Module()
    m.register_buffer("a", nf.ones(2))
    m.register_buffer("b", nf.zeros(3), persistent=False)
    m.register_buffer("c", None)
    assert [k for k, _ in m.named_buffers()] == ["a", "b"]
    assert list(m.state_dict()) == ["a"]
    assert isinstance(m.b, nf.Tensor)
    m.register_buffer("b", nf.zeros(3), persistent=True)
    assert list(m.state_dict()) == ["a", "b"]
    with pytest.raises(KeyError):
        m.register_buffer("x.y", nf.zeros(1))
    t = torch.nn.Module()
    t.register_buffer("a", torch.ones(2))
    t.register_buffer("b", torch.zeros(3), persistent=False)
    t.register_buffer("c", None)
    assert [k for k, _ in t.named_buffers()] == ["a", "b"] and list(t.state_dict()) == ["a"]


def test_buffers_follow_dtype_cast():
    n = NBlock()
    n.double()
    assert n.running.dtype == np.float64
    assert n.fc.weight.dtype == np.float64


# ============================================================= zero_grad

def _backprop(n):
    x = nf.randn(3, 4)
    n(x).sum().backward()


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    t, n = twin_mlp()
    _backprop(n)
    grads = {k: p.grad for k, p in n.named_parameters()}
    assert all(g is not None for g in grads.values())
    n.zero_grad(set_to_none=set_to_none)
    for k, p in n.named_parameters():
        if set_to_none:
            assert p.grad is None
        else:
            assert p.grad is grads[k] and not p.grad.detach().numpy().any()


def test_zero_grad_default_is_set_to_none_like_torch():
    t, n = twin_mlp()
    _backprop(n)
    n.zero_grad()
    t(torch.randn(3, 4)).sum().backward()
    t.zero_grad()
    assert all(p.grad is None for p in n.parameters())
    assert all(p.grad is None for p in t.parameters())


# ============================================================= repr

def test_repr_matches_torch():
    t = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2, bias=False))
    n = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2, bias=False))
    assert repr(n) == repr(t)
    tm, nm = twin_mlp()
    assert repr(nm) == repr(tm)
    assert repr(nn.Linear(3, 1)) == repr(torch.nn.Linear(3, 1))
    assert repr(nn.Sequential()) == repr(torch.nn.Sequential())
    assert repr(nn.ModuleList([nn.Linear(1, 2)])) == repr(torch.nn.ModuleList([torch.nn.Linear(1, 2)]))
    assert repr(nn.Identity()) == repr(torch.nn.Identity())
    assert repr(nn.Flatten()) == repr(torch.nn.Flatten())


def test_parameter_repr_and_construction():
    p = nn.Parameter(np.array([1.0, 2.0], F32))
    assert repr(p).startswith("Parameter containing:\n")
    assert p.requires_grad and p.is_leaf
    q = nn.Parameter(np.arange(3))
    assert q.dtype == F32
    t = nf.tensor([1.0, 2.0])
    r = nn.Parameter(t)
    assert np.shares_memory(r.detach().numpy(), t.detach().numpy())
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert nn.Parameter().shape == (0,)
    assert type(p.detach()) is nf.Tensor


# ============================================================= Sequential

def test_sequential_indexing_slicing_len():
    t, n = twin_mlp()
    assert len(n) == len(t) == 3
    assert n[0] is list(n)[0] and n[-1] is n[2]
    sub = n[1:]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2
    assert list(sub.state_dict()) == list(t[1:].state_dict())
    assert sub[0] is n[1]
    with pytest.raises(IndexError):
        n[3]
    with pytest.raises(IndexError):
        n[-4]


def test_sequential_append_insert_del_setitem_like_torch():
    n = nn.Sequential(nn.Linear(1, 2), nn.Linear(2, 3))
    t = torch.nn.Sequential(torch.nn.Linear(1, 2), torch.nn.Linear(2, 3))
    n.append(nn.Linear(3, 4))
    t.append(torch.nn.Linear(3, 4))
    n.insert(1, nn.Identity())
    t.insert(1, torch.nn.Identity())
    assert repr(n) == repr(t)
    del n[0]
    del t[0]
    assert repr(n) == repr(t)
    assert list(n.state_dict()) == list(t.state_dict())
    del n[0:2]
    del t[0:2]
    assert repr(n) == repr(t)
    n[0] = nn.Linear(3, 5)
    t[0] = torch.nn.Linear(3, 5)
    assert repr(n) == repr(t)
    n.extend([nn.Linear(5, 1)])
    t.extend([torch.nn.Linear(5, 1)])
    assert repr(n) == repr(t)


def test_sequential_ordered_dict_names():
    n = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 3)), ("dec", nn.Linear(3, 2))]))
    t = torch.nn.Sequential(OrderedDict([("enc", torch.nn.Linear(2, 3)),
                                         ("dec", torch.nn.Linear(3, 2))]))
    assert list(n.state_dict()) == list(t.state_dict())
    assert n.enc is n[0]
    assert repr(n) == repr(t)


def test_sequential_forward_matches_torch():
    t, n = twin_mlp()
    copy_weights(t, n)
    x = np.random.default_rng(1).standard_normal((6, 4)).astype(F32)
    xn, xt = nf.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yn, yt = n(xn), t(xt)
    assert_close(yn, yt)
    (yn * yn).sum().backward()
    (yt * yt).sum().backward()
    assert_close(xn.grad, xt.grad)
    for (k, p), (_, q) in zip(n.named_parameters(), t.named_parameters()):
        assert_close(p.grad, q.grad, what=k)


# ============================================================= ModuleList / ModuleDict

def test_module_list():
    ml = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 2)])
    tl = torch.nn.ModuleList([torch.nn.Linear(1, 1), torch.nn.Linear(1, 2)])
    ml.append(nn.Linear(2, 2))
    tl.append(torch.nn.Linear(2, 2))
    ml.extend([nn.Linear(2, 3)])
    tl.extend([torch.nn.Linear(2, 3)])
    assert len(ml) == len(tl) == 4
    assert ml[-1] is list(ml)[-1]
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    assert list(ml.state_dict()) == list(tl.state_dict())
    ml[0] = nn.Linear(1, 4)
    tl[0] = torch.nn.Linear(1, 4)
    assert repr(ml) == repr(tl)
    del ml[1]
    del tl[1]
    assert repr(ml) == repr(tl) and list(ml.state_dict()) == list(tl.state_dict())
    ml.insert(0, nn.Identity())
    tl.insert(0, torch.nn.Identity())
    assert repr(ml) == repr(tl)


def test_module_dict():
    md = nn.ModuleDict({"b": nn.Linear(1, 1), "a": nn.Linear(2, 1)})
    td = torch.nn.ModuleDict({"b": torch.nn.Linear(1, 1), "a": torch.nn.Linear(2, 1)})
    assert list(md.keys()) == list(td.keys()) == ["b", "a"]
    assert "a" in md and "z" not in md and len(md) == 2
    md["c"] = nn.Linear(3, 1)
    td["c"] = torch.nn.Linear(3, 1)
    assert list(md) == list(td)
    assert [k for k, _ in md.items()] == ["b", "a", "c"]
    assert len(list(md.values())) == 3
    del md["b"]
    del td["b"]
    assert list(md.state_dict()) == list(td.state_dict())
    popped = md.pop("a")
    td.pop("a")
    assert isinstance(popped, nn.Linear) and list(md) == list(td) == ["c"]
    md.update([("d", nn.Linear(1, 1))])
    assert list(md) == ["c", "d"]
    md.clear()
    assert len(md) == 0
    assert repr(md) == repr(torch.nn.ModuleDict())


# ============================================================= dtype casting

def test_double_then_forward_float64():
    t, n = twin_mlp()
    copy_weights(t, n)
    n.double()
    t.double()
    assert all(p.dtype == np.float64 for p in n.parameters())
    x = np.random.default_rng(2).standard_normal((3, 4))
    xn, xt = nf.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yn, yt = n(xn), t(xt)
    assert yn.dtype == np.float64
    assert_close(yn, yt, atol=1e-12, rtol=1e-12)
    yn.sum().backward()
    yt.sum().backward()
    assert_close(xn.grad, xt.grad, atol=1e-12, rtol=1e-12)
    assert n[0].weight.grad.dtype == np.float64
    n.float()
    assert all(p.dtype == F32 for p in n.parameters())
    n.to(nf.float64)
    assert all(p.dtype == np.float64 for p in n.parameters())
    assert n.to("cpu") is n
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        n.to("cuda")


# ============================================================= Linear input validation

def test_float64_input_into_float32_linear_dtype_error():
    lin = nn.Linear(4, 3)
    with pytest.raises(nf.DTypeError, match=r"Linear\(in_features=4, out_features=3\)") as ei:
        lin(nf.tensor(np.zeros((2, 4))))
    assert "float64" in str(ei.value) and "float32" in str(ei.value)
    assert isinstance(ei.value, RuntimeError) and isinstance(ei.value, TypeError)


def test_int_input_into_linear_dtype_error():
    lin = nn.Linear(4, 3)
    with pytest.raises(nf.DTypeError, match="int64"):
        lin(nf.tensor([[1, 2, 3, 4]]))


def test_wrong_last_dimension_shape_error_names_layer_and_shapes():
    lin = nn.Linear(4, 3)
    with pytest.raises(nf.ShapeError) as ei:
        lin(nf.zeros(2, 5))
    msg = str(ei.value)
    assert "Linear(in_features=4, out_features=3)" in msg
    assert "(2, 5)" in msg and "4" in msg and "in_features" in msg
    assert isinstance(ei.value, RuntimeError)
    with pytest.raises(nf.ShapeError):
        lin(nf.tensor(1.0))
    # inside a Sequential, the error names the offending layer
    seq = nn.Sequential(nn.Linear(4, 6), nn.Linear(5, 2))
    with pytest.raises(nf.ShapeError, match=r"Linear\(in_features=5, out_features=2\).*\(3, 6\)"):
        seq(nf.zeros(3, 4))


def test_non_contiguous_input_matches_torch():
    tl, nl = torch.nn.Linear(5, 3), nn.Linear(5, 3)
    copy_weights(tl, nl)
    base = np.random.default_rng(3).standard_normal((5, 7)).astype(F32)
    xn = nf.tensor(base, requires_grad=True)
    xt = torch.tensor(base, requires_grad=True)
    vn, vt = xn.T, xt.T
    assert not vn.detach().numpy().flags.c_contiguous
    yn, yt = nl(vn), tl(vt)
    assert_close(yn, yt)
    up = np.random.default_rng(4).standard_normal((7, 3)).astype(F32)
    yn.backward(nf.tensor(up))
    yt.backward(torch.from_numpy(up))
    assert_close(xn.grad, xt.grad)
    assert_close(nl.weight.grad, tl.weight.grad)
    # a strided slice as well
    big = np.random.default_rng(5).standard_normal((6, 10)).astype(F32)
    assert_close(nl(nf.tensor(big)[::2, 1:6]), tl(torch.from_numpy(big)[::2, 1:6]))


def test_read_only_input_works_and_is_not_written():
    tl, nl = torch.nn.Linear(4, 2), nn.Linear(4, 2)
    copy_weights(tl, nl)
    x = np.random.default_rng(6).standard_normal((3, 4)).astype(F32)
    keep = x.copy()
    x.setflags(write=False)
    xn = nf.from_numpy(x)
    yn = nl(xn)
    yn.sum().backward()
    assert_close(yn, tl(torch.from_numpy(keep)))
    np.testing.assert_array_equal(x, keep)
    # a read-only input that requires grad
    xg = nf.from_numpy(x).requires_grad_()
    nl(xg).sum().backward()
    np.testing.assert_array_equal(x, keep)
    assert xg.grad is not None


def test_linear_accepts_ndarray_input():
    nl = nn.Linear(3, 2)
    x = np.ones((2, 3), F32)
    assert_close(nl(x), nl(nf.tensor(x)))


def test_replacing_children_and_parameters_keeps_order_like_torch():
    t, n = twin_mlp()
    t[0] = torch.nn.Linear(4, 8)
    n[0] = nn.Linear(4, 8)
    t[1].__setattr__("0", torch.nn.Linear(8, 8))
    n[1].__setattr__("0", nn.Linear(8, 8))
    t[2].weight = torch.nn.Parameter(torch.zeros(2, 5))
    n[2].weight = nn.Parameter(np.zeros((2, 5), F32))
    assert [k for k, _ in n.named_parameters()] == [k for k, _ in t.named_parameters()]
    assert list(n.state_dict()) == list(t.state_dict())
    blk_t, blk_n = TBlock(), NBlock()
    blk_t.fc = torch.nn.Linear(3, 4)
    blk_n.fc = nn.Linear(3, 4)
    blk_t.running = torch.ones(4)
    blk_n.running = nf.ones(4)
    assert list(blk_n.state_dict()) == list(blk_t.state_dict())


def test_deepcopy_and_pickle():
    import copy
    import pickle
    t, n = twin_mlp()
    copy_weights(t, n)
    n(nf.randn(2, 4)).sum().backward()
    c = copy.deepcopy(n)
    assert c[0].weight is not n[0].weight
    assert not np.shares_memory(c[0].weight.detach().numpy(), n[0].weight.detach().numpy())
    assert isinstance(c[0].weight, nn.Parameter) and c[0].weight.grad is not None
    p = pickle.loads(pickle.dumps(n))
    x = np.random.default_rng(7).standard_normal((3, 4)).astype(F32)
    assert_close(p(nf.tensor(x)), t(torch.from_numpy(x)))
    assert repr(p) == repr(n)


def test_failed_load_state_dict_changes_nothing():
    from nnfast import nn as _nn
    m = _nn.Sequential(_nn.Linear(3, 2), _nn.Linear(2, 2))
    before = {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}
    bad = {k: np.full(v.shape, 7.0, np.float32) for k, v in before.items()}
    bad["1.weight"] = np.zeros((5, 5), np.float32)
    with pytest.raises(RuntimeError, match="size mismatch for 1.weight"):
        m.load_state_dict(bad)
    for k, v in m.state_dict().items():
        assert np.array_equal(v.detach().numpy(), before[k]), k


@pytest.mark.parametrize("layer, bad, name", [
    (lambda: nn.Conv2d(3, 8, 3), lambda: nf.zeros(1, 4, 8, 8), "Conv2d(3, 8, kernel_size=(3, 3)"),
    (lambda: nn.ConvTranspose2d(3, 8, 3), lambda: nf.zeros(4, 8), "ConvTranspose2d(3, 8"),
    (lambda: nn.MaxPool2d(2), lambda: nf.zeros(4), "MaxPool2d(kernel_size=2"),
    (lambda: nn.LayerNorm(5), lambda: nf.zeros(2, 4), "LayerNorm((5,))"),
    (lambda: nn.GroupNorm(2, 4), lambda: nf.zeros(2, 6, 3), "GroupNorm(2, 4)"),
    (lambda: nn.PReLU(3), lambda: nf.zeros(2, 5), "PReLU(num_parameters=3)"),
    (lambda: nn.Embedding(10, 3), lambda: nf.zeros(2, 2), "Embedding(10, 3"),
])
def test_layer_errors_name_the_layer_and_its_configuration(layer, bad, name):
    # a layer hands its functional a name that is formatted only when a message is made
    with pytest.raises(Exception) as ei:
        layer()(bad())
    assert name in str(ei.value), str(ei.value)
