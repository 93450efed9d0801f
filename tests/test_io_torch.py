"""nf.save / nf.load as PyTorch's: file objects, pickled models behind weights_only, and files
written by torch.save read without torch (restricted unpickler, hostile-file checks)."""
import collections
import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

import nnfast as nf
from helpers import assert_close, copy_weights

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def torch_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                               torch.nn.ReLU(), torch.nn.Linear(4, 2))


def nf_model():
    return nf.nn.Sequential(nf.nn.Linear(3, 4), nf.nn.BatchNorm1d(4), nf.nn.ReLU(),
                            nf.nn.Linear(4, 2))


def odd_tensors():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    return {
        "w": base,
        "t": base.t(),                                    # non-contiguous
        "view": base[1:3, ::2],                           # offset + strides into a storage
        "step": torch.arange(10.0)[2:9:3],
        "i64": torch.arange(5), "i32": torch.arange(3, dtype=torch.int32),
        "u8": torch.tensor([1, 255], dtype=torch.uint8), "bool": torch.tensor([True, False]),
        "f16": torch.tensor([1.5, -2.25], dtype=torch.float16),
        "f64": torch.tensor([[1e-300]], dtype=torch.float64),
        "bf16": torch.tensor([1.0, -3.5, 0.15625], dtype=torch.bfloat16),
        "scalar": torch.tensor(3.5), "empty": torch.zeros(0, 3),
        "param": torch.nn.Parameter(torch.ones(2)),
        "frozen": torch.nn.Parameter(torch.ones(2), requires_grad=False),
        "nested": [torch.ones(1), (1, 2.5, "x", None, True), {"k": torch.zeros(2)}],
        "size": torch.Size([2, 3]), "dtype": torch.float64, "bytes": b"\x00\xffab",
    }


def expect(v):
    if isinstance(v, torch.Tensor):
        return v.detach().float().numpy() if v.dtype == torch.bfloat16 else v.detach().numpy()
    return v


def test_torch_state_dict_loads_and_runs_in_nnfast(tmp_path):
    t = torch_model()
    t(torch.randn(8, 3)).sum().backward()   # running stats move
    t.eval()
    p = tmp_path / "m.pt"
    torch.save(t.state_dict(), p)
    sd = nf.load(p)
    assert isinstance(sd, collections.OrderedDict) and list(sd) == list(t.state_dict())
    assert all(isinstance(v, nf.Tensor) for v in sd.values())
    n = nf_model()
    n.load_state_dict(sd)
    n.eval()
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    assert_close(n(nf.tensor(x)), t(torch.from_numpy(x)))


def test_torch_odd_tensors_and_containers(tmp_path):
    src = odd_tensors()
    buf = io.BytesIO()
    torch.save(src, buf)
    got = nf.load(io.BytesIO(buf.getvalue()))
    assert list(got) == list(src)
    for k, v in src.items():
        if isinstance(v, torch.Tensor):
            e = expect(v)
            a = got[k].detach().numpy()
            assert a.dtype == e.dtype and a.shape == e.shape, k
            np.testing.assert_array_equal(a, e, err_msg=k)
    assert isinstance(got["param"], nf.nn.Parameter) and got["param"].requires_grad
    assert isinstance(got["frozen"], nf.nn.Parameter) and not got["frozen"].requires_grad
    assert got["nested"][1] == (1, 2.5, "x", None, True)
    np.testing.assert_array_equal(got["nested"][2]["k"].numpy(), np.zeros(2, np.float32))
    assert got["size"] == (2, 3) and got["dtype"] == nf.float64 and got["bytes"] == b"\x00\xffab"


def test_torch_optimizer_state_dict(tmp_path):
    t = torch_model()
    opt = torch.optim.Adam(t.parameters(), lr=0.01)
    t(torch.randn(4, 3)).sum().backward()
    opt.step()
    p = tmp_path / "opt.pt"
    torch.save({"model": t.state_dict(), "optim": opt.state_dict(), "epoch": 3}, p)
    ck = nf.load(str(p))
    assert ck["epoch"] == 3
    ref = opt.state_dict()
    assert ck["optim"]["param_groups"][0]["lr"] == 0.01
    assert ck["optim"]["param_groups"][0]["betas"] == ref["param_groups"][0]["betas"]
    for i, st in ref["state"].items():
        for k, v in st.items():
            np.testing.assert_array_equal(ck["optim"]["state"][i][k].numpy(), v.numpy())


