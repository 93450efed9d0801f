"""nn.utils: gradient clipping (owned by the optim.c family)."""
__all__ = []
