"""nnfast.distributed: torch.distributed's process group and collectives, over MPI.

    # mpirun -np 2 python train.py
    import nnfast.distributed as dist
    dist.init_process_group("mpi")
    dist.all_reduce(t)                       # in place, SUM by default
    model = nf.nn.parallel.DistributedDataParallel(model)

One backend, "mpi" (mpi4py; `pip install "nnfast[mpi]"` brings it and Open MPI's mpirun),
one group (the world). Ranks and the world size come from mpirun. Every collective waits
under the group's timeout (init_process_group(timeout=...), by default 300 s or
NNFAST_DIST_TIMEOUT seconds) and a rank that dies or raises ends the job instead of leaving
the others waiting (_group.py). docs/distributed.md says how to launch on one or many hosts.
"""
import importlib.util

from . import _group
from ._group import DistTimeoutError
from .collectives import (ReduceOp, Work, all_gather, all_gather_object, all_reduce,
                          barrier, broadcast, broadcast_object_list)

__all__ = ["init_process_group", "destroy_process_group", "is_available", "is_initialized",
           "is_mpi_available", "get_rank", "get_world_size", "get_backend", "barrier",
           "all_reduce", "broadcast", "all_gather", "all_gather_object",
           "broadcast_object_list", "ReduceOp", "Work", "DistTimeoutError", "Backend",
           "group", "new_group"]


class Backend(str):
    """torch.distributed.Backend: the backend names (nnfast has MPI only)."""
    MPI = "mpi"
    GLOO = "gloo"
    NCCL = "nccl"


class group:
    """torch.distributed.group: WORLD is the default group once initialized (None before,
    which every collective also reads as the default group)."""
    WORLD = None


def is_available():
    """Whether nnfast.distributed can run: mpi4py is installed (it is not imported here)."""
    return importlib.util.find_spec("mpi4py") is not None


is_mpi_available = is_available


def is_initialized():
    return _group.default_group() is not None


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1,
                       store=None, group_name="", pg_options=None, device_id=None):
    """Join the world of processes mpirun started (torch's signature; backend "mpi" only).

    world_size and rank, when given, must agree with MPI's; timeout (a timedelta or
    seconds) bounds every collective's wait."""
    if backend is not None:
        name = str(backend).lower()
        if name != "mpi":
            raise ValueError(f"nnfast.distributed supports the 'mpi' backend only, got "
                             f"{backend!r}: launch the script with mpirun -np N and call "
                             "init_process_group('mpi')")
    if _group.default_group() is not None:
        raise ValueError("trying to initialize the default process group twice!")
    if init_method not in (None, "env://"):
        raise ValueError(f"init_method {init_method!r} is not used by the MPI backend: the "
                         "ranks come from mpirun (pass init_method=None)")
    if store is not None:
        raise ValueError("the MPI backend takes no store: the ranks come from mpirun")
    seconds = _group.resolve_timeout(timeout)
    MPI = _group.load_mpi()
    pg = _group.ProcessGroup(MPI, seconds)
    for what, want, got in (("world_size", world_size, pg.size), ("rank", rank, pg.rank)):
        if want is not None and want != -1 and int(want) != got:
            pg.comm.Free()
            raise ValueError(f"init_process_group: {what}={want} but mpirun started this "
                             f"process with {what} {got}")
    _group.set_group(pg)
    group.WORLD = pg


def destroy_process_group(group=None):
    pg = _group.default_group()
    if pg is None:
        raise _group._NotInitialized("Default process group has not been initialized, "
                                     "please make sure to call init_process_group.")
    if group is not None and group is not pg:
        raise NotImplementedError("nnfast.distributed has one process group, the default")
    _group.set_group(None)
    globals()["group"].WORLD = None
    try:
        pg.comm.Free()
    except Exception:   # a broken group's communicator may not free cleanly
        pass


def get_rank(group=None):
    return _group.require(group, False).rank


def get_world_size(group=None):
    return _group.require(group, False).size


def get_backend(group=None):
    _group.require(group)
    return "mpi"


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, **kwargs):
    raise NotImplementedError("nnfast.distributed has one process group (the world); "
                              "new_group is not supported yet")


# torch.distributed names nnfast lacks say so (the common ones; nnfast/_missing.py's idea)
_TORCH_ONLY = frozenset("""reduce gather scatter send recv isend irecv reduce_scatter
    all_to_all all_to_all_single all_gather_into_tensor reduce_scatter_tensor gather_object
    scatter_object_list monitored_barrier new_subgroups get_process_group_ranks
    batch_isend_irecv P2POp TCPStore FileStore HashStore PrefixStore Store""".split())


def __getattr__(name):
    if name in _TORCH_ONLY:
        raise AttributeError(f"nnfast does not have torch.distributed.{name} yet: "
                             "nnfast.distributed has init_process_group, all_reduce, "
                             "broadcast, all_gather, barrier and their object forms",
                             name=name)
    raise AttributeError(f"module 'nnfast.distributed' has no attribute '{name}'", name=name)
