"""Launch shapes and the record of what ran last, for every CUDA kernel of nnfast.

Every kernel loops grid-stride, so any grid covers any size; `grid(n)` picks one. Under
Numba's simulator (NUMBA_ENABLE_CUDASIM=1, one OS thread per CUDA thread) grids and blocks
are capped small so that tests run in seconds and still cross block boundaries.
Kernel errors are asynchronous: `last_op` names the op that launched last, so the error
that surfaces at the next synchronisation can name it.
"""
import threading

from numba import config

SIM = bool(config.ENABLE_CUDASIM)
THREADS = 16 if SIM else 256      # threads per block for 1-D kernels
MAX_BLOCKS = 2 if SIM else 2048   # enough to fill an H200 (132 SMs x 16 blocks)

_last = threading.local()


def grid(n, threads=THREADS):
    """(blocks, threads) for a grid-stride kernel over n items."""
    blocks = (max(1, n) + threads - 1) // threads
    return (min(blocks, MAX_BLOCKS), threads)


def record(op):
    _last.op = op


def last_op():
    return getattr(_last, "op", None)
