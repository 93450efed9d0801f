"""torch.distributed's collectives over MPI: all_reduce, broadcast, all_gather, barrier, and
the object forms, in place on nnfast Tensors and NumPy arrays (CPU).

Each is one nonblocking MPI call; async_op=True returns the Work to wait() on, otherwise
it waits here under the group's timeout (_group.wait). Dtypes MPI lacks (float16,
bfloat16) travel as float32 and are cast back; a non-contiguous tensor travels as a
contiguous copy written back on completion. Not here: groups other than the world,
reduce/gather/scatter/send/recv, CUDA tensors.
"""
import enum
import pickle

import numpy as np

from . import _group

__all__ = ["ReduceOp", "Work", "all_reduce", "broadcast", "all_gather", "barrier",
           "all_gather_object", "broadcast_object_list"]


class ReduceOp(enum.Enum):
    """torch.distributed.ReduceOp (AVG is SUM then a division by the world size)."""
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"

    def __repr__(self):
        return f"<ReduceOp.{self.name}>"


ReduceOp.RedOpType = ReduceOp   # torch spells the enum ReduceOp.RedOpType too

_MPI_OP = {ReduceOp.SUM: "SUM", ReduceOp.AVG: "SUM", ReduceOp.PRODUCT: "PROD",
           ReduceOp.MIN: "MIN", ReduceOp.MAX: "MAX", ReduceOp.BAND: "BAND",
           ReduceOp.BOR: "BOR", ReduceOp.BXOR: "BXOR"}
# bool tensors: torch's SUM is a logical or, PRODUCT and MIN an and
_BOOL_OP = {ReduceOp.SUM: "LOR", ReduceOp.MAX: "LOR", ReduceOp.BOR: "LOR",
            ReduceOp.PRODUCT: "LAND", ReduceOp.MIN: "LAND", ReduceOp.BAND: "LAND",
            ReduceOp.BXOR: "LXOR"}
# dtypes MPI reduces natively (mpi4py reads them from the array's buffer format)
_NATIVE = frozenset(np.dtype(c) for c in ("f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2",
                                          "u4", "u8", "?", "c8", "c16"))


def _array(t, what):
    """(the ndarray behind t, the Tensor or None)."""
    from ..tensor import Tensor
    if isinstance(t, Tensor):
        a = t._storage
        if not isinstance(a, np.ndarray):
            raise NotImplementedError(f"nnfast.distributed.{what}: the tensor is on "
                                      f"{t.device}; collectives take CPU tensors (move it "
                                      "with .cpu() and back)")
        return a, t
    if isinstance(t, np.ndarray):
        return t, None
    raise TypeError(f"nnfast.distributed.{what} expects an nnfast Tensor or a NumPy array, got "
                    f"{type(t).__name__}")


def _staged(a, what):
    """(a contiguous array MPI can take for a, whether it must be copied back into a)."""
    if not a.flags.writeable:
        raise ValueError(f"nnfast.distributed.{what}: the tensor is read-only; collectives "
                         "write their result in place")
    if a.dtype in _NATIVE:
        if a.flags.c_contiguous:
            return a, False
        return np.ascontiguousarray(a), True
    if a.dtype.kind == "f" or a.dtype.name == "bfloat16":
        return np.ascontiguousarray(a, dtype=np.float32), True
    raise TypeError(f"nnfast.distributed.{what}: dtype {a.dtype} is not supported")


def _send_buffer(a, what):
    """A contiguous array MPI can send for a (a itself when it is one)."""
    if a.dtype in _NATIVE:
        return np.ascontiguousarray(a)
    if a.dtype.kind == "f" or a.dtype.name == "bfloat16":
        return np.ascontiguousarray(a, dtype=np.float32)
    raise TypeError(f"nnfast.distributed.{what}: dtype {a.dtype} is not supported")


def _bump(t):
    if t is not None:
        t._bump()   # an in-place change, as autograd's version counter sees it


class Work:
    """A started collective: wait() (under the group's timeout) or poll is_completed()."""

    def __init__(self, pg, reqs, what, finish=None, result=None):
        self._pg, self._reqs, self._what = pg, reqs, what
        self._finish, self._result, self._done = finish, result, False

    def _complete(self):
        self._done = True
        if self._finish is not None:
            f, self._finish = self._finish, None
            f()

    def is_completed(self):
        if not self._done and self._pg.MPI.Request.Testall(self._reqs):
            self._complete()
        return self._done

    def is_success(self):
        return self.is_completed()

    def wait(self, timeout=None):
        if not self._done:
            t = None if timeout is None else _group.resolve_timeout(timeout)
            _group.wait(self._pg, self._reqs, self._what, t)
            self._complete()
        return True

    def result(self):
        self.wait()
        return self._result

    def __repr__(self):
        return f"<Work {self._what} {'done' if self._done else 'pending'}>"


def _run(pg, reqs, what, finish, async_op, result=None):
    w = Work(pg, reqs, what, finish, result)
    if async_op:
        return w
    w.wait()
    return None


