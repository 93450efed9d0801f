"""nf.save / nf.load against what other tools and hostile files throw at them: symlinks,
killed saves, forged shapes, deep nesting, compression bombs, random damage."""
import io
import json
import os
import pickle
import signal
import stat
import subprocess
import sys
import time
import zipfile
import zlib

import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import io as nio

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def temps(folder):
    return sorted(n for n in os.listdir(folder) if n.startswith(".nnfast-") and n.endswith(".tmp"))


def npy(arr=None, *, shape=None, descr="<f4", fortran=False, data=b""):
    """An .npy member: arr's, or a header with any shape/descr followed by data."""
    buf = io.BytesIO()
    if arr is not None:
        np.save(buf, arr, allow_pickle=False)
        return buf.getvalue()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return buf.getvalue() + data


def forge(path, root, members=(), meta=None, compress=zipfile.ZIP_STORED):
    """An nnfast-format zip with the given root description and .npy members."""
    with zipfile.ZipFile(path, "w", compress) as z:
        text = meta if meta is not None else json.dumps({"format": "nnfast-save-1", "root": root})
        z.writestr("__meta__.json", text)
        for i, raw in enumerate(members):
            z.writestr(f"a{i}.npy", raw)


# ----------------------------------------------------------------------------- symlinks
def test_save_through_a_symlink_writes_the_target_and_keeps_its_mode(tmp_path):
    real = tmp_path / "store" / "model.nnf"
    real.parent.mkdir()
    nf.save({"v": 1}, real)
    os.chmod(real, 0o640)
    link = tmp_path / "latest.nnf"
    link.symlink_to(os.path.relpath(real, tmp_path))      # a relative link, as ln -s makes
    chain = tmp_path / "chain.nnf"
    chain.symlink_to(link)                                # and a link to the link
    nf.save({"v": 2}, link)
    assert link.is_symlink() and nf.load(real) == {"v": 2}
    nf.save({"v": 3}, chain)
    assert chain.is_symlink() and link.is_symlink() and nf.load(real) == {"v": 3}
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o640
    assert temps(tmp_path) == [] and temps(real.parent) == []
    # a dangling link gets its target created, as open(link, "wb") would
    dangling = tmp_path / "next.nnf"
    dangling.symlink_to(tmp_path / "store" / "new.nnf")
    old = os.umask(0o022)
    try:
        nf.save([1], dangling)
    finally:
        os.umask(old)
    assert dangling.is_symlink() and nf.load(tmp_path / "store" / "new.nnf") == [1]
    assert stat.S_IMODE(os.stat(tmp_path / "store" / "new.nnf").st_mode) == 0o644


# ----------------------------------------------------------------------------- temporaries
def test_failed_rename_removes_the_temporary(tmp_path, monkeypatch):
    p = tmp_path / "ck.nnf"
    nf.save([1], p)

    def no_replace(src, dst):
        raise PermissionError("read-only target (simulated)")
    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(PermissionError):
        nf.save([2], p)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ck.nnf"] and nf.load(p) == [1]


_STALLED_SAVE = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
import nnfast as nf
def stall(fd):          # the save has written its temporary and waits on the disk
    print("stalled", flush=True)
    time.sleep(120)
