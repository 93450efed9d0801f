"""Pieces shared by the harness, its workers and the section modules."""
import os

import numpy as np

# The folder that holds the nnfast package (site-packages, or a source checkout's root): the
# workers are started with it first on PYTHONPATH so they import the very nnfast measured here.
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Results go under the current directory unless --out/--json say otherwise; never inside the
# installed package. (`python -m bench` in a checkout passes bench/results instead.)
DEFAULT_OUT_NAME = "nnfast-bench-results"

# Section name -> its module in this package, in the order a run takes them; the sections
# whose figures are GFLOP/s (and so quote % of the measured peak).
SECTIONS = {"peak": "peak", "step": "step", "bf16": "bf16", "gemm": "bench_gemm", "act": "act",
            "optim": "optim", "conv": "bench_conv", "cnn": "bench_cnn", "lstm": "bench_rnn",
            "bf16acc": "bf16_acc", "ddp": "ddp"}
FLOP_SECTIONS = ("step", "bf16", "gemm", "conv", "cnn", "lstm")

# How to get a framework that is compared against when it is not importable.
INSTALL_HINT = {"torch": "pip install torch==2.13.0", "jax": "pip install 'jax[cpu]'"}


def not_installed(framework):
    """The line a missing framework is reported with, the command to install it included."""
    return f"{framework} not installed: {INSTALL_HINT[framework]} to compare"


class Skip(Exception):
    """Raised by a section's prepare() when a participant does not exist in this checkout or
    environment (e.g. nnfast.compile_step not there yet); reported as skipped, not failed."""


def torch_default_uniform(rng, shape, fan_in):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): the distribution torch's default init gives Linear,
    Conv2d and LSTM weights and biases. Drawn once with NumPy from a fixed seed, so every
    framework's process starts from bit-identical weights without importing torch."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def compare(name, got, ref, atol, rtol):
    """None when got matches ref within atol + rtol*|ref| everywhere, else a short message."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        return f"{name}: shape {got.shape} != {ref.shape}"
    err = np.abs(got - ref) - (atol + rtol * np.abs(ref))
    if not np.isfinite(got).all():
        return f"{name}: non-finite values"
    if (err > 0).any():
        i = np.unravel_index(int(np.argmax(err)), err.shape)
        return (f"{name}: max excess error at {tuple(int(j) for j in i)}: "
                f"{got[i]:.6g} vs {ref[i]:.6g} (atol {atol:g}, rtol {rtol:g})")
    return None
