"""Build the one extension module, nnfast._C: the C kernels in csrc/ plus the Cython seam.

The default build is portable: no -march=native. SIMD kernels are compiled per file with
`#pragma GCC target(...)` and chosen at run time from the CPU's features (see csrc/runtime.c).
Environment knobs:
  NNFAST_NO_OPENMP=1   build without OpenMP (single-threaded kernels)
  NNFAST_DEBUG=1       -O0 -g, for gdb/valgrind
"""
import glob
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _sources():
    c_files = sorted(glob.glob("csrc/*.c")) + sorted(glob.glob("csrc/gemm/*.c"))
    return ["nnfast/_C.pyx"] + c_files


def _flags():
    debug = os.environ.get("NNFAST_DEBUG") == "1"
    cflags = ["-O0", "-g"] if debug else ["-O3"]
    cflags += ["-std=gnu11", "-fno-math-errno", "-Wall", "-Wno-unused-function",
               "-Wno-unreachable-code"]
    lflags = []
    if os.environ.get("NNFAST_NO_OPENMP") != "1" and sys.platform != "win32":
        cflags.append("-fopenmp")
        lflags.append("-fopenmp")
    return cflags, lflags


cflags, lflags = _flags()
ext = Extension(
    "nnfast._C",
    sources=_sources(),
    include_dirs=[np.get_include(), os.path.join(HERE, "csrc"), "csrc"],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=cflags,
    extra_link_args=lflags,
)

setup(
    ext_modules=cythonize(
        [ext],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
        include_path=["nnfast"],
    ),
)
