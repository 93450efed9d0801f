"""Head-to-head benchmarks of nnfast against PyTorch (and JAX when installed)."""
