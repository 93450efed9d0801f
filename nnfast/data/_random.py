"""Random-state arguments shared by nnfast.data and nnfast.datasets.

Two spellings are accepted, following the libraries users know:
  generator=    (PyTorch names: samplers, random_split, DataLoader, transforms)
  random_state= (scikit-learn / imbalanced-learn names: splits, resamplers, generators)
Both take None, an int seed, or a NumPy Generator / RandomState:
  None       -> nnfast's global generator (nnfast.manual_seed makes it repeatable), looked up
                at each draw so a later manual_seed still takes effect;
  int        -> a private numpy Generator seeded with it, made once, so a sampler's epochs
                differ from each other but the whole run repeats;
  Generator / RandomState -> used as is (and advanced).
Code here only calls methods both NumPy generator classes have (permutation, choice, random,
uniform, normal, standard_normal, beta), so either kind works everywhere.
"""
import numbers

import numpy as np

from .. import random as _nf_random


def as_generator(generator, who="generator"):
    """Resolve a generator / random_state argument (see the module docstring)."""
    if generator is None:
        return _nf_random.default_generator()
    if isinstance(generator, (np.random.Generator, np.random.RandomState)):
        return generator
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        if generator < 0:
            raise ValueError(f"{who}: a seed must be non-negative, got {generator}")
        return np.random.default_rng(int(generator))
    raise TypeError(f"{who} must be None, an int seed or a numpy Generator/RandomState, "
                    f"got {type(generator).__name__}")


def resolve_later(generator, who="generator"):
    """For objects that draw repeatedly: an int becomes its own Generator now, None stays None
    (resolved to the global generator at each draw), a Generator is kept."""
    if generator is None:
        return None
    return as_generator(generator, who)


def integers(rng, high, size):
    """Uniform ints in [0, high) from either generator kind."""
    if isinstance(rng, np.random.Generator):
        return rng.integers(0, high, size)
    return rng.randint(0, high, size)
