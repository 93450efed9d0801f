"""Every production CUDA kernel compiles to PTX for sm_90 (an H100/H200) at its production
tile sizes: NVVM's type checks catch what Numba's simulator lets through. Needs numba-cuda's
compiler (the `cuda` extra), not a GPU; runs in its own process so that the simulator the
other CUDA tests use is off."""
import os
import sys

import pytest

import background

HERE = os.path.dirname(os.path.abspath(__file__))

_SCRIPT = r"""
import importlib, sys, time
from numba import cuda
import nnfast.backend.cuda as K
part, parts = int(sys.argv[1]), int(sys.argv[2])
failed, n, t0 = [], 0, time.perf_counter()
for fam in K.FAMILIES[part::parts]:
    try:
        mod = importlib.import_module("nnfast.backend.cuda." + fam)
    except ModuleNotFoundError:
        continue
    for fn, sig in getattr(mod, "PTX_CHECKS", ()):
        n += 1
        py = getattr(fn, "py_func", fn)
        try:
            cuda.compile_ptx(py, sig, cc=(9, 0))
        except Exception as e:
            failed.append(f"{fam}.{py.__name__}{sig}: {type(e).__name__}: {str(e)[:400]}")
print(f"compiled {n} kernels in {time.perf_counter() - t0:.1f} s")
if failed:
    print("\n".join(failed))
    sys.exit(1)
"""


def jobs():
    """The PTX compile's commands: the families split over two processes."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    return [("cuda_ptx", [([sys.executable, "-c", _SCRIPT, str(i), "2"], env,
                           os.path.dirname(HERE)) for i in range(2)])]


def test_every_production_kernel_compiles_to_ptx():
    pytest.importorskip("numba.cuda")
    (name, cmds), = jobs()
    for rc, out in background.results(name, cmds):
        assert rc == 0, out[-8000:]
        assert "compiled" in out and "compiled 0 " not in out, out
