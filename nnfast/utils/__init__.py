"""nnfast.utils — PyTorch's torch.utils paths: `nnfast.utils.data` (the loaders of
nnfast.data under torch's names) and `nnfast.utils.hooks` (RemovableHandle)."""
from . import data, hooks  # noqa: F401
