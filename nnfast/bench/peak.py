"""Section "peak": the ceilings the other sections are quoted against, measured here.

  fma   nnfast._C.fma_peak: every OpenMP thread runs register-only chains of vector FMAs
        (AVX-512, else AVX2, else C; csrc/runtime.c). GFLOP/s = FLOPs reported / wall time.
        The fp32 peak this machine's cores reach; GEMM, conv and LSTM figures give % of it.
  copy  np.copyto of 64 MiB (float32) into a preallocated 64 MiB array: the memory bandwidth a
        plain NumPy copy reaches, counted as 2 x 64 MiB moved (read + write) per copy.
Both are ceilings, so this section keeps the BEST of at least 20 short blocks (~4 ms each,
so a block has a fair chance of running while the shared machine is quiet), not the median.
"""
import numpy as np

SECTION = "peak"
TITLE = "Measured ceilings (best block)"
STAT = "best"
MIN_REPEATS = 20
BLOCK_S = 0.004
REFERENCE = None
FMA_ITERS = 1_000_000
COPY_N = 16 * 1024 * 1024


def cases(quick):
    return [{"id": "fma"}, {"id": "copy 64 MiB", "n": COPY_N}]


def participants(case):
    if case["id"] == "fma":
        return [("nnfast FMA probe", "nnfast", "fma")]
    return [("numpy copy", "numpy", "copy")]


def work(case):
    if case["id"] == "fma":
        return {}
    return {"bytes": 8.0 * case["n"]}


def check(case, name, got, ref):
    return None


def prepare(framework, variant, case, threads):
    if variant == "fma":
        import nnfast._C as C
        flops = C.fma_peak(FMA_ITERS)

        def fn():
            C.fma_peak(FMA_ITERS)
        isa = "avx512f" if C.cpu_has("avx512f") else ("avx2+fma" if C.cpu_has("avx2") else "C")
        return fn, None, {"flops": flops, "isa": isa}
    src = np.random.default_rng(0).standard_normal(case["n"]).astype(np.float32)
    dst = np.empty_like(src)

    def fn():
        np.copyto(dst, src)
    return fn, None, {}
