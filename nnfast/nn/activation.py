"""Activation modules (owned by the act.c family)."""
__all__ = []
