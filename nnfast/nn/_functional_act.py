"""Functional activations (owned by the act.c family)."""
__all__ = []
