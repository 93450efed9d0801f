"""mpirun worker of tests/test_distributed.py: nnfast.distributed's collectives against exact
expectations. Each check prints "PASS <name>" on every rank; a failed assertion ends the job."""
import numpy as np

import nnfast as nf
import nnfast.distributed as dist
from nnfast.distributed import ReduceOp

assert not dist.is_initialized()
dist.init_process_group("mpi")
assert dist.is_initialized() and dist.get_backend() == "mpi"
R, N = dist.get_rank(), dist.get_world_size()
ranks = np.arange(N)
print("PASS init", flush=True)


def vals(r, dtype):
    return (np.arange(6) % 3 + r + 1).astype(dtype).reshape(2, 3)


# ---- all_reduce: every op, several dtypes, Tensors and arrays, in place
EXPECT = {
    ReduceOp.SUM: lambda xs: np.sum(xs, 0),
    ReduceOp.PRODUCT: lambda xs: np.prod(xs, 0),
    ReduceOp.MIN: lambda xs: np.min(xs, 0),
    ReduceOp.MAX: lambda xs: np.max(xs, 0),
    ReduceOp.AVG: lambda xs: np.mean(xs, 0),
}
for dtype in (np.float32, np.float64, np.int32, np.int64, np.float16):
    for op, f in EXPECT.items():
        if op is ReduceOp.AVG and np.dtype(dtype).kind == "i":
            continue
        want = f(np.stack([vals(r, np.float64) for r in ranks]))
        a = vals(R, dtype)
        dist.all_reduce(a, op=op)
        assert a.dtype == dtype and np.allclose(a, want), (dtype, op, a, want)
        t = nf.tensor(vals(R, dtype))
        assert dist.all_reduce(t, op) is None
        assert np.allclose(t.numpy(), want), (dtype, op)
b = np.array([R == 0, False, True])
dist.all_reduce(b)               # torch: SUM on bool is a logical or
assert b.tolist() == [True, False, True]
b = np.array([R == 0, True])
dist.all_reduce(b, ReduceOp.MIN)
assert b.tolist() == [False, True]
x = np.array([1 << R, 3], np.int64)
dist.all_reduce(x, ReduceOp.BOR)
assert x.tolist() == [(1 << N) - 1, 3]
print("PASS all_reduce_ops", flush=True)

# a strided view (non-contiguous storage) is written back; the version counter moves
t = nf.tensor(vals(R, np.float32)).t()
v0 = t._version
dist.all_reduce(t)
assert np.array_equal(t.numpy(), np.sum([vals(r, np.float32) for r in ranks], 0).T)
assert t._version > v0
# async: a Work to wait on
t = nf.ones(4) * (R + 1)
w = dist.all_reduce(t, op=ReduceOp.SUM, async_op=True)
assert w.wait() is True and w.is_completed()
assert np.all(t.numpy() == N * (N + 1) / 2)
print("PASS all_reduce_async_strided", flush=True)

# ---- broadcast from every src, all_gather, barrier, object forms
for src in range(N):
    t = nf.full((3,), float(R))
    dist.broadcast(t, src=src)
    assert np.all(t.numpy() == src)
w = dist.broadcast(np.full(2, R, np.int64), 0, async_op=True)
w.wait()
print("PASS broadcast", flush=True)
out = [nf.zeros(2, 3) for _ in range(N)]
dist.all_gather(out, nf.tensor(vals(R, np.float32)))
for r in ranks:
    assert np.array_equal(out[r].numpy(), vals(r, np.float32))
out = [np.zeros(2, np.int64) for _ in range(N)]
dist.all_gather(out, np.array([R, -R]), async_op=True).wait()
assert [o.tolist() for o in out] == [[r, -r] for r in ranks]
objs = [None] * N
dist.all_gather_object(objs, {"rank": R, "s": "x" * R})
assert objs == [{"rank": r, "s": "x" * r} for r in ranks]
lst = [R, "mine"] if R == 0 else [None, None]
dist.broadcast_object_list(lst, src=0)
assert lst == [0, "mine"]
dist.barrier()
dist.barrier(async_op=True).wait()
print("PASS all_gather_barrier_objects", flush=True)

# ---- bad input: clear errors (raised before any MPI call, so no rank waits)
for fn, exc, words in (
        (lambda: dist.broadcast(nf.ones(2), src=N), ValueError, "src"),
        (lambda: dist.all_gather([nf.ones(2)] * (N + 1), nf.ones(2)), ValueError, "world_size"),
        (lambda: dist.all_gather([nf.ones(3) for _ in ranks], nf.ones(2)), ValueError, "[0]"),
        (lambda: dist.all_reduce(np.ones(2, np.int64), ReduceOp.AVG), TypeError, "AVG"),
        (lambda: dist.all_reduce(np.ones(2), "nope"), ValueError, "nope"),
        (lambda: dist.all_reduce([1.0, 2.0]), TypeError, "list"),
        (lambda: dist.init_process_group("mpi"), ValueError, "twice"),
):
    try:
        fn()
        raise AssertionError(f"no error ({words})")
    except exc as e:
        assert words in str(e), (words, e)
print("PASS bad_input", flush=True)

dist.destroy_process_group()
assert not dist.is_initialized()
try:
    dist.get_rank()
    raise AssertionError("get_rank after destroy")
except ValueError as e:
    assert "has not been initialized" in str(e)
print("PASS destroy", flush=True)
