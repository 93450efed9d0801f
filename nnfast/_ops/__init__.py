"""The tensor operations, one family a module; importing them binds their Tensor methods."""
from . import core, arith, reduce, shape, index, printing  # noqa: F401
from . import elementwise, binary, compare, creation, sampling, dtypes  # noqa: F401
from . import scan, sort, join, tri, linalg, scatter_reduce, count  # noqa: F401
