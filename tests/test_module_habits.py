"""Module habits against torch: registration, traversal, hooks, dtype/device moves, printing,
state_dict round trips, ParameterList/Dict, deepcopy and pickle."""
import copy
import pickle

import numpy as np
import pytest
import torch

import nnfast as nf
from helpers import assert_close, copy_weights

tnn, nnn = torch.nn, nf.nn


def both(build):
    """The same model built with torch.nn and nnfast.nn, nnfast holding torch's weights."""
    t, n = build(tnn), build(nnn)
    copy_weights(t, n)
    return t, n


class Net:
    """A module class written once for either library (what `import nnfast as torch` runs)."""

    @staticmethod
    def make(nn):
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(3, 4)
                self.bn = nn.BatchNorm1d(4)
                self.register_buffer("scale", (torch if nn is tnn else nf).ones(4))
                self.register_buffer("tmp", (torch if nn is tnn else nf).zeros(2),
                                     persistent=False)
                self.register_parameter("gain", nn.Parameter((torch if nn is tnn
                                                              else nf).ones(1)))
                self.add_module("act", nn.ReLU())
                self.head = nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.1))

            def forward(self, x):
                return self.head(self.act(self.bn(self.fc(x))) * self.scale * self.gain)
        return Net()


def names(it):
    return [k for k, _ in it]


def test_traversal_names_match_torch():
    t, n = both(Net.make)
    assert list(n.state_dict()) == list(t.state_dict())
    assert names(n.named_parameters()) == names(t.named_parameters())
    assert names(n.named_buffers()) == names(t.named_buffers())
    assert names(n.named_modules()) == names(t.named_modules())
    assert names(n.named_children()) == names(t.named_children())
    assert names(n.named_parameters(recurse=False)) == names(t.named_parameters(recurse=False))
    assert len(list(n.parameters(recurse=False))) == 1
    assert names(n.named_parameters(prefix="m")) == names(t.named_parameters(prefix="m"))
    assert list(n.state_dict(prefix="p.")) == list(t.state_dict(prefix="p."))
    assert len(list(n.buffers())) == len(list(t.buffers()))
    assert len(list(n.modules())) == len(list(t.modules()))


def test_state_dict_keep_vars_and_sharing():
    _, n = both(Net.make)
    sd = n.state_dict()
    assert not sd["fc.weight"].requires_grad
    assert sd["fc.weight"]._storage is n.fc.weight._storage
    kv = n.state_dict(keep_vars=True)
    assert kv["fc.weight"] is n.fc.weight
    assert "tmp" not in sd and "scale" in sd


def test_get_submodule_parameter_buffer_and_errors():
    t, n = both(Net.make)
    assert n.get_submodule("head.0") is n.head[0]
    assert n.get_parameter("head.0.weight") is n.head[0].weight
    assert n.get_buffer("bn.running_mean") is n.bn.running_mean
    for fn in ("get_submodule", "get_parameter", "get_buffer"):
        for target in ("head.9", "fc.bias.x", "nope", "fc.weight", "bn.running_mean",
                       "fc.nope"):
            try:
                getattr(t, fn)(target)
                expected = None
            except AttributeError as e:
                expected = str(e)
            if expected is None:
                getattr(n, fn)(target)
            else:
                with pytest.raises(AttributeError) as info:
                    getattr(n, fn)(target)
                assert str(info.value) == expected, (fn, target)


def test_register_errors_match_torch():
    for lib in (tnn, nnn):
        lib_t = torch if lib is tnn else nf
        m = lib.Linear(2, 2)
        m.foo = 3
        with pytest.raises(KeyError, match="attribute 'foo' already exists"):
            m.register_buffer("foo", lib_t.zeros(1))
        with pytest.raises(KeyError, match="attribute 'weight' already exists"):
            m.add_module("weight", lib.ReLU())
        with pytest.raises(TypeError, match="buffer name should be a string"):
            m.register_buffer(1, None)
        with pytest.raises(KeyError, match="contain"):
            m.register_parameter("a.b", None)
        with pytest.raises(TypeError):
            m.register_parameter("p", lib_t.zeros(1))


