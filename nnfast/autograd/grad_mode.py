"""Grad mode, inference mode and anomaly detection: per-thread switches, as in PyTorch.

Each switch lives in one thread-local `_state`, so a `no_grad()` block in one thread never
turns recording off in another. The context managers keep the state they replace on a
per-thread stack in `_state`, never on the instance: one shared instance (a module-level
`NO_GRAD = nf.no_grad()`, or a decorated function called from a thread pool) may be entered
from several threads at once, each restoring its own previous state on exit.

inference_mode is no_grad plus a flag (`is_inference_mode_enabled()`): nothing is recorded
and every tensor made inside is an inference tensor (`Tensor.is_inference()` True, outside
autograd). PyTorch refuses to save such tensors for a later backward; nnfast allows it (the
values are ordinary arrays), so a program that works in PyTorch works here too.
"""
import functools
import threading


class _ThreadState(threading.local):
    grad_enabled = True     # class defaults: each new thread starts with these
    anomaly = False
    inference = False
    sinks_off = False       # autograd.grad: gradients go to the caller, not into .grad
    callbacks = None        # the running backward's final callbacks (queue_callback)
    node_done = None        # [fn(node, input grads)] called after each node of this backward
    track = None            # {id(tensor): nodes made with it as an input} (DDP's counts)
    layered = False         # DDP overlapping its reductions: Sequential runs layer by layer
    retain_graph = False    # the running backward's retain_graph (fused nodes free after one)

    def __init__(self):
        self.saved = []     # (grad_enabled, inference, anomaly) each open block replaced


_state = _ThreadState()
# Set (for the process, never unset) once any thread enters inference mode: until then
# Tensor._make skips the per-thread check that marks inference tensors (is_inference()).
INFERENCE_SEEN = [False]


def is_grad_enabled():
    return _state.grad_enabled


def is_inference_mode_enabled():
    return _state.inference


def is_anomaly_enabled():
    return _state.anomaly


def _set_grad(mode):
    _state.grad_enabled = mode


def _push():
    s = _state
    s.saved.append((s.grad_enabled, s.inference, s.anomaly))


def _pop():
    s = _state
    s.grad_enabled, s.inference, s.anomaly = s.saved.pop()


def _decorate(ctx, fn):
    """fn run inside `with ctx:` (ctx's state is per thread, so one ctx serves every call)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with ctx:
            return fn(*args, **kwargs)

    return wrapper


class _Mode:
    """A switch usable as `with m:`, `@m` and, for the argument-free ones, `@cls`."""

    def _apply(self):
        raise NotImplementedError

    def __enter__(self):
        _push()
        self._apply()
        return self

    def __exit__(self, *exc):
        _pop()
        return False

    def __call__(self, fn):
        if not callable(fn):
            raise TypeError(f"{type(self).__name__} decorates a function, got "
                            f"{type(fn).__name__}")
        return _decorate(self, fn)

    def clone(self):
        return self.__class__()


class _NoArgMode(_Mode):
    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        if not callable(orig_func):
            raise TypeError(f"{cls.__name__}() takes no arguments")
        return _decorate(super().__new__(cls), orig_func)   # `@no_grad` without parentheses


class no_grad(_NoArgMode):
    """Disable gradient recording inside a `with` block or a decorated function."""

    def _apply(self):
        _state.grad_enabled = False


class enable_grad(_NoArgMode):
    """Enable gradient recording inside a `with` block or a decorated function."""

    def _apply(self):
        _state.grad_enabled = True


class inference_mode(_Mode):
    """torch.inference_mode(mode=True): inside the block (or decorated function) nothing is
    recorded and `is_inference_mode_enabled()` is True; `inference_mode(False)` turns both
    back (grad recording on, inference off), as in PyTorch."""

    def __new__(cls, mode=True):
        if callable(mode) and not isinstance(mode, bool):   # `@inference_mode`
            ctx = super().__new__(cls)
            ctx.mode = True
            return _decorate(ctx, mode)
        return super().__new__(cls)

    def __init__(self, mode=True):
        if not isinstance(mode, bool):
            raise TypeError(f"inference_mode(mode) takes a bool, got {type(mode).__name__}")
        self.mode = mode

    def _apply(self):
        _state.grad_enabled = not self.mode
        _state.inference = self.mode
        if self.mode:
            INFERENCE_SEEN[0] = True

    def clone(self):
        return self.__class__(self.mode)


class set_grad_enabled:
    """Sets gradient recording on or off for this thread: as a call (takes effect at once), a
    context manager (restores the mode before the call on exit) or a function decorator (as
    in PyTorch). The call acts on the constructing thread at once, so the mode it replaces
    is that thread's and is kept on the instance (as PyTorch does)."""

    def __init__(self, mode):
        self.prev = _state.grad_enabled
        self.mode = bool(mode)
        _state.grad_enabled = self.mode

    def __call__(self, fn):
        # Used as @set_grad_enabled(mode): undo the immediate effect of __init__ and apply
        # the mode only while fn runs (a per-thread block, like the others).
        _state.grad_enabled = self.prev
        return _decorate(no_grad() if not self.mode else enable_grad(), fn)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.grad_enabled = self.prev
        return False

    def clone(self):
        return self.__class__(self.mode)


class detect_anomaly(_Mode):
    """Within the block (or decorated function), backward checks every gradient a node
    returns and raises RuntimeError naming the node whose gradient holds NaN."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def _apply(self):
        _state.anomaly = self.check_nan

    def clone(self):
        return self.__class__(self.check_nan)


class set_detect_anomaly(detect_anomaly):
    def __init__(self, mode, check_nan=True):
        super().__init__(bool(mode) and check_nan)
        self.prev = _state.anomaly
        _state.anomaly = self.check_nan

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.anomaly = self.prev
        return False

    def __call__(self, fn):
        # As a decorator: undo the immediate effect, apply the mode only while fn runs.
        _state.anomaly = self.prev
        return _decorate(detect_anomaly(self.check_nan), fn)
