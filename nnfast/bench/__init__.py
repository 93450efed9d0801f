"""Head-to-head benchmarks of nnfast against PyTorch and JAX, whichever of them is installed
(`python -m nnfast.bench`, `nnfast bench`; the repository's bench/README.md explains them)."""