def test_buffer_class_registers():
    for lib, lt in ((tnn, torch), (nnn, nf)):
        class M(lib.Module):
            def __init__(self):
                super().__init__()
                self.b = lib.Buffer(lt.ones(2))
                self.c = lib.Buffer(lt.ones(2), persistent=False)
        m = M()
        assert list(m.state_dict()) == ["b"]
        assert names(m.named_buffers()) == ["b", "c"]


def test_apply_train_requires_grad_zero_grad():
    t, n = both(Net.make)
    seen_t, seen_n = [], []
    t.apply(lambda m: seen_t.append(type(m).__name__))
    assert n.apply(lambda m: seen_n.append(type(m).__name__)) is n
    assert seen_n == seen_t
    assert n.train(False) is n and not n.head[1].training
    n.train()
    assert n.head[1].training
    with pytest.raises(ValueError):
        n.train("yes")
    n.requires_grad_(False)
    assert not any(p.requires_grad for p in n.parameters())
    n.requires_grad_()
    n(nf.randn(5, 3)).sum().backward()
    assert n.fc.weight.grad is not None
    n.zero_grad(set_to_none=False)
    assert float(n.fc.weight.grad.abs().sum()) == 0.0
    n.zero_grad()
    assert n.fc.weight.grad is None


# --------------------------------------------------------------------------- hooks

def run_hooks(lib, lt):
    lt.manual_seed(0)
    m = lib.Linear(3, 2)
    log = []

    def pre(mod, args):
        log.append(("pre", tuple(args[0].shape)))
        return (args[0] * 2,)

    def pre_kw(mod, args, kwargs):
        log.append(("prekw", sorted(kwargs)))
        return None

    def fwd(mod, args, out):
        log.append(("fwd", tuple(out.shape)))
        return out + 1

    def fwd_kw(mod, args, kwargs, out):
        log.append(("fwdkw", len(args)))

    h1 = m.register_forward_pre_hook(pre)
    h2 = m.register_forward_pre_hook(pre_kw, with_kwargs=True, prepend=True)
    h3 = m.register_forward_hook(fwd)
    h4 = m.register_forward_hook(fwd_kw, with_kwargs=True)
    x = lt.ones(4, 3)
    out1 = m(x).detach().numpy().copy()
    for h in (h1, h2, h3, h4):
        h.remove()
    out2 = m(x).detach().numpy().copy()
    with m.register_forward_hook(lambda mod, a, o: o * 0):
        out3 = m(x).detach().numpy().copy()
    out4 = m(x).detach().numpy().copy()
    return log, out1, out2, out3, out4, m


def test_forward_hooks_match_torch():
    lt, ln = run_hooks(tnn, torch), run_hooks(nnn, nf)
    assert ln[0] == lt[0]   # same hooks called in the same order with the same views
    for got, exp in zip(ln[1:5], lt[1:5]):
        assert got.shape == exp.shape
    assert np.all(ln[3] == 0) and not np.all(ln[4] == 0)
    w, b = ln[5].weight.detach().numpy(), ln[5].bias.detach().numpy()
    np.testing.assert_allclose(ln[1], 2 * np.ones((4, 3)) @ w.T + b + 1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ln[2], np.ones((4, 3)) @ w.T + b, rtol=1e-5, atol=1e-6)


def test_forward_hook_sees_module_and_output_value():
    t, n = both(lambda nn: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)))
    acts_t, acts_n = {}, {}
    for name, m in t.named_modules():
        m.register_forward_hook(lambda mod, a, o, name=name: acts_t.__setitem__(name, o))
    for name, m in n.named_modules():
        m.register_forward_hook(lambda mod, a, o, name=name: acts_n.__setitem__(name, o))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    t(torch.from_numpy(x))
    n(nf.tensor(x))
    assert list(acts_n) == list(acts_t)
    for k in acts_t:
        assert_close(acts_n[k], acts_t[k], what=k)


