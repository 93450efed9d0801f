"""The global random generator behind initialisation, dropout and shuffling.

`nnfast.manual_seed(s)` makes a run repeatable. Streams differ from PyTorch's (distributions
match, values do not): tests copy PyTorch's weights in with load_state_dict instead.
"""
import numpy as np

_generator = np.random.default_rng()
_seed = None


def manual_seed(seed):
    """Seed nnfast's global generator; returns it (as torch.manual_seed returns its Generator)."""
    global _generator, _seed
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    _seed = seed
    _generator = np.random.default_rng(seed)
    return _generator


def initial_seed():
    return _seed


def default_generator():
    return _generator


def get_rng_state():
    return _generator.bit_generator.state


def set_rng_state(state):
    _generator.bit_generator.state = state
