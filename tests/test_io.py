"""nnfast.save / nnfast.load (atomic, pickle-free .npz + JSON) and the PyTorch interop."""
import json
import math
import os
import stat
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import io as nio
from nnfast import nn, optim


def _roundtrip(obj, tmp_path, name="x.nnf"):
    path = tmp_path / name
    nf.save(obj, path)
    return nf.load(path)


def _assert_same(a, b):
    """Deep equality that also compares types, dtypes, shapes, memory order and NaNs."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, nf.Tensor):
        _assert_same(a.detach().numpy(), b.detach().numpy())
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.flags.f_contiguous == b.flags.f_contiguous
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys())
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


# ----------------------------------------------------------------------------- round trips
def test_roundtrip_nested_python_structure(tmp_path):
    obj = {
        "a": 1, "b": -2.5, "c": None, "d": True, "e": False, "s": "héllo\n\"quoted\"",
        3: "int key", -7: {"nested": [1, 2, (3, 4.0, None)]},
        "floats": [float("nan"), float("inf"), float("-inf"), -0.0, 1e-310, 0.1],
        "big": 2 ** 100, "tuple": (), "list": [], "empty": {},
        "deep": {"x": [{"y": ({"z": [None]},)}]},
        "__tensor__": 5, "__dict__": "user keys that look like markers",
    }
    back = _roundtrip(obj, tmp_path)
    _assert_same(obj, back)
    assert math.copysign(1.0, back["floats"][3]) == -1.0


def test_dict_order_and_ordereddict_kept(tmp_path):
    od = OrderedDict([("z", 1), ("a", 2), (5, 3), ("m", 4)])
    d = {"z": 1, "a": 2, 10: 3, 1: 4}
    back = _roundtrip({"od": od, "d": d}, tmp_path)
    assert type(back["od"]) is OrderedDict and list(back["od"]) == ["z", "a", 5, "m"]
    assert type(back["d"]) is dict and list(back["d"]) == ["z", "a", 10, 1]


def test_numpy_scalars_become_python_numbers(tmp_path):
    back = _roundtrip([np.int64(3), np.float32(0.5), np.uint8(200), np.float64("nan"),
                       np.bool_(True)], tmp_path)
    assert back[:3] == [3, 0.5, 200] and math.isnan(back[3]) and back[4] is True
    assert type(back[0]) is int and type(back[1]) is float


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.int32,
                                   np.uint8, np.bool_, np.int8])
def test_array_dtypes_roundtrip(tmp_path, dtype):
    a = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    _assert_same(a, _roundtrip(a, tmp_path))


def test_special_arrays_roundtrip(tmp_path):
    obj = {
        "zero_d": np.array(3.5, np.float32),
        "zero_d_int": np.array(7),
        "fortran": np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4)),
        "empty": np.zeros((0, 5), np.float32),
        "nan_inf": np.array([np.nan, np.inf, -np.inf, 0.0], np.float32),
        "view": np.arange(20, dtype=np.int64).reshape(4, 5)[::2, 1::2],   # non-contiguous
    }
    back = _roundtrip(obj, tmp_path)
    assert back["zero_d"].shape == () and back["zero_d"].dtype == np.float32
    assert back["fortran"].flags.f_contiguous and not back["fortran"].flags.c_contiguous
    np.testing.assert_array_equal(back["view"], obj["view"])
    for k in ("zero_d", "zero_d_int", "fortran", "empty", "nan_inf"):
        _assert_same(obj[k], back[k])


def test_tensors_come_back_as_tensors(tmp_path):
    t = nf.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    i = nf.tensor([1, 2, 3])
    back = _roundtrip({"t": t, "i": i, "arr": np.ones(2)}, tmp_path)
    assert isinstance(back["t"], nf.Tensor) and isinstance(back["i"], nf.Tensor)
    assert isinstance(back["arr"], np.ndarray) and not isinstance(back["arr"], nf.Tensor)
    np.testing.assert_array_equal(back["t"].detach().numpy(), t.detach().numpy())
    assert back["i"].dtype == np.int64
    # the loaded tensor does not share memory with the saved one
    back["t"].detach().numpy()[0, 0] = 99
    assert t.detach().numpy()[0, 0] == 0


def test_torch_tensors_are_saved_as_tensors(tmp_path):
    sd = torch.nn.Linear(3, 2).state_dict()
    back = _roundtrip(sd, tmp_path)
    assert list(back) == ["weight", "bias"]
    for k, v in sd.items():
        assert isinstance(back[k], nf.Tensor)
        np.testing.assert_array_equal(back[k].detach().numpy(), v.numpy())


def test_model_state_dict_roundtrip_and_load(tmp_path):
    nf.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    nf.save(model.state_dict(), tmp_path / "m.nnf")
    nf.manual_seed(1)
    other = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    other.load_state_dict(nf.load(tmp_path / "m.nnf"))
    x = nf.randn(5, 4)
    np.testing.assert_array_equal(model(x).detach().numpy(), other(x).detach().numpy())


def test_str_path_and_pathlike(tmp_path):
    nf.save([1, 2], str(tmp_path / "s.nnf"))
    assert nf.load(str(tmp_path / "s.nnf")) == [1, 2]
    nf.save({"k": 1}, tmp_path / "sub" / "dir" / "p.nnf")     # folders are made
    assert nf.load(tmp_path / "sub" / "dir" / "p.nnf") == {"k": 1}


@pytest.mark.parametrize("opt_name", ["sgd", "adam", "rmsprop"])
def test_optimizer_state_dict_roundtrip_continues_identically(tmp_path, opt_name):
    make_opt = {"sgd": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                "adam": lambda p: optim.Adam(p, lr=0.01, betas=(0.8, 0.95), amsgrad=True),
                "rmsprop": lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True)}
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 4)).astype(np.float32)
    Y = rng.standard_normal((16, 2)).astype(np.float32)

    def step(model, opt):
        opt.zero_grad()
        nn.MSELoss()(model(nf.tensor(X)), nf.tensor(Y)).backward()
        opt.step()

    nf.manual_seed(0)
    a = nn.Linear(4, 2)
    opt_a = make_opt[opt_name](a.parameters())
    for _ in range(3):
        step(a, opt_a)
    nf.save({"model": a.state_dict(), "opt": opt_a.state_dict()}, tmp_path / "ck.nnf")
    ck = nf.load(tmp_path / "ck.nnf")
    b = nn.Linear(4, 2)
    opt_b = make_opt[opt_name](b.parameters())
    b.load_state_dict(ck["model"])
    opt_b.load_state_dict(ck["opt"])
    assert ck["opt"]["param_groups"][0].get("betas", (0.8, 0.95)) == (0.8, 0.95)   # a tuple
    for _ in range(3):
        step(a, opt_a)
        step(b, opt_b)
    for k, v in a.state_dict().items():
        assert np.array_equal(v.detach().numpy(), b.state_dict()[k].detach().numpy()), k


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("obj", [{1, 2}, b"bytes", 1 + 2j, {(1, 2): 3}, {1.5: 2}, {True: 1}])
def test_objects_beyond_the_safe_format_are_pickled_and_need_weights_only_false(tmp_path,
                                                                                obj):
    import pickle
    path = tmp_path / "p.nnf"
    nf.save(obj, path)
    with pytest.raises(pickle.UnpicklingError, match="weights_only=False"):
        nf.load(path)
    assert nf.load(path, weights_only=False) == obj


@pytest.mark.parametrize("bad", [lambda: 0, [lambda: 1]])
def test_unpicklable_types_raise_typeerror(tmp_path, bad):
    path = tmp_path / "bad.nnf"
    with pytest.raises(TypeError, match="nnfast.save"):
        nf.save(bad, path)
    assert not path.exists()
    assert os.listdir(tmp_path) == []           # no temporary file either


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        nf.load(tmp_path / "nope.nnf")


def test_not_an_nnfast_file(tmp_path):
    p = tmp_path / "text.nnf"
    p.write_text("hello, not a zip")
    with pytest.raises(ValueError, match="not an nnfast file"):
        nf.load(p)
    np.savez(tmp_path / "plain.npz", a=np.ones(3))           # a zip, but not ours
    with pytest.raises(ValueError, match="not an nnfast file"):
        nf.load(tmp_path / "plain.npz")
    q = tmp_path / "other.nnf"
    with zipfile.ZipFile(q, "w") as z:
        z.writestr("__meta__.json", json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not an nnfast file"):
        nf.load(q)
    r = tmp_path / "badjson.nnf"
    with zipfile.ZipFile(r, "w") as z:
        z.writestr("__meta__.json", "{not json")
    with pytest.raises(ValueError):
        nf.load(r)


@pytest.mark.parametrize("cut", ["truncate", "flip"])
def test_corrupt_file_raises_valueerror(tmp_path, cut):
    p = tmp_path / "c.nnf"
    nf.save({"w": np.arange(5000, dtype=np.float32)}, p)
    raw = bytearray(p.read_bytes())
    if cut == "truncate":
        raw = raw[:len(raw) // 2]
    else:
        mid = len(raw) // 2
        raw[mid:mid + 64] = bytes(64)       # zero out a stretch of the compressed array
    p.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="not an nnfast file|corrupt"):
        nf.load(p)


# ----------------------------------------------------------------------------- atomicity
def test_crash_mid_save_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "ck.nnf"
    nf.save({"version": 1, "w": np.ones(10)}, path)
    before = path.read_bytes()

    calls = {"n": 0}
    real_save = np.save

    def exploding_save(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(np, "save", exploding_save)
    with pytest.raises(OSError, match="disk full"):
        nf.save({"version": 2, "w": np.zeros(10), "v": np.zeros(3)}, path)
    monkeypatch.undo()
    assert calls["n"] == 2                           # it really died mid-save
    assert path.read_bytes() == before
    assert nf.load(path)["version"] == 1
    assert os.listdir(tmp_path) == ["ck.nnf"]


def test_keyboard_interrupt_in_zip_writing_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "ck.nnf"
    nf.save([1], path)

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(zipfile.ZipFile, "writestr", interrupted)
    with pytest.raises(KeyboardInterrupt):
        nf.save([2], path)
    monkeypatch.undo()
    assert nf.load(path) == [1]
    assert os.listdir(tmp_path) == ["ck.nnf"]


def test_saved_file_respects_umask_not_mkstemp_0600(tmp_path):
    old = os.umask(0o022)
    try:
        nf.save([1], tmp_path / "perm.nnf")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / "perm.nnf").st_mode)
    assert mode == 0o644, oct(mode)


def test_overwrite_keeps_the_existing_files_mode(tmp_path):
    p = tmp_path / "m.nnf"
    nf.save([1], p)
    os.chmod(p, 0o640)
    nf.save([2], p)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o640 and nf.load(p) == [2]


# ----------------------------------------------------------------------------- no pickle
def test_file_is_pickle_free(tmp_path, monkeypatch):
    p = tmp_path / "np.nnf"
    obj = {"a": np.arange(4.0), "t": nf.tensor([1.0, 2.0]), "nested": [(1, "x")]}
    nf.save(obj, p)
    with zipfile.ZipFile(p) as z:
        names = z.namelist()
        assert "__meta__.json" in names
        meta = json.loads(z.read("__meta__.json"))
        assert meta["format"] == "nnfast-save-1"
        for n in names:
            assert n == "__meta__.json" or n.endswith(".npy")
    # every array member loads with pickle forbidden (np.load on the zip as an npz)
    with np.load(p, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["__meta__.json", "a0", "a1"]
        np.testing.assert_array_equal(npz["a0"], np.arange(4.0))
    # and nnfast.load itself never unpickles
    import pickle

    def no_pickle(*a, **k):
        raise AssertionError("pickle used")
    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    _assert_same(obj["a"], nf.load(p)["a"])


# ----------------------------------------------------------------------------- torch interop
def _pair(seed=0):
    torch.manual_seed(seed)
    t_model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    n_model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    return t_model, n_model


def test_to_torch_loads_into_a_torch_model_with_identical_outputs():
    t_model, n_model = _pair()
    sd = nio.to_torch(n_model.state_dict())
    assert isinstance(sd, OrderedDict) and all(isinstance(v, torch.Tensor) for v in sd.values())
    t_model.load_state_dict(sd)
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    out_t = t_model(torch.from_numpy(x)).detach().numpy()
    out_n = n_model(nf.tensor(x)).detach().numpy()
    np.testing.assert_allclose(out_n, out_t, rtol=1e-6, atol=1e-6)
    # the exported tensors are copies: changing them leaves the nnfast model alone
    w = n_model.state_dict()["0.weight"].detach().numpy().copy()
    sd["0.weight"].zero_()
    np.testing.assert_array_equal(n_model.state_dict()["0.weight"].detach().numpy(), w)


def test_torch_state_dict_loads_into_nnfast_directly_and_via_from_torch():
    t_model, n_model = _pair(3)
    x = torch.randn(6, 5)
    want = t_model(x).detach().numpy()
    n_model.load_state_dict(t_model.state_dict())                 # torch tensors directly
    np.testing.assert_allclose(n_model(nf.tensor(x.numpy())).detach().numpy(), want, rtol=1e-6, atol=1e-6)
    _, n2 = _pair(4)
    arrays = nio.from_torch(t_model.state_dict())
    assert all(type(v) is np.ndarray for v in arrays.values())
    n2.load_state_dict(arrays)
    np.testing.assert_allclose(n2(nf.tensor(x.numpy())).detach().numpy(), want, rtol=1e-6, atol=1e-6)


def test_torch_roundtrip_is_exact_through_a_file(tmp_path):
    t_model, n_model = _pair(5)
    nf.save(t_model.state_dict(), tmp_path / "torch.nnf")           # torch tensors saved
    n_model.load_state_dict(nf.load(tmp_path / "torch.nnf"))
    back = nio.to_torch(n_model.state_dict())
    for k, v in t_model.state_dict().items():
        assert torch.equal(back[k], v), k


def test_damage_anywhere_gives_valueerror_never_another_exception(tmp_path):
    p = tmp_path / "c.nnf"
    nf.save({"w": np.arange(2000, dtype=np.float32), "b": [np.ones((3, 3)), 1.5]}, p)
    raw = p.read_bytes()
    q = tmp_path / "d.nnf"
    failures = 0
    step = max(13, len(raw) // 250)           # some 500 damaged files, whatever the format's size
    for pos in range(0, len(raw), step):
        for damaged in (raw[:pos] + bytes(8) + raw[pos + 8:], raw[:pos]):
            q.write_bytes(damaged)
            try:
                nf.load(q)
            except ValueError:
                failures += 1
    assert failures > len(raw) // step        # most damage is detected, and only as ValueError