os.fsync = stall
nf.save({"w": np.ones(1 << 18, np.float32)}, sys.argv[2])
"""


def _killed_save(path):
    """Run a save in a subprocess, SIGKILL it while it writes, return its pid."""
    proc = subprocess.Popen([sys.executable, "-c", _STALLED_SAVE, ROOT, str(path)],
                            stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert proc.stdout.readline() == b"stalled\n"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    return proc.pid


def test_a_killed_save_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    p = tmp_path / "ck.nnf"
    nf.save([0], p)
    pid = _killed_save(p)
    left = temps(tmp_path)
    assert len(left) == 1 and str(pid) in left[0]          # the writer's pid is in its name
    assert nf.load(p) == [0]                               # the previous file is intact
    nf.save([1], tmp_path / "other.nnf")                   # any save to the folder cleans up
    assert temps(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == ["ck.nnf", "other.nnf"]


def test_stale_temporaries_go_by_age_live_ones_stay(tmp_path):
    fresh_foreign = tmp_path / ".nnfast-abc123.tmp"        # another writer, name without pid
    old_foreign = tmp_path / ".nnfast-def456.tmp"
    mine = tmp_path / f".nnfast-{nio._io_checks.HOST}-{os.getpid()}-zz.tmp"   # a live writer
    for f in (fresh_foreign, old_foreign, mine):
        f.write_bytes(b"partial")
    hour_ago = time.time() - 3600
    os.utime(old_foreign, (hour_ago, hour_ago))
    unrelated = tmp_path / ".nnfast-notes.txt"
    unrelated.write_text("keep")
    nf.save([1], tmp_path / "x.nnf")
    assert temps(tmp_path) == sorted([fresh_foreign.name, mine.name])
    assert unrelated.exists()


def test_threads_saving_into_one_folder_never_remove_each_others_temporaries(tmp_path):
    """Each save sweeps the folder for dead saves' temporaries: a live thread's must stay."""
    import threading
    errors = []

    def worker(k):
        try:
            for i in range(15):
                nf.save({"w": np.full(20_000, k, np.float32), "i": i}, tmp_path / f"t{k}.nnf")
        except BaseException as e:      # noqa: BLE001 -- reported below
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for k in range(6):
        back = nf.load(tmp_path / f"t{k}.nnf")
        assert back["i"] == 14 and (back["w"] == k).all()
    assert temps(tmp_path) == []


# ----------------------------------------------------------------------------- forged files
def test_forged_shape_is_refused_before_allocating(tmp_path):
    p = tmp_path / "forged.nnf"
    forge(p, {"__array__": 0}, [npy(shape=(1 << 40,), data=bytes(64))])   # claims 4 TiB
    with pytest.raises(ValueError, match=r"forged\.nnf.*a0\.npy.*shape \(1099511627776,\)"):
        nf.load(p)
    q = tmp_path / "short.nnf"                    # a plausible shape, but the bytes are not there
    forge(q, {"__array__": 0}, [npy(shape=(10, 10), data=bytes(100))])
    with pytest.raises(ValueError, match="400 bytes"):
        nf.load(q)


@pytest.mark.parametrize("descr", ["|O", "<V0"])
def test_object_and_empty_dtypes_are_refused(tmp_path, descr):
    p = tmp_path / "dt.nnf"
    forge(p, {"__array__": 0}, [npy(shape=(2,), descr=descr, data=bytes(16))])
    with pytest.raises(ValueError, match="dtype"):
        nf.load(p)


def test_deeply_nested_metadata_is_refused(tmp_path):
    p = tmp_path / "deep.nnf"
    depth = 100_000
    forge(p, None, meta='{"format": "nnfast-save-1", "root": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(ValueError, match=r"deep\.nnf.*nested"):
        nf.load(p)
    # what save writes at a sane depth loads; save refuses what load would refuse
    ok = [1]
    for _ in range(50):
        ok = {"k": [ok]}
    nf.save(ok, tmp_path / "ok.nnf")
    assert nf.load(tmp_path / "ok.nnf") == ok
    bad = [1]
    for _ in range(5000):
        bad = [bad]
    with pytest.raises(ValueError, match="nested"):
        nf.save(bad, tmp_path / "bad.nnf")
    assert not (tmp_path / "bad.nnf").exists() and temps(tmp_path) == []


@pytest.mark.parametrize("root", [
    {"__tensor__": 5}, {"__tensor__": -1}, {"__tensor__": True}, {"__array__": "0"},
    {"__dict__": [["k"]]}, {"__dict__": [[{"__int__": "x"}, 1]]}, {"__dict__": 3},
    {"__tuple__": 7}, {"__float__": [1]}, {"__odict__": [[[1], 2]]}, {"mystery": 1}])
def test_malformed_metadata_is_a_valueerror(tmp_path, root):
    p = tmp_path / "meta.nnf"
    forge(p, root, [npy(np.ones(2, np.float32))])
    with pytest.raises(ValueError, match=r"meta\.nnf"):
        nf.load(p)


def _deflated_zeros(nbytes, header):
    """A raw deflate stream of header + nbytes zeros, made without holding them in memory."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    out = [c.compress(header)]
    for _ in range(nbytes >> 20):
        out.append(c.compress(chunk))
    out.append(c.flush())
    return b"".join(out)