def _reduce_op(op):
    if isinstance(op, str):
        try:
            op = ReduceOp[op.upper()]
        except KeyError:
            raise ValueError(f"unknown reduce op {op!r}") from None
    if not isinstance(op, ReduceOp):
        raise TypeError(f"op must be a nnfast.distributed.ReduceOp, got {type(op).__name__}")
    return op


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce tensor over every rank, in place (each rank ends with the result)."""
    pg = _group.require(group)
    op = _reduce_op(op)
    a, t = _array(tensor, "all_reduce")
    buf, copy_back = _staged(a, "all_reduce")
    MPI = pg.MPI
    if buf.dtype == np.bool_:
        mop = getattr(MPI, _BOOL_OP.get(op, "LOR"))
        if op is ReduceOp.AVG:
            raise TypeError("all_reduce: ReduceOp.AVG is not defined for bool tensors")
    else:
        if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and buf.dtype.kind not in "iu":
            raise TypeError(f"all_reduce: {op} needs an integer or bool tensor, got "
                            f"{a.dtype}")
        if op is ReduceOp.AVG and buf.dtype.kind not in "fc":
            raise TypeError("all_reduce: ReduceOp.AVG needs a floating-point tensor, got "
                            f"{a.dtype}")
        mop = getattr(MPI, _MPI_OP[op])
    req = pg.comm.Iallreduce(MPI.IN_PLACE, buf, op=mop)
    size = pg.size

    def finish():
        if op is ReduceOp.AVG:
            np.divide(buf, size, out=buf)
        if copy_back:
            a[...] = buf
        _bump(t)

    return _run(pg, [req], "all_reduce", finish, async_op, [tensor])


def broadcast(tensor, src=0, group=None, async_op=False, group_src=None):
    """Copy src's tensor into every rank's, in place."""
    pg = _group.require(group)
    if group_src is not None:
        src = group_src
    if not isinstance(src, (int, np.integer)) or isinstance(src, bool) or \
            not 0 <= src < pg.size:
        raise ValueError(f"broadcast: src must be a rank in [0, {pg.size}), got {src!r}")
    a, t = _array(tensor, "broadcast")
    buf, copy_back = _staged(a, "broadcast")
    req = pg.comm.Ibcast(buf, root=int(src))

    def finish():
        if copy_back:
            a[...] = buf
        _bump(t)

    return _run(pg, [req], "broadcast", finish, async_op, [tensor])


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[i] <- rank i's tensor, on every rank."""
    pg = _group.require(group)
    a, _ = _array(tensor, "all_gather")
    if not isinstance(tensor_list, (list, tuple)) or len(tensor_list) != pg.size:
        n = len(tensor_list) if isinstance(tensor_list, (list, tuple)) else type(tensor_list)
        raise ValueError(f"all_gather: tensor_list must hold world_size={pg.size} tensors, "
                         f"got {n}")
    outs = [_array(x, "all_gather") for x in tensor_list]
    for i, (o, _) in enumerate(outs):
        if o.shape != a.shape or o.dtype != a.dtype:
            raise ValueError(f"all_gather: tensor_list[{i}] is {o.dtype} {tuple(o.shape)} but "
                             f"the input is {a.dtype} {tuple(a.shape)}")
        if not o.flags.writeable:
            raise ValueError(f"all_gather: tensor_list[{i}] is read-only")
    send = _send_buffer(a, "all_gather")
    recv = np.empty((pg.size,) + send.shape, send.dtype)
    req = pg.comm.Iallgather(send, recv)

    def finish():
        for (o, t), r in zip(outs, recv):
            o[...] = r
            _bump(t)

    return _run(pg, [req], "all_gather", finish, async_op, list(tensor_list))


def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank has reached this call."""
    pg = _group.require(group)
    return _run(pg, [pg.comm.Ibarrier()], "barrier", None, async_op)


def _allgather_bytes(pg, data, what):
    """Every rank's bytes, in rank order (two nonblocking calls: the sizes, then the data)."""
    sizes = np.zeros(pg.size, np.int64)
    _group.wait(pg, [pg.comm.Iallgather(np.array([len(data)], np.int64), sizes)], what)
    recv = np.empty(int(sizes.sum()), np.uint8)
    send = np.frombuffer(data, np.uint8) if data else np.empty(0, np.uint8)
    counts = [int(s) for s in sizes]
    displs = [int(d) for d in np.concatenate([[0], np.cumsum(sizes)[:-1]])]
    _group.wait(pg, [pg.comm.Iallgatherv(send, [recv, counts, displs, pg.MPI.BYTE])], what)
    return [recv[d:d + c].tobytes() for d, c in zip(displs, counts)]


def all_gather_object(object_list, obj, group=None):
    """object_list[i] <- rank i's obj (pickled), on every rank."""
    pg = _group.require(group)
    if not isinstance(object_list, list) or len(object_list) != pg.size:
        raise ValueError(f"all_gather_object: object_list must be a list of world_size="
                         f"{pg.size} entries")
    got = _allgather_bytes(pg, pickle.dumps(obj), "all_gather_object")
    object_list[:] = [pickle.loads(b) for b in got]


def broadcast_object_list(object_list, src=0, group=None, device=None):
    """object_list's entries <- src's (pickled), in place, on every rank."""
    pg = _group.require(group)
    if not 0 <= src < pg.size:
        raise ValueError(f"broadcast_object_list: src must be a rank in [0, {pg.size})")
    data = pickle.dumps(list(object_list)) if pg.rank == src else b""
    n = np.array([len(data)], np.int64)
    _group.wait(pg, [pg.comm.Ibcast(n, root=src)], "broadcast_object_list")
    buf = np.frombuffer(data, np.uint8).copy() if pg.rank == src else \
        np.empty(int(n[0]), np.uint8)
    _group.wait(pg, [pg.comm.Ibcast(buf, root=src)], "broadcast_object_list")
    if pg.rank != src:
        got = pickle.loads(buf.tobytes())
        if len(got) != len(object_list):
            raise ValueError(f"broadcast_object_list: rank {src} sent {len(got)} objects, "
                             f"this rank's list holds {len(object_list)}")
        object_list[:] = got
