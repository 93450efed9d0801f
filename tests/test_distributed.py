"""nnfast.distributed and DistributedDataParallel: in this process (errors before any MPI
call) and under `mpirun -np 2` on loopback (tests/distributed/*_worker.py, many checks per
launch: each launch costs a couple of seconds). CI installs the mpi extra, so these run
there; without mpi4py the mpirun tests skip at the import guard only."""
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import nnfast as nf
import nnfast.distributed as dist
from nnfast import nn
from nnfast.nn.parallel import DistributedDataParallel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKERS = os.path.join(HERE, "distributed")
_NOT_INIT = "Default process group has not been initialized"


# ------------------------------------------------------------------ in this process
def test_nnfast_imports_without_mpi4py(monkeypatch):
    code = ("import sys; import nnfast, nnfast.distributed, nnfast.nn.parallel; "
            "print('mpi4py' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env=_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"   # importing nnfast never loads MPI
    assert nf.distributed is dist
    monkeypatch.setitem(sys.modules, "mpi4py", None)   # as if it were not installed
    with pytest.raises(ImportError, match=r'pip install "nnfast\[mpi\]"'):
        dist.init_process_group("mpi")
    assert not dist.is_initialized()


def test_errors_before_init():
    assert not dist.is_initialized()
    for fn in (dist.get_rank, dist.get_world_size, dist.barrier, dist.get_backend,
               lambda: dist.all_reduce(nf.ones(2)), lambda: dist.broadcast(nf.ones(2), 0),
               lambda: dist.all_gather([nf.ones(2)], nf.ones(2)),
               lambda: DistributedDataParallel(nn.Linear(2, 2))):
        with pytest.raises(ValueError, match=_NOT_INIT):
            fn()
    with pytest.raises(AssertionError, match=_NOT_INIT):   # torch's type for this one
        dist.destroy_process_group()
    for backend in ("gloo", "nccl", "GLOO"):
        with pytest.raises(ValueError, match="'mpi' backend only"):
            dist.init_process_group(backend)
    with pytest.raises(ValueError, match="init_method"):
        dist.init_process_group("mpi", init_method="tcp://10.0.0.1:23456")
    with pytest.raises(ValueError, match="positive"):
        dist.init_process_group("mpi", timeout=0)
    with pytest.raises(TypeError, match="timedelta"):
        dist.init_process_group("mpi", timeout="soon")
    with pytest.raises(NotImplementedError, match="one process group"):
        dist.new_group([0])
    with pytest.raises(AttributeError, match="torch.distributed.reduce_scatter yet"):
        dist.reduce_scatter
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dist.nope
    assert not dist.is_initialized()
    assert list(dist.ReduceOp.__members__)[:5] == ["SUM", "AVG", "PRODUCT", "MIN", "MAX"]
    assert dist.is_available() == (_find("mpi4py"))


# ------------------------------------------------------------------ under mpirun
def _find(mod):
    import importlib.util
    return importlib.util.find_spec(mod) is not None


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    # mpirun refuses root without these (CI containers run as root)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", PRTE_MCA_prte_silence_shared_fs="1")
    env.update(extra)
    return env


def _mpirun(worker, *args, timeout=90, **env):
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install nnfast[mpi])")
    mpirun = shutil.which("mpirun") or os.path.join(os.path.dirname(sys.executable), "mpirun")
    assert os.path.exists(mpirun), "mpi4py is installed but mpirun is not on PATH"
    cmd = [mpirun, "-np", "2", "--oversubscribe", sys.executable, os.path.join(WORKERS, worker), *args]
    t0 = time.monotonic()
    try:
        out = subprocess.run(cmd, capture_output=True, cwd=ROOT, env=_env(**env),
                             timeout=timeout)
    except subprocess.TimeoutExpired as e:   # a hang is a failure, never a stuck suite
        raise AssertionError(f"{worker} {args} hung past {timeout} s: "
                             f"{(e.stdout or b'').decode(errors='replace')[-2000:]}") from None
    text = (out.stdout + out.stderr).decode(errors="replace")
    return out.returncode, text, time.monotonic() - t0


def _passes(text, names):
    for name in names:
        n = sum(1 for line in text.splitlines() if line.strip() == f"PASS {name}")
        assert n == 2, f"PASS {name} printed by {n} of 2 ranks:\n{text[-4000:]}"


def test_collectives_mpirun():
    rc, text, _ = _mpirun("collectives_worker.py")
    assert rc == 0, text[-4000:]
    _passes(text, ["init", "all_reduce_ops", "all_reduce_async_strided", "broadcast",
                   "all_gather_barrier_objects", "bad_input", "destroy"])


def test_ddp_matches_one_process_mpirun():
    # SGD+StepLR, Adam, AdamW+clip_grad_norm_, RMSprop, no_sync accumulation, pieces
    # started during backward (tied weights, a penalty built before the forward), packed
    # buckets, compile_step (SGD, Adam), unused parameters, a mismatched model, buffers:
    # two ranks with batch b each against one process with batch 2b
    rc, text, _ = _mpirun("ddp_worker.py")
    assert rc == 0, text[-4000:]
    _passes(text, ["wrap_broadcast", "sgd_steplr", "adam", "adamw_clip",
                   "no_sync_accumulate", "rmsprop", "adagrad", "lbfgs_closure", "early_pieces", "early_pieces_tied",
                   "early_pieces_penalty", "backward_raised_then_recovers", "packed_buckets", "compile_sgd",
                   "compile_adam", "unused_parameters", "mismatch_named", "buffers", "done"])