@pytest.mark.parametrize("input_grad", [True, False])
def test_full_backward_hook_matches_torch(input_grad):
    t, n = both(lambda nn: nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)))
    got = {}
    x = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)

    def record(store, tag):
        def hook(mod, gin, gout):
            store[tag] = ([None if g is None else g.detach().numpy().copy() for g in gin],
                          [g.detach().numpy().copy() for g in gout])
        return hook
    exp = {}
    for tag in ("0", "1", "2"):
        t.get_submodule(tag).register_full_backward_hook(record(exp, tag))
        n.get_submodule(tag).register_full_backward_hook(record(got, tag))
    tx = torch.from_numpy(x).requires_grad_(input_grad)
    nx = nf.tensor(x, requires_grad=input_grad)
    t(tx).pow(2).sum().backward()
    n(nx).pow(2).sum().backward()
    assert sorted(got) == sorted(exp)
    for tag in exp:
        for a, b in zip(got[tag][0] + got[tag][1], exp[tag][0] + exp[tag][1]):
            assert (a is None) == (b is None), tag
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=tag)
    if input_grad:
        assert_close(nx.grad, tx.grad)


def test_backward_hook_can_replace_grad_input():
    for lib, lt in ((tnn, torch), (nnn, nf)):
        m = lib.Tanh()
        m.register_full_backward_hook(lambda mod, gin, gout: (gin[0] * 0 + 7,))
        x = lt.ones(3, requires_grad=True)
        m(x).sum().backward()
        assert np.allclose(x.grad.numpy(), 7)


# --------------------------------------------------------------------------- dtypes, devices

def test_to_dtype_device_and_errors():
    _, n = both(Net.make)
    assert n.to(nf.device("cpu")) is n
    assert n.to("cpu", nf.float64, True) is n
    assert n.fc.weight.dtype == np.float64 and n.bn.running_mean.dtype == np.float64
    assert n.bn.num_batches_tracked.dtype == np.int64   # integer buffers keep their dtype
    n.to(device="cpu", dtype=nf.float32, non_blocking=True)
    assert n.fc.weight.dtype == np.float32
    n.to(nf.zeros(1, dtype=nf.float64))
    assert n.fc.weight.dtype == np.float64
    n.float()
    p = n.fc.weight
    n.half()
    assert n.fc.weight is p and p.dtype == np.float16
    n.float()
    assert n.cpu() is n
    with pytest.raises(TypeError, match="only accepts floating point or complex dtypes"):
        n.to(nf.int64)
    for bad in (lambda: n.to("cuda"), lambda: n.cuda(), lambda: n.to(nf.device("cuda:0")),
                lambda: n.cuda(0)):
        with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
            bad()


# --------------------------------------------------------------------------- printing

REPRS = ["Linear(3, 4)", "Linear(3, 4, bias=False)", "Conv2d(3, 8, 3)",
         "Conv2d(3, 8, (3, 5), stride=2, padding=1, bias=False)", "BatchNorm1d(4)",
         "BatchNorm2d(4, affine=False)", "LayerNorm(4)", "LSTM(3, 5)",
         "LSTM(3, 5, num_layers=2, batch_first=True, dropout=0.1, bidirectional=True)",
         "GRU(3, 5)", "RNN(3, 5, nonlinearity='relu')", "RNNCell(2, 3, nonlinearity='relu')",
         "GRUCell(2, 3, bias=False)", "LayerNorm(3, bias=False)",
         "Conv2d(4, 4, 3, dilation=2, groups=2)", "MaxPool2d(2, 1, 1, 2, True, True)",
         "AvgPool2d(3, 2, 1, True, False, 2)", "ELU(alpha=0.5)",
         "PReLU(num_parameters=4, init=0.1)", "BatchNorm1d(3, eps=1e-3, momentum=None)",
         "Dropout()", "Dropout(0.2, inplace=True)",
         "ReLU()", "ReLU(inplace=True)", "LeakyReLU(0.2)", "GELU(approximate='tanh')",
         "Softmax(dim=1)", "MaxPool2d(2)", "AvgPool2d(2)", "AdaptiveAvgPool2d((1, 1))",
         "Embedding(10, 3, padding_idx=0)", "Flatten()", "Identity()", "CrossEntropyLoss()",
         "Sequential(Linear(2, 3), ReLU(), Sequential(Linear(3, 1), Sigmoid()))",
         "ModuleList([Linear(2, 2) for _ in range(3)])",
         "ModuleList([Linear(2, 2), ReLU(), ReLU(), Linear(2, 2)])", "ModuleList()",
         "ModuleDict({'a': Linear(1, 2), 'b': ReLU()})"]


