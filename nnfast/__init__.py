"""nnfast — a small, fast neural-network training engine with a PyTorch-like API."""
