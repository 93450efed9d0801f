"""Section "peak": the ceilings the other sections are quoted against, measured here.

  fma   nnfast._C.fma_peak: every OpenMP thread runs register-only chains of vector FMAs
        (AVX-512, else AVX2, else C; csrc/runtime.c). GFLOP/s = FLOPs reported / wall time.
        The fp32 peak this machine's cores reach; GEMM, conv and LSTM figures give % of it.
  bf16  nnfast._C.bf16_peak: the same for the bf16 tile in use: tdpbf16ps tile products on
        AMX-BF16 CPUs, else vdpbf16ps chains (AVX512-BF16; 2 FLOPs per bf16 product). The bf16 section's % of peak is of it. Without AVX512-BF16 it is 0, and the row
        says n/a: there nnfast's bf16 GEMM rounds operands and runs the fp32 tile.
  copy  np.copyto of 64 MiB (float32) into a preallocated 64 MiB array: the memory bandwidth a
        plain NumPy copy reaches, counted as 2 x 64 MiB moved (read + write) per copy.
Both are ceilings, so this section keeps the BEST of at least 20 short blocks (~4 ms each,
so a block has a fair chance of running while the shared machine is quiet), not the median.
"""
import numpy as np

from .common import Skip

SECTION = "peak"
TITLE = "Measured ceilings (best block)"
STAT = "best"
MIN_REPEATS = 20
BLOCK_S = 0.004
REFERENCE = None
FMA_ITERS = 1_000_000
BF16_ITERS = 1_000_000
NO_BF16 = "n/a (no AVX512-BF16: nnfast rounds operands and runs the fp32 tile)"
COPY_N = 16 * 1024 * 1024


def cases(quick):
    return [{"id": "fma"}, {"id": "bf16"}, {"id": "copy 64 MiB", "n": COPY_N}]


def participants(case):
    if case["id"] == "fma":
        return [("nnfast FMA probe", "nnfast", "fma")]
    if case["id"] == "bf16":
        return [("nnfast BF16 probe", "nnfast", "bf16")]
    return [("numpy copy", "numpy", "copy")]


def work(case):
    if case["id"] in ("fma", "bf16"):
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
    if variant == "bf16":
        import nnfast._C as C
        flops = C.bf16_peak(BF16_ITERS)
        if not flops:
            raise Skip(f"{NO_BF16}; bf16 tile {C.gemm_bf16_isa()}")

        def fn():
            C.bf16_peak(BF16_ITERS)
        return fn, None, {"flops": flops, "isa": C.gemm_bf16_isa()}
    src = np.random.default_rng(0).standard_normal(case["n"]).astype(np.float32)
    dst = np.empty_like(src)

    def fn():
        np.copyto(dst, src)
    return fn, None, {}
