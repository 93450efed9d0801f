"""Functional losses (owned by the loss.c family)."""
__all__ = []
