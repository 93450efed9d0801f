"""The global random generator behind initialisation, dropout and shuffling.

`nnfast.manual_seed(s)` makes a run repeatable. Streams differ from PyTorch's (distributions
match, values do not): tests copy PyTorch's weights in with load_state_dict instead.
"""
import numpy as np


class Generator(np.random.Generator):
    """torch.Generator: a NumPy Generator (so every nnfast API taking a numpy Generator takes
    it) with torch's methods: manual_seed, seed, initial_seed, get_state, set_state."""

    def __init__(self, device="cpu"):
        super().__init__(np.random.PCG64())
        from .device import as_device, check_available
        self.device = check_available(as_device(device), "generator")
        self._initial = None

    def manual_seed(self, seed):
        seed = int(seed)
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        self.bit_generator.state = np.random.PCG64(seed).state
        self._initial = seed
        return self

    def seed(self):
        """Seed from fresh entropy; returns the seed chosen."""
        s = int(np.random.SeedSequence().entropy % (1 << 63))
        self.manual_seed(s)
        return s

    def initial_seed(self):
        return self._initial

    def get_state(self):
        return self.bit_generator.state

    def set_state(self, state):
        kind = type(self.bit_generator).__name__
        if not isinstance(state, dict) or state.get("bit_generator") != kind:
            raise ValueError(f"Generator.set_state: expected a {kind} state from get_state(), "
                             f"got {_describe(state)}")
        try:
            self.bit_generator.state = state
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"Generator.set_state: malformed {kind} state ({e})") from None
        return self


def _describe(state):
    if isinstance(state, dict):
        return f"a state of a {state.get('bit_generator')!r} generator"
    return f"a {type(state).__name__}"


_generator = Generator()
_seed = None


def manual_seed(seed):
    """Seed nnfast's global generator; returns it (as torch.manual_seed returns its Generator)."""
    global _seed
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    _seed = seed
    # reseeded in place, as torch: objects holding the default generator keep drawing from it
    return _generator.manual_seed(seed)   # the stream of np.random.default_rng(seed)


def seed():
    """Seed the global generator from fresh entropy; returns the seed (torch.seed)."""
    s = int(np.random.SeedSequence().entropy % (1 << 63))
    manual_seed(s)
    return s


def initial_seed():
    return _seed


def default_generator():
    return _generator


def get_rng_state():
    """The global generator's state (a dict of ints: save it beside a checkpoint, as
    torch.get_rng_state)."""
    return _generator.get_state()


def set_rng_state(state):
    """Put the global generator back to a state get_rng_state() returned."""
    _generator.set_state(state)