@pytest.mark.parametrize("expr", REPRS)
def test_repr_matches_torch(expr):
    t = eval(expr, dict(vars(tnn)))
    n = eval(expr, dict(vars(nnn)))
    assert repr(n) == repr(t)


def test_custom_module_repr_and_extra_repr():
    t, n = both(Net.make)
    assert repr(n) == repr(t)
    for lib in (tnn, nnn):
        class E(lib.Module):
            def extra_repr(self):
                return "k=1\nj=2"
    assert repr(E()) == "E(\n  k=1\n  j=2\n)"


# --------------------------------------------------------------------------- state dicts

def test_load_state_dict_non_strict_and_repr():
    t, n = both(Net.make)
    sd_t, sd_n = t.state_dict(), n.state_dict()
    for sd in (sd_t, sd_n):
        del sd["fc.bias"]
        sd["extra"] = sd["scale"]
        sd["fc.foo.x"] = sd["scale"]
    rt = t.load_state_dict(sd_t, strict=False)
    rn = n.load_state_dict(sd_n, strict=False)
    assert rn == rt and repr(rn) == repr(rt)
    assert rn.missing_keys == ["fc.bias"] and rn.unexpected_keys == ["extra", "fc.foo.x"]
    ok = n.load_state_dict(n.state_dict())
    assert repr(ok) == repr(t.load_state_dict(t.state_dict())) == "<All keys matched successfully>"
    with pytest.raises(RuntimeError) as et:
        t.load_state_dict(sd_t)
    with pytest.raises(RuntimeError) as en:
        n.load_state_dict(sd_n)
    assert str(en.value) == str(et.value)
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        n.load_state_dict([1])


def test_load_state_dict_from_torch_and_assign():
    t, n = both(Net.make)
    x = np.random.default_rng(2).standard_normal((6, 3)).astype(np.float32)
    t.eval(), n.eval()
    assert_close(n(nf.tensor(x)), t(torch.from_numpy(x)))
    _, n2 = both(Net.make)
    w = n2.fc.weight
    n2.load_state_dict(n.state_dict(), assign=True)
    assert n2.fc.weight is not w and isinstance(n2.fc.weight, nnn.Parameter)
    assert n2.fc.weight.requires_grad
    np.testing.assert_array_equal(n2.fc.weight.detach().numpy(), n.fc.weight.detach().numpy())


# --------------------------------------------------------------------------- containers