def _bomb_zip(path, member, header, nbytes, extra=()):
    """A zip whose `member` inflates to header + nbytes zeros (written as ZipFile would)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, raw in extra:
            z.writestr(name, raw)
        info = zipfile.ZipInfo(member)
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w") as w:
            w.write(header)
            zero = bytes(1 << 20)
            for _ in range(nbytes >> 20):
                w.write(zero)


def test_compression_bomb_is_refused(tmp_path, monkeypatch):
    if hasattr(nio, "_io_checks"):
        monkeypatch.setattr(nio._io_checks, "INFLATE_FLOOR", 1 << 20)
    p = tmp_path / "bomb.nnf"
    n = 32 << 20                                   # 32 MiB of zeros from a ~32 KiB file
    _bomb_zip(p, "a0.npy", npy(shape=(n // 4,))[:128], n,
              extra=[("__meta__.json", json.dumps({"format": "nnfast-save-1",
                                                   "root": {"__array__": 0}}))])
    assert os.path.getsize(p) < 100_000
    with pytest.raises(ValueError, match=r"bomb\.nnf.*a0\.npy.*inflates"):
        nf.load(p)
    # a deflated file within the limit (as nnfast wrote before it stored arrays) still loads
    q = tmp_path / "old.nnf"
    a = np.arange(1000, dtype=np.float32)
    forge(q, {"__array__": 0}, [npy(a)], compress=zipfile.ZIP_DEFLATED)
    np.testing.assert_array_equal(nf.load(q), a)


def test_bytesio_and_file_objects_are_named_in_errors(tmp_path):
    with pytest.raises(ValueError, match="<file object>"):
        nf.load(io.BytesIO(b"PK\x03\x04 not really a zip"))
    p = tmp_path / "named.nnf"
    forge(p, {"__array__": 0}, [npy(shape=(1 << 40,))])
    with open(p, "rb") as f:
        with pytest.raises(ValueError, match=r"named\.nnf"):
            nf.load(f)
    with pytest.raises(ValueError, match="<file object>"):
        nf.load(io.BytesIO(p.read_bytes()))


# ----------------------------------------------------------------------------- torch files
def _torch_zip(path, pkl, storages, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compress) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        for k, raw in storages.items():
            z.writestr(f"archive/data/{k}", raw)


class _Store:
    def __init__(self, numel):
        self.numel = numel


class _Rebuild:
    def __init__(self, store, offset, size, stride):
        self.args = (store, offset, size, stride, False, {})

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


def _pickle(obj):
    class P(pickle.Pickler):
        def persistent_id(self, o):
            return ("storage", torch.FloatStorage, "0", "cpu", o.numel) \
                if isinstance(o, _Store) else None
    buf = io.BytesIO()
    P(buf, protocol=2).dump(obj)
    return buf.getvalue()


def test_torch_expanded_tensor_beyond_the_file_is_refused(tmp_path):
    """Stride 0 makes a 1-element storage look like 10^12 elements: copying it would
    allocate 4 TB."""
    p = tmp_path / "expand.pt"
    _torch_zip(p, _pickle({"x": _Rebuild(_Store(1), 0, (10 ** 6, 10 ** 6), (0, 0))}),
               {"0": bytes(4)})
    with pytest.raises(ValueError, match=r"expand\.pt.*10000000000\d\d elements"):
        nf.load(p)
    q = tmp_path / "small_expand.pt"                 # a modest expansion still loads
    _torch_zip(q, _pickle({"x": _Rebuild(_Store(1), 0, (3, 4), (0, 0))}),
               {"0": np.float32(2).tobytes()})
    np.testing.assert_array_equal(nf.load(q)["x"].numpy(), np.full((3, 4), 2, np.float32))


def test_torch_storage_bomb_is_refused(tmp_path, monkeypatch):
    if hasattr(nio, "_io_checks"):
        monkeypatch.setattr(nio._io_checks, "INFLATE_FLOOR", 1 << 20)
    p = tmp_path / "bomb.pt"
    n = 32 << 20
    _bomb_zip(p, "archive/data/0", b"", n,
              extra=[("archive/data.pkl", _pickle({"x": _Rebuild(_Store(n // 4), 0, (n // 4,),
                                                                 (1,))})),
                     ("archive/byteorder", "little")])
    with pytest.raises(ValueError, match=r"bomb\.pt.*archive/data/0.*inflates"):
        nf.load(p)


def test_torch_deep_nesting_is_refused(tmp_path):
    p = tmp_path / "deep.pt"
    # protocol-2 pickle of [[[...]]] 100000 deep, written opcode by opcode (pickle.dumps
    # itself would recurse too deep)
    depth = 100_000
    pkl = b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."
    _torch_zip(p, pkl, {})
    with pytest.raises(ValueError, match=r"deep\.pt.*nested"):
        nf.load(p)


def test_torch_corrupt_files_are_valueerrors_and_still_unpicklingerrors(tmp_path):
    p = tmp_path / "short.pt"
    _torch_zip(p, _pickle({"x": _Rebuild(_Store(1000), 0, (1000,), (1,))}), {"0": bytes(16)})
    with pytest.raises(ValueError, match=r"short\.pt.*should hold 1000 elements") as e:
        nf.load(p)
    assert isinstance(e.value, pickle.UnpicklingError)        # what torch's loader raises


# ----------------------------------------------------------------------------- fuzzing
_FUZZ = """
import os, sys, random, resource, pickle
sys.path.insert(0, sys.argv[1])
import numpy as np
import nnfast as nf
# no load may allocate much: the address space is capped 512 MiB above what imports took
with open("/proc/self/statm") as f:
    vm = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
