"""Loss modules (owned by the loss.c family)."""
__all__ = []
