"""(placeholder: owned by the family that lands it)."""
__all__ = []