@pytest.mark.parametrize("mode, words", [
    ("raise", ["ValueError: rank 1 fails mid-training",
               "rank 1 ended with an uncaught ValueError; aborting the job"]),
    ("kill", ["exited on", "signal 9"]),
    ("hang", ["PASS caught nnfast.distributed: all_reduce timed out on rank 0 of 2 after 2 s",
              "rank 0 exits after a collective timed out"]),
    ("exit", ["DistTimeoutError: nnfast.distributed: all_reduce timed out on rank 0 of 2",
              "rank 0 ended with an uncaught DistTimeoutError; aborting the job"]),
])
def test_failed_rank_ends_the_job_mpirun(mode, words):
    # the surviving rank waits in a collective with a 60 s budget (2 s in the timeout
    # cases); the job must end well before rank 0's sleep(60) after it
    rc, text, took = _mpirun("faults_worker.py", mode, timeout=40, NNFAST_DIST_TIMEOUT="2"
                             if mode in ("hang", "exit") else "60")
    assert rc != 0, text[-3000:]
    assert "NOT KILLED" not in text
    assert took < 30, (took, text[-3000:])
    for w in words:
        assert w in text, (w, text[-3000:])


def test_ddp_single_rank_is_plain_training():
    # a world of one (no mpirun: MPI's singleton start) runs the same loop unchanged
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install nnfast[mpi])")
    code = (
        "import numpy as np, nnfast as nf, nnfast.distributed as d\n"
        "d.init_process_group('mpi', world_size=1, rank=0)\n"
        "nf.manual_seed(0); m = nf.nn.Linear(3, 2)\n"
        "w = m.weight.detach().numpy().copy()\n"
        "ddp = nf.nn.parallel.DistributedDataParallel(m)\n"
        "assert np.array_equal(m.weight.detach().numpy(), w)\n"
        "ddp(nf.ones(4, 3)).sum().backward()\n"
        "assert np.allclose(m.weight.grad.numpy(), 4.0) and ddp.reducer.calls == 1\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT,
                         env=_env(), timeout=60)
    assert out.returncode == 0 and out.stdout.strip().endswith(b"ok"), out.stderr[-3000:]


def test_optimizer_flat_gradient_buffer_is_one_base_array():
    # the optimizer's flat gradient buffer is what the reducer reduces in place: its
    # per-parameter views are slices of one base array
    nf.manual_seed(0)
    m = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    nf.optim.SGD(m.parameters(), lr=0.1)
    bases = {id(p._grad_buf._storage.base) for p in m.parameters()}
    assert len(bases) == 1
    base = m[0].weight._grad_buf._storage.base
    assert base.ndim == 1 and base.size == sum(p.numel() for p in m.parameters())
    assert isinstance(base, np.ndarray)


def test_fit_distributed_mpirun(tmp_path):
    # fit(distributed=True): two ranks with batch b == one process with batch 2b, the same
    # logs on both ranks, rank 0 alone writes (checkpoints, ModelCheckpoint, CSVLogger),
    # resume from rank 0's checkpoint, a Dataset shared alike, a NaN on one rank stops both,
    # DistributedSampler from the process group (coverage, padding, ordering, set_epoch)
    rc, text, _ = _mpirun("fit_worker.py", str(tmp_path))
    assert rc == 0, text[-4000:]
    _passes(text, ["matches_one_process", "same_everywhere", "rank0_writes", "resume",
                   "dataset_and_nan_vote", "sampler", "done"])


def _mpirun_cli(*args, timeout=120):
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install nnfast[mpi])")
    mpirun = shutil.which("mpirun") or os.path.join(os.path.dirname(sys.executable), "mpirun")
    cmd = [mpirun, "-np", "2", "--oversubscribe", sys.executable, "-m", "nnfast", *args]
    try:
        out = subprocess.run(cmd, capture_output=True, cwd=ROOT, env=_env(), timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"nnfast {args} hung past {timeout} s") from e
    return out.returncode, out.stdout.decode(errors="replace"), out.stderr.decode(errors="replace")


def test_nnfast_train_under_mpirun_rank0_writes_and_resumes(tmp_path):
    import json
    out = tmp_path / "run"
    rc, stdout, err = _mpirun_cli("train", "--epochs", "3", "--out", str(out), "--json")
    assert rc == 0, err[-3000:]
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, stdout   # rank 0 alone prints the summary
    summary = json.loads(lines[0])
    assert summary["epochs_run"] == 3 and summary["test_accuracy"] > 0.8
    assert {p.name for p in out.iterdir()} >= {"model.nnf", "checkpoint.nnf", "history.csv",
                                               "summary.json"}
    rows = (out / "history.csv").read_text().splitlines()
    assert len(rows) == 4   # one writer: a header and three epochs, not twice as many
    rc, stdout, err = _mpirun_cli("train", "--epochs", "5", "--out", str(out), "--json",
                                  "--resume")
    assert rc == 0, err[-3000:]
    summary = json.loads([ln for ln in stdout.splitlines() if ln.startswith("{")][0])
    assert summary["epochs_run"] == 5   # epochs 4 and 5 on top of the checkpoint's 3
    assert len((out / "history.csv").read_text().splitlines()) == 6
