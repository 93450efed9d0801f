"""nnfast.optim — optimizers with fused C update loops (owned by the optim.c family)."""