def test_load_without_torch_in_a_subprocess(tmp_path):
    """The whole reader runs with `import torch` made impossible."""
    t = torch_model()
    torch.save(t.state_dict(), tmp_path / "m.pt")
    torch.save(odd_tensors(), tmp_path / "odd.pt")
    np.savez(tmp_path / "ref.npz", **{k: v.numpy() for k, v in t.state_dict().items()})
    code = f"""
import sys
sys.modules['torch'] = None
import numpy as np
import nnfast as nf
sd = nf.load({str(tmp_path / 'm.pt')!r})
ref = np.load({str(tmp_path / 'ref.npz')!r})
assert list(sd) == list(ref.files), (list(sd), ref.files)
for k in ref.files:
    np.testing.assert_array_equal(sd[k].numpy(), ref[k])
odd = nf.load({str(tmp_path / 'odd.pt')!r})
assert odd['t'].shape == (6, 4) and isinstance(odd['param'], nf.nn.Parameter)
try:
    import torch
except ImportError:
    print('TORCH-BLOCKED-OK')
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={**os.environ, "PYTHONPATH": ROOT})
    assert r.returncode == 0, r.stderr
    assert "TORCH-BLOCKED-OK" in r.stdout


def test_torch_pickled_module_is_refused_with_its_name(tmp_path):
    p = tmp_path / "whole.pt"
    torch.save(torch.nn.Linear(2, 2), p)
    for wo in (None, True, False):
        with pytest.raises(pickle.UnpicklingError, match="torch.nn.modules.linear.Linear"):
            nf.load(p, weights_only=wo)


# ----------------------------------------------------------------------------- hostile files

class _Marker:
    pass


def craft(path, obj, storages):
    """A torch-style zip whose data.pkl pickles obj, a _Marker standing for storage '0'."""
    class P(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, _Marker):
                return ("storage", torch.FloatStorage, "0", "cpu", o.numel)
            return None
    buf = io.BytesIO()
    P(buf, protocol=2).dump(obj)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", buf.getvalue())
        z.writestr("archive/byteorder", "little")
        for k, raw in storages.items():
            z.writestr(f"archive/data/{k}", raw)


class Rebuild:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


def marker(numel):
    m = _Marker()
    m.numel = numel
    return m


def test_crafted_valid_file_loads(tmp_path):
    p = tmp_path / "ok.pt"
    craft(p, {"x": Rebuild(marker(4), 1, (3,), (1,))},
          {"0": np.arange(4, dtype=np.float32).tobytes()})
    np.testing.assert_array_equal(nf.load(p)["x"].numpy(), [1, 2, 3])


@pytest.mark.parametrize("offset,size,stride,match", [
    (0, (5,), (1,), "corrupt"), (3, (2,), (1,), "corrupt"), (0, (2, 2), (3, 1), "corrupt"),
    (-1, (2,), (1,), "negative"), (0, (-2,), (1,), "negative"), (0, (2,), (-1,), "negative"),
    (0, (2,), (1, 1), "geometry"), (0.5, (2,), (1,), "geometry")])
def test_out_of_bounds_tensors_are_refused(tmp_path, offset, size, stride, match):
    p = tmp_path / "bad.pt"
    craft(p, {"x": Rebuild(marker(4), offset, size, stride)},
          {"0": np.arange(4, dtype=np.float32).tobytes()})
    with pytest.raises(pickle.UnpicklingError, match=match):
        nf.load(p)


def test_storage_length_must_match_its_bytes(tmp_path):
    p = tmp_path / "short.pt"
    craft(p, {"x": Rebuild(marker(1000), 0, (1000,), (1,))},
          {"0": np.arange(4, dtype=np.float32).tobytes()})
    with pytest.raises(pickle.UnpicklingError, match="should hold 1000 elements"):
        nf.load(p)
    q = tmp_path / "missing.pt"
    craft(q, {"x": Rebuild(marker(4), 0, (4,), (1,))}, {})
    with pytest.raises(pickle.UnpicklingError, match="lacks storage"):
        nf.load(q)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_code_in_a_torch_file_never_runs(tmp_path, capfd):
    p = tmp_path / "evil.pt"
    craft(p, {"x": Evil()}, {})
    with pytest.raises(pickle.UnpicklingError, match="unsupported global"):
        nf.load(p, weights_only=False)
    assert "pwned" not in capfd.readouterr().out


def test_build_on_a_tensor_is_refused(tmp_path):
    class SetState:
        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2,
                    (marker(4), 0, (4,), (1,), False, collections.OrderedDict()),
                    {"_storage": 1})
    p = tmp_path / "state.pt"
    craft(p, SetState(), {"0": np.zeros(4, np.float32).tobytes()})
    with pytest.raises(pickle.UnpicklingError, match="object state"):
        nf.load(p)


# ----------------------------------------------------------------------------- nnfast files

def test_file_objects_and_bytesio_round_trip(tmp_path):
    n = nf_model()
    buf = io.BytesIO()
    nf.save(n.state_dict(), buf)
    buf.seek(0)
    sd = nf.load(buf)
    assert list(sd) == list(n.state_dict())
    p = tmp_path / "f.nnf"
    with open(p, "wb") as f:
        nf.save({"sd": n.state_dict(), "step": 7}, f)
    with open(p, "rb") as f:
        ck = nf.load(f, map_location="cpu")
    assert ck["step"] == 7
    nf.load(p, map_location=nf.device("cpu"))
    nf.load(p, map_location={"cuda:0": "cpu"})
    nf.load(p, map_location=lambda storage, loc: storage)
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        nf.load(p, map_location="cuda")


def test_whole_model_needs_weights_only_false(tmp_path):
    n = nf_model()
    n.eval()
    p = tmp_path / "whole.nnf"
    nf.save(n, p)
    with pytest.raises(pickle.UnpicklingError, match="weights_only=False"):
        nf.load(p)
    with pytest.raises(pickle.UnpicklingError, match="weights_only=False"):
        nf.load(p, weights_only=True)
    m = nf.load(p, weights_only=False)
    assert type(m) is nf.nn.Sequential and isinstance(m[0].weight, nf.nn.Parameter)
    x = nf.randn(3, 3)
    np.testing.assert_array_equal(m(x).detach().numpy(), n(x).detach().numpy())
    buf = io.BytesIO()
    nf.save({"model": n, "epoch": 1}, buf)
    assert nf.load(io.BytesIO(buf.getvalue()), weights_only=False)["epoch"] == 1


def test_nnfast_weights_load_into_torch_after_round_trip(tmp_path):
    t = torch_model()
    n = nf_model()
    copy_weights(t, n)
    p = tmp_path / "w.nnf"
    nf.save(n.state_dict(), p)
    t2 = torch_model()
    t2.load_state_dict(nf.io.to_torch(nf.load(p)))
    for k, v in t.state_dict().items():
        assert torch.equal(v, t2.state_dict()[k]), k


def test_legacy_torch_format_gets_a_clear_error(tmp_path):
    p = tmp_path / "old.pt"
    torch.save({"a": torch.ones(2)}, p, _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="legacy format"):
        nf.load(p)
    with open(p, "rb") as f:
        with pytest.raises(ValueError, match="legacy format"):
            nf.load(f)


def test_fuzzed_pickles_fail_only_with_clear_errors():
    """Random byte edits of data.pkl: every load either succeeds or raises UnpicklingError /
    ValueError (nothing else escapes, nothing crashes)."""
    import random
    buf = io.BytesIO()
    torch.save({"w": torch.arange(12.0).reshape(3, 4).t(), "b": torch.arange(3),
                "l": [1, (2.5, "x")], "od": collections.OrderedDict(a=torch.ones(2))}, buf)
    z = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    members = {n: z.read(n) for n in z.namelist()}
    pkl = next(n for n in members if n.endswith("data.pkl"))
    rng = random.Random(0)
    refused = 0
    for _ in range(300):
        data = bytearray(members[pkl])
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(data))
            op = rng.random()
            if op < 0.6:
                data[i] = rng.randrange(256)
            elif op < 0.8:
                del data[i]
            else:
                data.insert(i, rng.randrange(256))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zz:
            for n, raw in members.items():
                zz.writestr(n, bytes(data) if n == pkl else raw)
        out.seek(0)
        try:
            nf.load(out)
        except (pickle.UnpicklingError, ValueError):
            refused += 1
    assert refused > 250   # the edits did break most files