resource.setrlimit(resource.RLIMIT_AS, (vm + (512 << 20), resource.RLIM_INFINITY))
raw = open(sys.argv[2], "rb").read()
want = nf.load(sys.argv[2])
def same(a, b):
    if isinstance(a, nf.Tensor):
        return isinstance(b, nf.Tensor) and same(a.numpy(), b.numpy())
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return type(a) is type(b) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return a == b
rng = random.Random(int(sys.argv[3]))
cases = [raw[:rng.randrange(len(raw))] for _ in range(150)]
for _ in range(250):
    b = bytearray(raw)
    for _ in range(rng.choice((1, 1, 2, 8))):
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    cases.append(bytes(b))
counts = {"same": 0, "refused": 0}
for i, case in enumerate(cases):
    try:
        got = nf.load(__import__("io").BytesIO(case))
    except ValueError as e:
        counts["refused"] += 1
        continue
    except pickle.UnpicklingError as e:     # only a torch file's unknown global may be this
        assert "unsupported global" in str(e), (i, repr(e))
        counts["refused"] += 1
        continue
    except BaseException as e:
        print("case", i, "raised", type(e).__name__, str(e)[:300])
        sys.exit(1)
    if not same(want, got):
        print("case", i, "loaded something else"); sys.exit(1)
    counts["same"] += 1
print(counts)
"""


@pytest.mark.parametrize("kind", ["nnfast", "torch"])
def test_truncated_and_bit_flipped_files_load_the_original_or_raise_valueerror(tmp_path, kind):
    p = tmp_path / "fuzz.bin"
    obj = {"w": np.arange(300, dtype=np.float32).reshape(20, 15), "b": np.arange(7),
           "nested": [1, (2.5, "x", None)], "t": nf.tensor([1.0, -2.0])}
    if kind == "nnfast":
        nf.save(obj, p)
    else:
        torch.save({"w": torch.arange(300.0).reshape(20, 15), "b": torch.arange(7),
                    "nested": [1, (2.5, "x", None)], "t": torch.tensor([1.0, -2.0])}, p)
    out = subprocess.run([sys.executable, "-c", _FUZZ, ROOT, str(p), "7"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    counts = eval(out.stdout.strip().splitlines()[-1])
    assert counts["refused"] > 150 and counts["same"] + counts["refused"] == 400
