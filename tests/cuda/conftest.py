"""CUDA backend tests: run under Numba's simulator (NUMBA_ENABLE_CUDASIM=1) in their own
process, started by tests/test_cuda_sim.py; the main run does not collect this folder."""
import numpy as np
import pytest


@pytest.fixture(scope="session")
def K():
    """The CUDA kernel table."""
    from nnfast import backend
    return backend.get("cuda")


def dev(arr, dtype=None):
    """A CudaArray copy of a host array."""
    from nnfast.backend.cuda import from_host
    return from_host(np.asarray(arr), dtype)


def host(a):
    """A host copy of a CudaArray (None passes through)."""
    return None if a is None else a.get()
