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
import functools
import numbers
import random
import types

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


# ---------------------------------------------------------------- resumable random streams
# A checkpoint must hold every stream a run draws from. Loaders, samplers, transforms and
# user datasets keep their generators in attributes (sampler.generator, dataset.transform,
# Compose.transforms[i].generator, a custom Dataset's self.rng, a collate_fn's closure), so
# they are found by walking those objects rather than by a list of known classes.

_MAX_DEPTH = 8
_MAX_ITEMS = 64        # longer containers hold data (samples, rows), not generators
# worker processes, cached lambdas, a DataLoader's own bookkeeping of its epoch
_SKIP_ATTRS = frozenset({"_pool", "_fetch_cache", "_progress", "_resume"})
_LEAVES = (type(None), bool, int, float, complex, str, bytes, bytearray, np.ndarray,
           np.generic, type, types.ModuleType, types.BuiltinFunctionType)
_KINDS = {}   # type -> how to walk it, decided once per type


def _kind(t):
    from ..tensor import Tensor
    if issubclass(t, _LEAVES) or issubclass(t, Tensor):
        kind = "leaf"
    elif issubclass(t, (np.random.Generator, np.random.RandomState)):
        kind = "generator"
    elif issubclass(t, dict):
        kind = "dict"
    elif issubclass(t, (list, tuple)):
        kind = "sequence"
    elif issubclass(t, (functools.partial, types.MethodType, types.FunctionType)):
        kind = "code"
    else:
        kind = "nnfast" if t.__module__.startswith("nnfast.") else "object"
    _KINDS[t] = kind
    return kind


def find_generators(*roots):
    """The NumPy generators (Generator or RandomState) reachable from roots through
    attributes, containers, bound methods, partials and closures, in a fixed order (first
    found first), each once; nnfast's global generator is left out (saved on its own)."""
    return walk_streams(roots)[0]


def walk_streams(roots):
    """(find_generators(*roots), whether code from outside nnfast is reachable: a custom
    Dataset, sampler, collate_fn or transform, which may draw from Python's `random` or
    NumPy's legacy global state too)."""
    found, seen = [], set()
    foreign = False
    global_gen = _nf_random.default_generator()
    stack = [(root, 0) for root in reversed(roots)]
    while stack:
        obj, depth = stack.pop()
        t = type(obj)
        kind = _KINDS.get(t) or _kind(t)
        if kind == "leaf" or id(obj) in seen or depth > _MAX_DEPTH:
            continue
        seen.add(id(obj))
        if kind == "generator":
            if obj is not global_gen:
                found.append(obj)
            continue
        if kind == "dict":
            children = list(obj.values()) if len(obj) <= _MAX_ITEMS else ()
        elif kind == "sequence":
            children = obj if len(obj) <= _MAX_ITEMS else ()   # longer: data, not generators
        elif kind == "code":
            children = _code_children(obj)
            func = getattr(obj, "__func__", getattr(obj, "func", obj))
            foreign = foreign or not getattr(func, "__module__", "").startswith("nnfast.")
        else:
            attrs = getattr(obj, "__dict__", None)
            if not isinstance(attrs, dict):
                continue
            foreign = foreign or kind == "object"
            children = [v for k, v in attrs.items() if k not in _SKIP_ATTRS]
        for child in reversed(children):   # depth first, in order
            if _KINDS.get(type(child)) != "leaf":
                stack.append((child, depth + 1))
    return found, foreign


def _code_children(obj):
    if isinstance(obj, functools.partial):
        return [obj.func, *obj.args, *obj.keywords.values()]
    if isinstance(obj, types.MethodType):
        return [obj.__self__, obj.__func__]
    return [c.cell_contents for c in obj.__closure__ or () if _cell_filled(c)] \
        + list(obj.__defaults__ or ()) + list((obj.__kwdefaults__ or {}).values())


def _cell_filled(cell):
    try:
        cell.cell_contents
        return True
    except ValueError:
        return False


def generator_state(gen):
    """A generator's state as a dict of ints and arrays (what nnfast.save stores)."""
    if isinstance(gen, np.random.Generator):
        return gen.bit_generator.state
    return gen.get_state(legacy=False)


def set_generator_state(gen, state, who="generator"):
    kind = type(gen.bit_generator if isinstance(gen, np.random.Generator)
                else gen._bit_generator).__name__
    if not isinstance(state, dict) or state.get("bit_generator") != kind:
        saved = state.get("bit_generator") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{who}: the saved state is of a {saved} generator, this one is "
                         f"{kind}")
    if isinstance(gen, np.random.Generator):
        gen.bit_generator.state = state
    else:
        gen.set_state(state)


def global_states(legacy=True):
    """The process-wide streams: nnfast's generator and, with legacy, Python's random and
    NumPy's legacy global state (0.1 ms to read: taken only where custom code may use them)."""
    states = {"nnfast": _nf_random.get_rng_state()}
    if legacy:
        states["python"] = random.getstate()
        states["numpy"] = np.random.get_state(legacy=False)
    return states


def set_global_states(states):
    """Restore global_states(); the streams it did not take are left as they are."""
    _nf_random.set_rng_state(states["nnfast"])
    if "python" in states:
        version, internal, gauss = states["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in states:
        np.random.set_state(states["numpy"])


def generator_states(gens):
    return [generator_state(g) for g in gens]


def set_generator_states(gens, states, who):
    """Restore the states of gens (as find_generators listed them) from a checkpoint."""
    if len(states) != len(gens):
        raise ValueError(f"{who}: the checkpoint holds {len(states)} random generator state(s) "
                         f"but these objects use {len(gens)}; build the DataLoader, samplers "
                         f"and transforms as in the interrupted run")
    for i, (g, s) in enumerate(zip(gens, states)):
        set_generator_state(g, s, f"{who}: generator {i}")