def test_parameter_list_and_dict_match_torch():
    def build(nn, lt):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.pl = nn.ParameterList([nn.Parameter(lt.ones(2)), lt.zeros(3, 2)])
                self.pd = nn.ParameterDict({"a": nn.Parameter(lt.ones(2)), "b": lt.zeros(3)})
                self.pl.append(lt.zeros(4))
                self.pd["c"] = nn.Parameter(lt.zeros(1))
        return M()
    t, n = build(tnn, torch), build(nnn, nf)
    assert list(n.state_dict()) == list(t.state_dict())
    assert names(n.named_parameters()) == names(t.named_parameters())
    assert repr(n) == repr(t)
    assert repr(n.pl) == repr(t.pl) and repr(n.pd) == repr(t.pd)
    assert isinstance(n.pl[1], nnn.Parameter) and isinstance(n.pd["b"], nnn.Parameter)
    assert len(n.pl) == 3 and n.pl[-1].shape == (4,)
    assert list(n.pd.keys()) == list(t.pd.keys()) and "a" in n.pd
    assert len(list(n.pd.values())) == 3
    assert n.pd.pop("c").shape == (1,) and "c" not in n.pd and "pd.c" not in n.state_dict()
    with pytest.raises(IndexError):
        n.pl[5]
    opt = nf.optim.SGD(n.parameters(), lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 5


# --------------------------------------------------------------------------- copies

PickledNet = type("PickledNet", (type(Net.make(nnn)),), {})   # importable by name


def test_deepcopy_and_pickle_model():
    n = PickledNet()
    n.eval()
    n.head[0] = n.head[0]
    x = nf.randn(4, 3)
    ref = n(x).detach().numpy()
    for clone in (copy.deepcopy(n), pickle.loads(pickle.dumps(n))):
        assert type(clone) is PickledNet
        assert isinstance(clone.fc.weight, nnn.Parameter) and clone.fc.weight.requires_grad
        assert clone.fc.weight._storage is not n.fc.weight._storage
        assert list(clone.state_dict()) == list(n.state_dict())
        assert "tmp" in dict(clone.named_buffers())
        np.testing.assert_allclose(clone(x).detach().numpy(), ref, rtol=1e-6)
        assert clone.register_forward_hook(lambda *a: None) is not None


def test_deepcopy_keeps_shared_parameters_shared():
    lin = nnn.Linear(2, 2)
    m = nnn.Sequential(lin, nnn.ReLU(), lin)
    c = copy.deepcopy(m)
    assert c[0] is c[2] and c[0].weight is c[2].weight
    assert len(list(c.parameters())) == 2


def test_sgd_step_after_dtype_move_still_updates():
    n = nnn.Linear(3, 1)
    n.double()
    opt = nf.optim.SGD(n.parameters(), lr=0.1)
    before = n.weight.detach().numpy().copy()
    n(nf.ones(2, 3, dtype=nf.float64)).sum().backward()
    opt.step()
    assert not np.allclose(n.weight.detach().numpy(), before)


def test_backward_pre_hook_sees_and_replaces_grad_output():
    res = {}
    for lib, lt in ((tnn, torch), (nnn, nf)):
        seen = []
        m = lib.Tanh()
        m.register_full_backward_pre_hook(lambda mod, gout: seen.append(gout[0].numpy().copy()))
        h = m.register_full_backward_pre_hook(lambda mod, gout: (gout[0] * 3,))
        x = lt.ones(3, requires_grad=True)
        (m(x) * 2).sum().backward()
        h.remove()
        y = lt.ones(3, requires_grad=True)
        (m(y) * 2).sum().backward()
        res[lib] = (seen, x.grad.numpy().copy(), y.grad.numpy().copy())
    for a, b in zip(res[nnn], res[tnn]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5)


def test_tensor_save_keeps_parameter_and_requires_grad_as_torch():
    import io
    out = {}
    for lib, lt, save, load in ((tnn, torch, torch.save, torch.load),
                                (nnn, nf, nf.save, nf.load)):
        buf = io.BytesIO()
        save({"p": lib.Parameter(lt.ones(2)), "f": lib.Parameter(lt.ones(2), requires_grad=False),
              "t": lt.ones(2, requires_grad=True), "x": lt.ones(1)}, buf)
        buf.seek(0)
        d = load(buf)
        out[lib] = {k: (isinstance(v, lib.Parameter), v.requires_grad) for k, v in d.items()}
    assert out[nnn] == out[tnn]


def test_extra_state_set_submodule_to_empty_match_torch():
    for lib, lt in ((tnn, torch), (nnn, nf)):
        class M(lib.Module):
            def __init__(self):
                super().__init__()
                self.l = lib.Linear(1, 1)
                self.cfg = {"a": 1}

            def get_extra_state(self):
                return self.cfg

            def set_extra_state(self, state):
                self.cfg = state
        m, m2 = M(), M()
        m2.cfg = None
        sd = m.state_dict()
        assert list(sd) == ["_extra_state", "l.weight", "l.bias"]
        assert repr(m2.load_state_dict(sd)) == "<All keys matched successfully>"
        assert m2.cfg == {"a": 1}
        sd.pop("_extra_state")
        assert m2.load_state_dict(sd, strict=False).missing_keys == ["_extra_state"]
        s = lib.Sequential(lib.Linear(1, 1), lib.ReLU())
        s.set_submodule("1", lib.Tanh())
        assert type(s[1]).__name__ == "Tanh"
        with pytest.raises(AttributeError, match="has no attribute `x`"):
            s.set_submodule("x", lib.Tanh(), strict=True)
        with pytest.raises(AttributeError, match="is not an nn.Module"):
            s[0].set_submodule("weight", lib.Tanh())
    assert nnn.Linear(1, 1).to_empty(device="cpu") is not None
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        nnn.Linear(1, 1).to_empty(device="cuda")


def test_global_module_hooks_match_torch():
    import nnfast.nn.modules.module as NM
    import torch.nn.modules.module as TM
    logs = {}
    for lib, lt, M in ((tnn, torch, TM), (nnn, nf, NM)):
        log = []
        s = lib.Sequential(lib.Linear(1, 1), lib.ReLU())
        s[0].register_forward_hook(lambda m, i, o: log.append("local"))
        hs = [M.register_module_forward_pre_hook(lambda m, i: log.append("pre" + m._get_name())),
              M.register_module_forward_hook(lambda m, i, o: log.append(m._get_name())),
              M.register_module_full_backward_hook(
                  lambda m, gi, go: log.append("bw" + m._get_name()))]
        try:
            s(lt.ones(2, 1, requires_grad=True)).sum().backward()
        finally:
            for h in hs:
                h.remove()
        s(lt.ones(2, 1))
        logs[lib] = log
    assert logs[nnn] == logs[tnn]


def test_state_dict_hooks_match_torch():
    out = {}
    for lib, lt in ((tnn, torch), (nnn, nf)):
        log = []
        m = lib.Sequential(lib.Linear(2, 2), lib.ReLU())
        m[0].register_state_dict_pre_hook(lambda mod, prefix, kv: log.append(("pre", prefix)))

        def post(mod, sd, prefix, meta):
            log.append(("post", prefix, sorted(k for k in sd if k.startswith(prefix))))
            sd[prefix + "note"] = 1
        m[0].register_state_dict_post_hook(post)
        sd = m.state_dict()
        assert sd["0.note"] == 1
        del sd["0.note"]

        def rename(mod, sd, prefix, meta, strict, missing, unexpected, errors):
            if prefix + "W" in sd:
                sd[prefix + "weight"] = sd.pop(prefix + "W")
        m[0].register_load_state_dict_pre_hook(rename)
        sd["0.W"] = sd.pop("0.weight") * 0 + 3
        r = m.load_state_dict(sd)
        assert np.allclose(m[0].weight.detach().numpy(), 3)

        def forgive(mod, keys):
            log.append(("lpost", list(keys.missing_keys)))
            keys.missing_keys.clear()
        h = m.register_load_state_dict_post_hook(forgive)
        sd2 = dict(sd)
        sd2.pop("0.bias")
        r = m.load_state_dict(sd2)   # strict, but the hook cleared the missing key
        h.remove()
        with pytest.raises(RuntimeError, match="Missing key"):
            m.load_state_dict(sd2)
        out[lib] = (log, repr(r))
    assert out[nnn] == out[tnn]


def test_hooks_of_a_model_unpickled_in_a_fresh_process_still_run(tmp_path):
    """Module calls take the hook-checking path only once the process has seen a hook; a
    model unpickled with hooks in a new interpreter must switch it on."""
    import subprocess
    import sys
    import textwrap
    script = textwrap.dedent("""
        import pickle, sys
        import nnfast as nf
        sys.path.insert(0, sys.argv[2])
        m = pickle.loads(open(sys.argv[1], "rb").read())
        print(m(nf.ones(1, 2)).tolist())
    """)
    m = nf.nn.Linear(2, 1)
    m.register_forward_hook(_zero_output_hook)
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(m))
    tests_dir = str(__import__("pathlib").Path(__file__).parent)
    out = subprocess.run([sys.executable, "-c", script, str(path), tests_dir], capture_output=True,
                         text=True, timeout=120, cwd=str(tmp_path),
                         env={**__import__("os").environ,
                              "PYTHONPATH": str(__import__("pathlib").Path(__file__).parents[1])})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[[0.0]]"


def _zero_output_hook(module, inputs, output):
    return output * 0
