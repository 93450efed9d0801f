"""nnfast.utils — where PyTorch programs look for `torch.utils.data`.

The data pipeline itself lives in `nnfast.data`; `nnfast.utils.data` is the same module under
PyTorch's path, so `import nnfast.utils.data as data` and `from nnfast.utils.data import
DataLoader` port unchanged."""
from .. import data  # noqa: F401
import sys as _sys

_sys.modules[__name__ + ".data"] = data
