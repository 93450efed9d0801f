"""Build the one extension module, nnfast._C: the C kernels in csrc/ plus the Cython seam.

The default build is portable: no -march=native. SIMD kernels are compiled per file with
`#pragma GCC target(...)` and chosen at run time from the CPU's features (see csrc/runtime.c).
Environment knobs:
  NNFAST_NO_OPENMP=1   build without OpenMP (single-threaded kernels)
  NNFAST_DEBUG=1       -O0 -g, for gdb/valgrind
  NNFAST_SANITIZE=1    -O1 -g1 with AddressSanitizer + UndefinedBehaviorSanitizer (any UB report
                       aborts), for tests/test_sanitizers.py; load it with
                       LD_PRELOAD="$(gcc -print-file-name=libasan.so)"
  NNFAST_BUILD_JOBS=N  compile N source files at a time (default: the CPU count)

Object files are kept in the build folder and recompiled only when their source, a header of
csrc/ or the compile flags change, so a rebuild after editing one kernel compiles one file.
"""
import glob
import hashlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))


def _sources():
    c_files = sorted(glob.glob("csrc/*.c")) + sorted(glob.glob("csrc/gemm/*.c"))
    return ["nnfast/_C.pyx"] + c_files


def _headers():
    return sorted(glob.glob("csrc/*.h")) + sorted(glob.glob("csrc/gemm/*.h"))


SANITIZERS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
              "-fno-omit-frame-pointer"]


def _flags():
    debug = os.environ.get("NNFAST_DEBUG") == "1"
    sanitize = os.environ.get("NNFAST_SANITIZE") == "1"
    # Under the sanitizers -O1 -g1 (line tables only, for the reports' stack traces): the
    # Cython module compiles in 42 s instead of 86 s with -g, and every check is still made
    cflags = ["-O0", "-g"] if debug else ["-O1", "-g1"] if sanitize else ["-O3"]
    cflags += ["-std=gnu11", "-fno-math-errno", "-Wall", "-Wno-unused-function",
               "-Wno-unreachable-code"]
    lflags = []
    if sanitize:
        cflags += SANITIZERS
        lflags += SANITIZERS
    if os.environ.get("NNFAST_NO_OPENMP") != "1" and sys.platform != "win32":
        cflags.append("-fopenmp")
        lflags.append("-fopenmp")
    return cflags, lflags


class ParallelBuildExt(build_ext):
    """build_ext compiling the sources of the one extension in parallel (setuptools' -j runs
    whole extensions in parallel, and there is one) and reusing up-to-date object files."""

    def build_extensions(self):
        self.compiler.compile = _parallel_compile(self.compiler)
        super().build_extensions()


def _parallel_compile(cc):
    def compile(sources, output_dir=None, macros=None, include_dirs=None, debug=0,
                extra_preargs=None, extra_postargs=None, depends=None):
        macros, objects, extra_postargs, pp_opts, build = cc._setup_compile(
            output_dir, macros, include_dirs, sources, depends, extra_postargs)
        cc_args = cc._get_cc_args(pp_opts, debug, extra_preargs)
        stamp = hashlib.sha1(repr((cc.compiler_so, cc_args, extra_postargs)).encode()).hexdigest()
        headers = max((os.path.getmtime(h) for h in _headers()), default=0)

        def one(obj):
            src, ext = build[obj]
            flags_file = obj + ".flags"
            if (os.path.exists(obj) and os.path.exists(flags_file)
                    and os.path.getmtime(obj) >= max(os.path.getmtime(src), headers)
                    and open(flags_file).read() == stamp):
                return
            cc._compile(obj, src, ext, cc_args, extra_postargs, pp_opts)
            with open(flags_file, "w") as f:
                f.write(stamp)

        # biggest first (the Cython module takes longest), so the last one to finish is small
        order = sorted(objects, key=lambda o: -os.path.getsize(build[o][0]))
        jobs = int(os.environ.get("NNFAST_BUILD_JOBS") or os.cpu_count() or 1)
        with ThreadPoolExecutor(max(1, jobs)) as pool:
            list(pool.map(one, order))
        return objects
    return compile


cflags, lflags = _flags()
ext = Extension(
    "nnfast._C",
    sources=_sources(),
    include_dirs=[np.get_include(), os.path.join(HERE, "csrc"), "csrc"],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=cflags,
    extra_link_args=lflags,
    depends=_headers(),
)

setup(
    cmdclass={"build_ext": ParallelBuildExt},
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
