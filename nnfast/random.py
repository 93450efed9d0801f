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
        self.bit_generator.state = state
        return self


_generator = Generator()
_seed = None


def manual_seed(seed):
    """Seed nnfast's global generator; returns it (as torch.manual_seed returns its Generator)."""
    global _generator, _seed
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    _seed = seed
    _generator = Generator().manual_seed(seed)   # the stream of np.random.default_rng(seed)
    return _generator


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
    return _generator.bit_generator.state


def set_rng_state(state):
    _generator.bit_generator.state = state
