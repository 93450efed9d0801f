"""The CPU kernel table: nnfast's compiled kernels (`nnfast._C`) and NumPy's allocators.

Every name a functional calls on a table exists here with the same signature on every
other table (nnfast/backend/cuda/__init__.py lists the CUDA ones).
"""
import numpy as np

from .._C import *  # noqa: F401,F403 - the kernels themselves are the table

name = "cpu"
empty = np.empty
zeros = np.zeros
full = np.full
ones = np.ones
empty_like = np.empty_like
zeros_like = np.zeros_like
ascontiguous = np.ascontiguousarray
asarray = np.asarray


def from_host(arr):
    """Host array -> this device's array (the CPU's is the array itself)."""
    return arr


def to_host(arr):
    return arr


def scalar(value, dtype=np.float32):
    """A kernel's scalar result (a Python float here) as a 0-d array of this device."""
    return np.asarray(value, dtype=dtype)


def synchronize():
    pass

