"""The default process group over MPI (mpi4py), and how its collectives wait.

Every collective is a nonblocking MPI request polled until a deadline (the group's timeout):
a rank whose peers died, raised or hang gets a clear DistTimeoutError naming the collective,
its rank and the timeout instead of waiting forever; the group is then broken and the job is
aborted (MPI_Abort) when that error, or any other, escapes the interpreter, so mpirun ends
every rank. What this is not: a fault-tolerant group (no shrinking, no restart), and it does
not see a rank that calls sys.exit(n) (mpirun waits for that one until a peer times out).

mpi4py is imported on init_process_group only: nnfast imports without it.
"""
import atexit
import os
import sys
import time

__all__ = ["DistTimeoutError", "ProcessGroup", "default_group", "require", "wait",
           "load_mpi", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 300.0   # seconds; NNFAST_DIST_TIMEOUT overrides it when none is given
_INSTALL = 'pip install "nnfast[mpi]"'
_NOT_INIT = ("Default process group has not been initialized, please make sure to call "
             "init_process_group.")


class DistTimeoutError(RuntimeError):
    """A collective did not complete within the process group's timeout."""


class _NotInitialized(ValueError, AssertionError):
    """torch raises ValueError (collectives) or AssertionError (destroy_process_group)."""


def load_mpi():
    """mpi4py.MPI, or an ImportError saying how to get it."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError("nnfast.distributed runs over MPI through mpi4py, which is not "
                          f"installed: {_INSTALL} (brings mpi4py and Open MPI's mpirun), or "
                          "pip install mpi4py against a system MPI") from e
    return MPI


class ProcessGroup:
    """The world communicator (a duplicate of COMM_WORLD, so user MPI traffic never matches
    ours), its rank and size, and the timeout every wait honours."""

    def __init__(self, MPI, timeout):
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD.Dup()
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.timeout = float(timeout)
        self.broken = None   # the message of the first timeout, once one happened

    def __repr__(self):
        return f"<nnfast.distributed ProcessGroup mpi rank {self.rank} of {self.size}>"


_pg = [None]


def default_group():
    return _pg[0]


def require(group=None, usable=True):
    """The default group, or torch's error when there is none (and, when usable, an error
    for a group broken by a timeout)."""
    pg = _pg[0]
    if pg is None:
        raise _NotInitialized(_NOT_INIT)
    if group is not None and group is not pg:
        raise NotImplementedError("nnfast.distributed has one process group, the default "
                                  "(WORLD); pass group=None")
    if usable and pg.broken is not None:
        raise DistTimeoutError("the process group is broken since an earlier collective "
                               f"timed out ({pg.broken}); call destroy_process_group")
    return pg


def resolve_timeout(timeout):
    if timeout is None:
        env = os.environ.get("NNFAST_DIST_TIMEOUT")
        if env is None:
            return DEFAULT_TIMEOUT
        try:
            t = float(env)
        except ValueError:
            raise ValueError(f"NNFAST_DIST_TIMEOUT must be a number of seconds, got {env!r}") \
                from None
    else:
        t = timeout.total_seconds() if hasattr(timeout, "total_seconds") else timeout
        try:
            t = float(t)
        except (TypeError, ValueError):
            raise TypeError("timeout must be a datetime.timedelta or a number of seconds, got "
                            f"{type(timeout).__name__}") from None
    if not t > 0:
        raise ValueError(f"the timeout must be positive, got {t} s")
    return t


def set_group(pg):
    _pg[0] = pg
    if pg is not None:
        _install_abort_hooks()


_SPIN_S = 1e-3   # polled without sleeping this long: a sleep costs ~60 us of timer slack,
                 # more than a small step's allreduce (bench --only ddp)


def wait(pg, reqs, what, timeout=None):
    """Poll the requests until all complete or the timeout (by default the group's) passes,
    then raise.

    A spin first (1 ms: a step's small allreduces finish in microseconds), then sleeps that
    grow to 0.2 ms, so a waiting rank leaves the cores to the ranks still computing (more
    ranks than cores) yet notices the end within a fraction of a step."""
    Testall = pg.MPI.Request.Testall
    if Testall(reqs):
        return
    timeout = pg.timeout if timeout is None else timeout
    now = time.monotonic()
    deadline, spin_until = now + timeout, now + _SPIN_S
    naps = 0
    while not Testall(reqs):
        now = time.monotonic()
        if now < spin_until:
            continue
        if now > deadline:
            _timed_out(pg, what, timeout)
        naps += 1
        time.sleep(min(2e-4, 1e-5 * naps))


def _timed_out(pg, what, timeout):
    msg = (f"nnfast.distributed: {what} timed out on rank {pg.rank} of {pg.size} after "
           f"{timeout:g} s: another rank did not join it (it died, raised, or is stuck); "
           "the job is aborted when this error ends the program. Set the timeout with "
           "init_process_group(timeout=...) or NNFAST_DIST_TIMEOUT (seconds).")
    pg.broken = f"{what} after {timeout:g} s"
    raise DistTimeoutError(msg)


# --------------------------------------------------------------- abort instead of a hang
_hooks_installed = [False]
_prev_excepthook = [None]


def _abort(why):
    pg = _pg[0]
    if pg is None or pg.size == 1:
        return
    try:
        sys.stderr.write(f"nnfast.distributed: rank {pg.rank} {why}; aborting the job "
                         "(MPI_Abort) so the other ranks do not wait for it\n")
        sys.stderr.flush()
    finally:
        pg.MPI.COMM_WORLD.Abort(1)


def _excepthook(tp, value, tb):
    prev = _prev_excepthook[0] or sys.__excepthook__
    try:
        prev(tp, value, tb)
    finally:
        if _pg[0] is not None:
            _abort(f"ended with an uncaught {tp.__name__}")


def _at_exit():
    pg = _pg[0]
    if pg is not None and pg.broken is not None:
        _abort(f"exits after a collective timed out ({pg.broken})")


def _install_abort_hooks():
    # An uncaught exception on one rank would otherwise let the interpreter finalize MPI
    # and exit while its peers wait in a collective (Open MPI 5's mpirun ends the job when
    # a rank is killed by a signal, not when one exits after MPI_Finalize).
    if _hooks_installed[0]:
        return
    _hooks_installed[0] = True
    _prev_excepthook[0] = sys.excepthook
    sys.excepthook = _excepthook
    atexit.register(_at_exit)
